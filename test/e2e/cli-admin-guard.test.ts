// The CLI against the hardened admin (issue 11 items 4-6, issue 17 item 8): every file verb
// refuses a 60 MiB config at once with FULCRUM_ERR_CONFIG_TOO_LARGE; apply and rollback record
// --author (else the login name); diff against a redacted running config does not report
// the secrets it cannot see as changes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { runCli } from '../helpers/cli.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';

let backends: FakeBackend[];
let tb: TestBalancer;
let dir: string;
let port = 0;
const HOOK = 'http://127.0.0.1:9/services/T000/B000/CLISECRET';

function write(name: string, weights: number[]): string {
  const file = join(dir, name);
  const doc = { ...weightedConfig(port, backends, weights), monitor: { notify: [{ webhook: HOOK }] } };
  writeFileSync(file, YAML.stringify(doc));
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-guard-'));
  backends = await startFakeBackends(3, 'app-');
  tb = await startTestBalancer(
    {
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })) } },
    },
    { force: true },
  );
  port = Number(new URL(tb.url()).port);
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

async function authorOf(version: number): Promise<string> {
  const v = (await (await fetch(`${tb.adminUrl}/api/v1/config/versions/${version}`)).json()) as {
    author: string;
  };
  return v.author;
}

describe('the CLI and a 60 MiB config', () => {
  it('validate, lint, diff, apply and start refuse it at once with FULCRUM_ERR_CONFIG_TOO_LARGE', async () => {
    const big = join(dir, 'big.yaml');
    const line = '      - { name: backend-0000000, address: "10.0.0.1:8080", weight: 1 }\n';
    writeFileSync(
      big,
      'version: 1\nlisteners:\n  web: { address: 127.0.0.1:0, routes: [{ pool: app }] }\npools:\n  app:\n    backends:\n' +
        line.repeat(Math.ceil((60 * 1024 * 1024) / line.length)),
    );
    const admin = ['--admin', tb.adminUrl];
    for (const args of [
      ['validate', big],
      ['lint', big],
      ['diff', big, ...admin],
      ['apply', big, ...admin],
      ['start', '-c', big, '--memory-store'],
    ]) {
      // A run that parsed this took 112 s and ran out of memory; the bound here is generous.
      const r = await runCli(args, {}, 30_000);
      expect(r.code, `${args[0]}: ${r.stdout}${r.stderr}`).not.toBe(0);
      expect(r.code, args[0]).not.toBeNull();
      expect(r.stdout + r.stderr, args[0]).toContain('FULCRUM_ERR_CONFIG_TOO_LARGE');
    }
  }, 120_000);
});

// Each CLI run is a process start (a few seconds on a busy machine).
describe('authors and redacted diffs', { timeout: 120_000 }, () => {
  it('apply and rollback record --author, else the login name', async () => {
    const admin = ['--admin', tb.adminUrl];
    const a = await runCli([
      'apply',
      write('a.yaml', [1, 1, 2]),
      '--author',
      'Ana Ops',
      '--format',
      'json',
      ...admin,
    ]);
    expect(a.code, a.stderr).toBe(0);
    const va = (JSON.parse(a.stdout) as { version: number }).version;
    expect(await authorOf(va)).toBe('Ana Ops');

    const b = await runCli(['apply', write('b.yaml', [1, 2, 1]), '--format', 'json', ...admin], {
      USER: '',
      LOGNAME: '',
    });
    expect(b.code, b.stderr).toBe(0);
    expect(await authorOf((JSON.parse(b.stdout) as { version: number }).version)).toBe(userInfo().username);

    const rb = await runCli(['rollback', String(va), '--author', 'Bob', '--format', 'json', ...admin]);
    expect(rb.code, rb.stderr).toBe(0);
    expect(await authorOf((JSON.parse(rb.stdout) as { version: number }).version)).toBe('Bob');
  });

  it('diff against the running config compares what it can see and says the secrets were not', async () => {
    const file = write('same.yaml', [1, 1, 2]);
    const r = await runCli(['diff', file, '--admin', tb.adminUrl]);
    expect(r.stdout).toContain('secrets not compared');
    expect(r.stdout).not.toContain('monitor.notify');
    expect(r.stdout).not.toContain('CLISECRET');
    expect(r.code, r.stdout).toBe(0);
  });
});
