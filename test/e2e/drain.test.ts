// Runtime drain end to end: `fulcrum drain`/`undrain` and the admin API on a real balancer over
// real backends, with a SQLite store: traffic leaves the backend at once, the drain shows in
// /api/v1/pools, `fulcrum status`, /metrics and the event log, survives a reload that keeps the
// backend, ends by itself after --for, and the drift audit calls it an intended override.
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

const TOKEN = 'drain-test-token';
let backends: FakeBackend[] = [];
let lb: TestBalancer | undefined;

afterEach(async () => {
  await lb?.close();
  lb = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

function config(bs: FakeBackend[], weights: number[] = [1, 1]): Record<string, unknown> {
  return {
    admin: { token: TOKEN },
    audit: { schedule: '' },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'round-robin',
        backends: bs.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })),
      },
    },
  };
}

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(`${lb?.adminUrl}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      'x-fulcrum-author': 'bob',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

/** Which backends answered n sequential requests. */
async function answeredBy(n: number): Promise<string[]> {
  const port = Number(new URL(lb?.url() as string).port);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await httpRequest({ port });
    expect(r.status).toBe(200);
    out.push(String(r.headers['x-backend']));
  }
  return out;
}

async function backendView(name: string): Promise<any> {
  const pools = await api('GET', '/api/v1/pools');
  return pools.body.pools[0].backends.find((b: { name: string }) => b.name === name);
}

function metricValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

// Each CLI call is a process start: seconds apiece on a loaded 2-core machine.
describe('runtime drain', { timeout: 180_000 }, () => {
  it('drains through the CLI: no new traffic, visible in pools, status, metrics, events and drift; survives a reload; undrains', async () => {
    backends = await startFakeBackends(2, 'a');
    lb = await startTestBalancer(config(backends), { sqlite: true, force: true });
    const admin = ['--admin', lb.adminUrl, '--token', TOKEN];
    expect(new Set(await answeredBy(4))).toEqual(new Set(['a0', 'a1']));

    const drained = await runCli(['drain', 'app', 'a1', '--reason', 'bad disk', ...admin], { USER: 'alice' });
    expect(drained.stderr).toBe('');
    expect(drained.code).toBe(0);
    expect(drained.stdout).toMatch(
      /^app\/a1 \(127\.0\.0\.1:\d+\) drained by alice at .+, until undrained: bad disk/,
    );
    expect(await answeredBy(10)).toEqual(Array(10).fill('a0'));

    const view = await backendView('a1');
    expect(view).toMatchObject({ state: 'draining', drain: { by: 'alice', reason: 'bad disk' } });
    expect(view.drain.until).toBeUndefined();

    const status = await runCli(['status', ...admin]);
    expect(status.stdout).toMatch(/a1 +127\.0\.0\.1:\d+ +draining/);
    expect(status.stdout).toMatch(/ {2}a1: drained by alice at .+, until undrained: bad disk/);

    const metrics = await (await fetch(`${lb.adminUrl}/metrics`)).text();
    expect(metricValue(metrics, 'fulcrum_backend_drained{pool="app",backend="a1"}')).toBe(1);
    expect(metricValue(metrics, 'fulcrum_backend_drained{pool="app",backend="a0"}')).toBe(0);

    // The drift audit against the unchanged start file: passes, naming the drain as intended.
    const audit = await api('POST', '/api/v1/audits', { checks: ['drift'] });
    expect(audit.status).toBe(200);
    expect(audit.body.status).toBe('pass');
    const drift = audit.body.checks.find((c: { name: string }) => c.name === 'drift');
    expect(drift.findings).toEqual([
      expect.objectContaining({
        ruleId: 'drift-override',
        severity: 'info',
        path: 'pools.app.backends[1]',
        message: expect.stringMatching(
          /a1 is drained at runtime by alice .*\(bad disk\): an intended override, not drift/,
        ),
      }),
    ]);

    // A reload that keeps a1 (a new weight for a0) keeps the drain.
    const applied = await lb.balancer.controller.apply(
      JSON.stringify({ version: 1, ...config(backends, [3, 1]) }),
      {
        source: 'api',
        author: 'test',
        force: true,
      },
    );
    expect(applied.status).toBe('applied');
    expect((await backendView('a1')).drain).toMatchObject({ by: 'alice' });
    expect(await answeredBy(6)).toEqual(Array(6).fill('a0'));

    const undrained = await runCli(['undrain', 'app', 'a1', ...admin], { USER: 'carol' });
    expect(undrained.code).toBe(0);
    expect(undrained.stdout).toMatch(/app\/a1 \(127\.0\.0\.1:\d+\) undrained: back in rotation/);
    expect((await backendView('a1')).drain).toBeNull();
    expect(await answeredBy(8)).toContain('a1');
    const again = await runCli(['undrain', 'app', 'a1', ...admin]);
    expect(again.stdout).toContain('was not drained at runtime: nothing changed');

    // Both events are in the store's event log, with who and why.
    const events = (await api('GET', '/api/v1/config/events')).body.events as any[];
    expect(events.find((e) => e.type === 'backend-drained')?.data).toMatchObject({
      pool: 'app',
      backend: 'a1',
      by: 'alice',
      reason: 'bad disk',
    });
    expect(events.find((e) => e.type === 'backend-undrained')?.data).toMatchObject({
      pool: 'app',
      backend: 'a1',
      by: 'carol',
      expired: false,
    });
    const m2 = await (await fetch(`${lb.adminUrl}/metrics`)).text();
    expect(metricValue(m2, 'fulcrum_backend_drained{pool="app",backend="a1"}')).toBe(0);
  });

  it('drains through the admin API for a while, then undrains by itself and records the expiry', async () => {
    backends = await startFakeBackends(2, 'a');
    lb = await startTestBalancer(config(backends), { force: true });
    const r = await api('POST', '/api/v1/pools/app/backends/a0/drain', { for: '1500ms', reason: 'deploy' });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      pool: 'app',
      backend: 'a0',
      drain: { by: 'bob', reason: 'deploy' },
      recorded: true,
    });
    expect(r.body.drain.until - r.body.drain.at).toBe(1500);
    expect(await answeredBy(4)).toEqual(Array(4).fill('a1'));

    const deadline = Date.now() + 15_000;
    let view = await backendView('a0');
    while (view.drain !== null && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      view = await backendView('a0');
    }
    expect(view.drain).toBeNull();
    expect(view.state).toBe('healthy');
    expect(await answeredBy(4)).toContain('a0');
    const events = (await api('GET', '/api/v1/config/events')).body.events as any[];
    expect(events.find((e) => e.type === 'backend-undrained')?.data).toMatchObject({
      backend: 'a0',
      by: 'expiry',
      expired: true,
      drain: { by: 'bob', reason: 'deploy' },
    });
  });

  it('refuses unknown names, bad durations and calls without the token, draining nothing', async () => {
    backends = await startFakeBackends(2, 'a');
    lb = await startTestBalancer(config(backends), { force: true });
    const noPool = await api('POST', '/api/v1/pools/nope/backends/a0/drain');
    expect(noPool.status).toBe(404);
    expect(noPool.body.error.code).toBe('FULCRUM_ERR_ADMIN_NOT_FOUND');
    expect(noPool.body.error.message).toContain('pools: app');
    const noBackend = await api('DELETE', '/api/v1/pools/app/backends/zz/drain');
    expect(noBackend.status).toBe(404);
    expect(noBackend.body.error.message).toContain('backends: a0, a1');
    const badFor = await api('POST', '/api/v1/pools/app/backends/a0/drain', { for: 'soon' });
    expect(badFor.status).toBe(400);
    expect(badFor.body.error.code).toBe('FULCRUM_ERR_ADMIN_BAD_REQUEST');
    const noToken = await api('POST', '/api/v1/pools/app/backends/a0/drain', {}, null);
    expect(noToken.status).toBe(401);
    expect((await backendView('a0')).drain).toBeNull();

    const cliBadFor = await runCli([
      'drain',
      'app',
      'a0',
      '--for',
      '10 minutes',
      '--admin',
      lb.adminUrl,
      '--token',
      TOKEN,
    ]);
    expect(cliBadFor.code).toBe(1);
    expect(cliBadFor.stderr).toContain('FULCRUM_ERR_CLI_USAGE');
    const cliUnknown = await runCli(['drain', 'app', 'zz', '--admin', lb.adminUrl, '--token', TOKEN]);
    expect(cliUnknown.code).toBe(1);
    expect(cliUnknown.stderr).toContain('FULCRUM_ERR_ADMIN_NOT_FOUND');
    expect(await answeredBy(4)).toEqual(expect.arrayContaining(['a0', 'a1']));
  });
});
