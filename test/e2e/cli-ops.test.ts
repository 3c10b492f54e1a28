// The CLI's operating edges against real balancers: guard progress, status exit codes, closed
// pipes, bad --admin URLs, validate = apply minus start, refusals that raise no alert, and a
// re-encoded config that is the same config.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { applyCommand } from '../../src/cli/commands/apply.ts';
import { startBalancer } from '../../src/main.ts';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { CLI, captureIo, runCli } from '../helpers/cli.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';

// Every test spawns CLI processes: seconds each on a busy 2-core machine. Bounded, not timed.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

let dir: string;
let backends: FakeBackend[];
let tb: TestBalancer;
let port: number;
let other: Server;

function write(name: string, doc: unknown, json = false): string {
  const file = join(dir, name);
  writeFileSync(file, json ? JSON.stringify(doc, null, 1) : YAML.stringify(doc));
  return file;
}

async function until(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${tb.adminUrl}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .join('\n');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-ops-'));
  backends = await startFakeBackends(3, 'app-');
  tb = await startTestBalancer(weightedConfig(0, backends, [1, 1, 1]));
  port = Number(new URL(tb.url()).port);
  // A web server that is not fulcrum, for --admin pointed at the wrong thing.
  other = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/html' });
    res.end('<h1>Not Found</h1>');
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
});

afterAll(async () => {
  await tb?.close();
  await Promise.all((backends ?? []).map((b) => b.close()));
  await new Promise((r) => other?.close(r));
});

describe('apply --guard progress', () => {
  it('prints a progress line now and then when stdout is not a terminal', async () => {
    const io = captureIo({}, dir);
    const file = write('guard-a.yaml', weightedConfig(port, backends, [2, 1, 1]));
    const code = await applyCommand(file, { admin: tb.adminUrl, guard: '3s', format: 'text' }, io);
    expect(code, io.stderr).toBe(0);
    const progress = io.stdout.split('\n').filter((l) => /^guard \d+s\/3s on version \d+: /.test(l));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(io.stdout).toContain('guard passed');
  });

  it('rewrites one line in place on a terminal, and clears it at the end', async () => {
    const rewrites: string[] = [];
    const io = { ...captureIo({}, dir), rewrite: (t: string) => void rewrites.push(t) };
    const file = write('guard-b.yaml', weightedConfig(port, backends, [1, 1, 1]));
    const code = await applyCommand(file, { admin: tb.adminUrl, guard: '2s', format: 'text' }, io);
    expect(code).toBe(0);
    expect(rewrites.filter((l) => /^guard \d+s\/2s on version \d+: /.test(l)).length).toBeGreaterThanOrEqual(
      2,
    );
    expect(rewrites.at(-1)).toBe('');
    expect(io.stdout.split('\n').filter((l) => l.startsWith('guard ') && l.includes(' on version '))).toEqual(
      [],
    );
  });
});

describe('status', () => {
  it('exits 0 without critical alerts and 2 while one fires', async () => {
    const ok = await runCli(['status', '--admin', tb.adminUrl]);
    expect(ok.code, ok.stderr).toBe(0);
    // A pool whose only backend refuses connections: NoBackendAvailable (critical) fires.
    const dead = await startTestBalancer(
      {
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'dead' }] } },
        pools: {
          dead: {
            backends: [{ name: 'gone', address: '127.0.0.1:9' }],
            healthCheck: { interval: '200ms', timeout: '100ms', unhealthyThreshold: 1 },
          },
        },
      },
      { force: true },
    );
    try {
      let last = ok;
      await until('status exit 2', async () => {
        last = await runCli(['status', '--admin', dead.adminUrl]);
        return last.code === 2;
      });
      // NoBackendAvailable or PoolPanic, whichever the monitor evaluates first: both are critical.
      expect(last.stdout).toMatch(/^FIRING (NoBackendAvailable|PoolPanic) critical /m);
      const json = await runCli(['status', '--admin', dead.adminUrl, '--format', 'json']);
      expect(json.code).toBe(2);
    } finally {
      await dead.close();
    }
  });
});

describe('output into a closed pipe', () => {
  it.each([['alerts', 'rules'], ['--help'], ['validate', 'examples/full.yaml', '--format', 'json']])(
    '`fulcrum %s` exits without an EPIPE stack trace when the reader is gone',
    async (...args) => {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      // The reader goes away before the CLI writes (what `| head -1` does after its line).
      child.stdout.destroy();
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const code = await new Promise<number | null>((r) => child.on('close', r));
      expect(stderr).not.toContain('EPIPE');
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(code).toBe(0);
    },
  );
});

