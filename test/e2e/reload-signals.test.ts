// `fulcrum start` as a service manager drives it: SIGHUP after an edit of the file (under
// load), SIGHUP after a bad edit, SIGHUP after the certificate files were replaced, SIGUSR1
// for logrotate. The process must live through all of them.
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { spawnCli } from '../helpers/cli.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startLoad } from '../helpers/load.ts';
import { testWorkers } from '../helpers/balancer.ts';
import { selfSignedCert } from '../../src/testing/tls-cert.ts';

// Every test spawns CLI processes: seconds each on a busy 2-core machine. Bounded, not timed.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

let dir: string;
let file: string;
let backends: FakeBackend[];
let child: ChildProcess;
let output: () => string;
let admin: string;
let webPort: number;
let tlsPort: number;

function makeCert(name: string, cn: string, days = 30): void {
  selfSignedCert(join(dir, `${name}-key.pem`), join(dir, `${name}-cert.pem`), { cn, days });
}

function writeConfig(weights: number[]): void {
  writeFileSync(
    file,
    YAML.stringify({
      version: 1,
      ...testWorkers(),
      admin: { address: '127.0.0.1:0' },
      log: { level: 'info', access: false },
      listeners: {
        web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] },
        secure: {
          address: '127.0.0.1:0',
          // Relative paths: resolved against the config file's directory, not the cwd.
          tls: {
            cert: 'main-cert.pem',
            key: 'main-key.pem',
            sni: [
              { serverName: 'api.test', cert: 'api-cert.pem', key: 'api-key.pem' },
              { serverName: '*.wild.test', cert: 'wild-cert.pem', key: 'wild-key.pem' },
            ],
          },
          routes: [{ pool: 'app' }],
        },
      },
      pools: {
        app: {
          policy: 'weighted-round-robin',
          backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })),
        },
      },
    }),
  );
}

async function adminJson<T>(path: string): Promise<T> {
  const res = await fetch(`${admin}${path}`);
  return (await res.json()) as T;
}

async function configVersion(): Promise<number> {
  return (await adminJson<{ configVersion: number }>('/api/v1/pools')).configVersion;
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}:\n${output()}`);
}

function peerCommonName(servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port: tlsPort, servername, rejectUnauthorized: false },
      () => {
        const cn = socket.getPeerCertificate().subject?.CN;
        socket.destroy();
        resolve(String(cn));
      },
    );
    socket.on('error', reject);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-signals-'));
  file = join(dir, 'fulcrum.yaml');
  makeCert('main', 'main-v1.test');
  makeCert('api', 'api-v1.test');
  makeCert('wild', 'wild-v1.test');
  backends = await startFakeBackends(3, 'app-');
  writeConfig([1, 1, 1]);
  // The CLI runs in the repository, not in `dir`: relative TLS paths must resolve against the file.
  const started = await spawnCli(
    ['start', '-c', file, '--memory-store', '--grace', '1s'],
    /"msg":"fulcrum started"/,
  );
  child = started.child;
  output = started.output;
  const line = output()
    .split('\n')
    .find((l) => l.includes('"msg":"fulcrum started"')) as string;
  const info = JSON.parse(line) as { listeners: Record<string, string>; admin: string };
  admin = info.admin;
  webPort = Number(info.listeners['web']?.split(':').pop());
  tlsPort = Number(info.listeners['secure']?.split(':').pop());
});

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  await Promise.all((backends ?? []).map((b) => b.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('signals', () => {
  it('SIGHUP after an edit applies the new version under load: no request fails, the process lives', async () => {
    expect(await configVersion()).toBe(1);
    const load = startLoad({
      url: `http://127.0.0.1:${webPort}/`,
      concurrency: 4,
      maxMs: 20_000,
      maxRequests: 50_000,
    });
    await until('some load', () => load.result.ok >= 200);
    writeConfig([3, 1, 1]);
    child.kill('SIGHUP');
    await until('version 2', async () => (await configVersion()) === 2);
    const after = load.result.ok;
    await until('load on version 2', () => load.result.ok >= after + 200);
    const result = await load.stop();
    expect(result.failures, JSON.stringify(result)).toBe(0);
    expect(result.ok).toBe(result.sent);
    const pools = await adminJson<{ pools: { backends: { name: string; configuredWeight: number }[] }[] }>(
      '/api/v1/pools',
    );
    expect(pools.pools[0]?.backends.map((b) => b.configuredWeight)).toEqual([3, 1, 1]);
    expect(child.exitCode).toBeNull();
    expect(output()).toContain('"status":"applied","version":2');
  });

  it('SIGHUP with an unchanged file is "unchanged"; with a broken file it is refused and logged', async () => {
    child.kill('SIGHUP');
    await until('unchanged reload', () => output().includes('"status":"unchanged"'));
    writeFileSync(file, 'version: 1\nlisteners: [oops\n');
    child.kill('SIGHUP');
    await until('refusal', () => output().includes('reload refused; running config kept'));
    expect(output()).toContain('FULCRUM_ERR_CONFIG_PARSE');
    expect(await configVersion()).toBe(2);
    expect(child.exitCode).toBeNull();
    writeConfig([3, 1, 1]);
  });

  it('SIGHUP after replacing the certificate files: new TLS connections get the new certificates', async () => {
    expect(await peerCommonName('www.test')).toBe('main-v1.test');
    expect(await peerCommonName('API.test')).toBe('api-v1.test');
    expect(await peerCommonName('x.wild.test')).toBe('wild-v1.test');
    // One label only: a.b.wild.test is not *.wild.test.
    expect(await peerCommonName('a.b.wild.test')).toBe('main-v1.test');
    // Same config text, new file contents.
    makeCert('main', 'main-v2.test');
    // The renewed SNI certificate is short-lived: the audit's lint check must say so.
    makeCert('api', 'api-v2.test', 10);
    child.kill('SIGHUP');
    await until('version 3', async () => (await configVersion()) === 3);
    expect(await peerCommonName('www.test')).toBe('main-v2.test');
    expect(await peerCommonName('api.test')).toBe('api-v2.test');
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    expect(metrics).toMatch(
      /fulcrum_tls_certificate_expiry_timestamp_seconds\{listener="secure",serverName="api\.test"\} \d+/,
    );
    const audit = await fetch(`${admin}/api/v1/audits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ checks: ['lint'] }),
    });
    const findings = JSON.stringify(await audit.json());
    expect(findings).toContain('certificate-expiry');
    expect(findings).toContain('listeners.secure.tls.sni[0].cert');
    expect(findings).not.toContain('listeners.secure.tls.cert');
    expect(child.exitCode).toBeNull();
  });

  it('SIGHUP with a key that does not match its certificate is refused; the served certificate stays', async () => {
    makeCert('other', 'other.test');
    copyFileSync(join(dir, 'other-key.pem'), join(dir, 'api-key.pem'));
    child.kill('SIGHUP');
    await until('TLS refusal', () =>
      /reload refused.*FULCRUM_ERR_TLS|FULCRUM_ERR_TLS.*reload refused/.test(output()),
    );
    expect(await configVersion()).toBe(3);
    expect(await peerCommonName('api.test')).toBe('api-v2.test');
    expect(child.exitCode).toBeNull();
  });

  it('SIGUSR1 reopens the log files and the process lives', async () => {
    child.kill('SIGUSR1');
    await until('reopen line', () => output().includes('log files reopened'));
    expect(child.exitCode).toBeNull();
    expect(await configVersion()).toBe(3);
  });
});
