// The CLI as a user runs it: a real process, real exit codes, against a real balancer.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { runCli } from '../helpers/cli.ts';

let backends: FakeBackend[];
let tb: TestBalancer;
let dir: string;
let port = 0;

function write(name: string, weights: number[]): string {
  const file = join(dir, name);
  writeFileSync(file, YAML.stringify(weightedConfig(port, backends, weights)));
  return file;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-'));
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

describe('fulcrum CLI', () => {
  it.each(['start', 'demo', 'validate', 'lint', 'diff', 'apply', 'history', 'rollback', 'status', 'audit'])(
    '`%s --help` explains the verb and exits 0',
    async (verb) => {
      const r = await runCli([verb, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: fulcrum ${verb}`);
    },
  );

  it('refuses unknown verbs and flags with exit 1 and a coded message', async () => {
    const r = await runCli(['status', '--colour']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^FULCRUM_ERR_CLI_USAGE: unknown option '--colour'/m);
  });

  it('validate: 0 for a good file, 2 with the path for a bad one, 1 for a missing one', async () => {
    expect((await runCli(['validate', 'examples/demo.yaml'])).code).toBe(0);
    const bad = write('bad.yaml', [1, -1, 1]);
    const r = await runCli(['validate', bad]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toContain('pools.app.backends[1].weight');
    expect((await runCli(['validate', join(dir, 'missing.yaml')])).code).toBe(1);
  });

  it('apply, history, status and rollback drive the running balancer', async () => {
    const admin = ['--admin', tb.adminUrl];
    const a = await runCli(['apply', write('a.yaml', [1, 1, 1]), ...admin, '-m', 'equal']);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toMatch(/applied version (\d+)/);
    const first = Number(/applied version (\d+)/.exec(a.stdout)?.[1]);
    const b = await runCli(['apply', write('b.yaml', [2, 1, 1]), ...admin, '-m', 'more on app-0']);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('50.0%');
    const h = await runCli(['history', ...admin]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('more on app-0');
    const s = await runCli(['status', ...admin]);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain('pool app');
    expect(s.stdout).toContain(backends[0]!.address);
    const rb = await runCli(['rollback', String(first), ...admin]);
    expect(rb.code, rb.stderr).toBe(0);
    const cur = (await (await fetch(`${tb.adminUrl}/api/v1/config`)).json()) as {
      source: string;
      parent: number;
    };
    expect(cur.source).toBe('rollback');
    expect(cur.parent).toBe(first);
  });

  it('apply refuses lint errors with exit 2 and the finding', async () => {
    const r = await runCli(['apply', write('skew.yaml', [20, 1, 1]), '--admin', tb.adminUrl]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FULCRUM_ERR_CONFIG_LINT');
    expect(r.stderr).toContain('weight-skew');
  });

  it('live verbs exit 1 when the admin is unreachable', async () => {
    const r = await runCli(['status', '--admin', 'http://127.0.0.1:9']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FULCRUM_ERR_ADMIN_UNREACHABLE');
  });
});