describe('--admin', () => {
  it('refuses something that is not a URL as a usage error', async () => {
    const r = await runCli(['status', '--admin', 'notaurl']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^FULCRUM_ERR_CLI_USAGE: --admin must be an http:\/\/ or https:\/\/ URL/m);
  });

  it('names a server that is not a fulcrum admin API, a web server or a fulcrum listener', async () => {
    const a = other.address() as net.AddressInfo;
    const r = await runCli(['status', '--admin', `http://127.0.0.1:${a.port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^FULCRUM_ERR_ADMIN_NOT_FULCRUM: http:\/\/127\.0\.0\.1:\d+ is not a fulcrum admin API/m,
    );
    const p = await runCli(['history', '--admin', tb.url()]);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^FULCRUM_ERR_ADMIN_NOT_FULCRUM: /m);
  });
});

describe('validate runs what start checks before binding', () => {
  const base = (extra: Record<string, unknown>): Record<string, unknown> => ({
    ...weightedConfig(0, [{ name: 'a', address: '127.0.0.1:9' }], [1]),
    ...extra,
  });

  it('a missing certificate file: validate exits 2 with FULCRUM_ERR_TLS, start refuses with the same code', async () => {
    const doc = base({});
    (doc['listeners'] as Record<string, Record<string, unknown>>)['web']!['tls'] = {
      cert: 'missing-cert.pem',
      key: 'missing-key.pem',
    };
    const file = write('tls-missing.yaml', doc);
    const r = await runCli(['validate', file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(
      /tls-missing\.yaml:\d+:\d+: listeners\.web\.tls: cannot load .*missing-cert\.pem.* \(FULCRUM_ERR_TLS\)/,
    );
    await expect(startBalancer({ configFile: file, memoryStore: true, env: {} })).rejects.toMatchObject({
      code: 'FULCRUM_ERR_TLS',
    });
    // The running balancer's dry run refuses it too, before anything changes.
    const dry = await runCli(['apply', file, '--dry-run', '--admin', tb.adminUrl]);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toMatch(/^FULCRUM_ERR_TLS: listeners\.web\.tls: cannot load /m);
  });

  it('an admin API off loopback without a token: validate exits 2 with FULCRUM_ERR_ADMIN_INSECURE, like start', async () => {
    const file = write('insecure.yaml', base({ admin: { address: '0.0.0.0:0' } }));
    const r = await runCli(['validate', file, '--format', 'json']);
    expect(r.code).toBe(2);
    const out = JSON.parse(r.stdout) as { valid: boolean; issues: { code: string; path: string }[] };
    expect(out.valid).toBe(false);
    expect(out.issues).toContainEqual(
      expect.objectContaining({ code: 'FULCRUM_ERR_ADMIN_INSECURE', path: 'admin.address' }),
    );
    await expect(startBalancer({ configFile: file, memoryStore: true, env: {} })).rejects.toMatchObject({
      code: 'FULCRUM_ERR_ADMIN_INSECURE',
    });
  });
});

describe('refused and failed applies', () => {
  it('a typo or a stale If-Match is answered and raises no alert; a failure to start the config does', async () => {
    const typo = write('typo.yaml', { ...weightedConfig(port, backends, [1, 1, 1]), poools: {} });
    const r = await runCli(['apply', typo, '--admin', tb.adminUrl]);
    expect(r.code).toBe(2);
    const stale = await fetch(`${tb.adminUrl}/api/v1/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml', 'if-match': '1' },
      body: YAML.stringify(weightedConfig(port, backends, [3, 1, 1])),
    });
    expect(stale.status).toBe(409);
    await until('two refusals counted', async () =>
      /fulcrum_config_applies_total\{result="refused"\} 2/.test(await metric('fulcrum_config_applies_total')),
    );
    // The alert's condition: the last apply that was not a refusal succeeded.
    expect(await metric('fulcrum_config_last_apply_success')).toMatch(/fulcrum_config_last_apply_success 1$/);

    // A listener that cannot bind fails after validation: that is worth an alert.
    const taken = net.createServer();
    await new Promise<void>((res) => taken.listen(0, '127.0.0.1', res));
    const takenPort = (taken.address() as net.AddressInfo).port;
    try {
      const doc = weightedConfig(port, backends, [1, 1, 1]);
      (doc['listeners'] as Record<string, unknown>)['extra'] = {
        address: `127.0.0.1:${takenPort}`,
        routes: [{ pool: 'app' }],
      };
      const bind = await runCli(['apply', write('bind.yaml', doc), '--admin', tb.adminUrl]);
      expect(bind.code).toBe(1);
      await until('ConfigApplyFailed firing', async () => {
        const { alerts } = (await (await fetch(`${tb.adminUrl}/api/v1/alerts`)).json()) as {
          alerts: { labels: Record<string, string>; state: string }[];
        };
        return alerts.some((a) => a.labels['alertname'] === 'ConfigApplyFailed' && a.state === 'firing');
      });
    } finally {
      await new Promise((res) => taken.close(res));
    }
    const fixed = await runCli([
      'apply',
      write('fixed.yaml', weightedConfig(port, backends, [1, 2, 1])),
      '--admin',
      tb.adminUrl,
    ]);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await metric('fulcrum_config_last_apply_success')).toMatch(/fulcrum_config_last_apply_success 1$/);
  });
});

describe('identical configs', () => {
  it('the same config re-encoded (JSON for YAML, keys reordered, defaults spelled out) is "unchanged"', async () => {
    const doc = weightedConfig(port, backends, [1, 3, 1]);
    const first = await runCli(['apply', write('same.yaml', doc), '--admin', tb.adminUrl]);
    expect(first.code, first.stderr).toBe(0);
    const version = Number(/applied version (\d+)/.exec(first.stdout)?.[1]);
    const reordered = Object.fromEntries(Object.entries(doc).reverse());
    const pools = reordered['pools'] as { app: Record<string, unknown> };
    pools.app = { ...Object.fromEntries(Object.entries(pools.app).reverse()), panicThreshold: '50%' };
    const again = await runCli(['apply', write('same.json', reordered, true), '--admin', tb.adminUrl]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`unchanged: version ${version} already runs this config`);
    // A real change is still a change.
    const changed = await runCli([
      'apply',
      write('changed.yaml', weightedConfig(port, backends, [1, 3, 2])),
      '--admin',
      tb.adminUrl,
    ]);
    expect(changed.stdout).toContain(`applied version ${version + 1}`);
  });
});
