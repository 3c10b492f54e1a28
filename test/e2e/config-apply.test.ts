// Issue 4: applies through the admin API under steady load; history; rollback restores the
// exact earlier text and behaviour; refusals keep the running config.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { countBackends, startLoad } from '../helpers/load.ts';

let backends: FakeBackend[];
let tb: TestBalancer;

function configText(weights: number[], extra: Record<string, unknown> = {}): string {
  return YAML.stringify(weightedConfig(port, backends, weights, extra));
}
let port = 0;

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  // The admin takes config changes as application/yaml (or JSON), never text/plain.
  const headers = { 'content-type': 'application/yaml', ...(init.headers as Record<string, string>) };
  const res = await fetch(`${tb.adminUrl}${path}`, { ...init, headers });
  return { status: res.status, body: await res.json() };
}

beforeAll(async () => {
  backends = await startFakeBackends(3, 'app-');
  tb = await startTestBalancer(
    {
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: { policy: 'round-robin', backends: backends.map((b) => ({ name: b.name, address: b.address })) },
      },
    },
    { force: true },
  );
  port = Number(new URL(tb.url()).port);
  // Pin the listener to the port it got, so the applies below change pools, not the listener.
  const pinned = await api('/api/v1/config', { method: 'POST', body: configText([1, 1, 1]) });
  expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('apply through the admin API', () => {
  it('applies ten configs under steady load with zero failed requests, ten versions in history', async () => {
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 8, maxMs: 30_000 });
    const versions: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const text = configText([1 + (i % 3), 1, 1 + (i % 2)]);
      const r = await api('/api/v1/config', {
        method: 'POST',
        body: text,
        headers: { 'x-fulcrum-message': `step ${i}` },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body.status).toBe('applied');
      versions.push(r.body.version);
      await new Promise((res) => setTimeout(res, 100));
    }
    const result = await load.stop();
    expect(result.failures, JSON.stringify(result)).toBe(0);
    expect(result.ok).toBeGreaterThan(100);
    const h = await api('/api/v1/config/versions?limit=100');
    const listed = h.body.versions.map((v: { version: number }) => v.version);
    for (const v of versions) expect(listed).toContain(v);
    expect(new Set(versions).size).toBe(10);
  });

  it('an identical config is a no-op', async () => {
    const text = configText([2, 1, 1]);
    const first = await api('/api/v1/config', { method: 'POST', body: text });
    const second = await api('/api/v1/config', { method: 'POST', body: text });
    expect(second.body.status).toBe('unchanged');
    expect(second.body.version).toBe(first.body.version);
  });

  it('rollback restores the exact earlier text and behaviour', async () => {
    const a = await api('/api/v1/config', { method: 'POST', body: configText([1, 1, 1]) });
    const equal = await countBackends(`${tb.url()}/`, 300);
    const b = await api('/api/v1/config', { method: 'POST', body: configText([3, 1, 1]) });
    expect(b.body.version).toBeGreaterThan(a.body.version);
    const skewed = await countBackends(`${tb.url()}/`, 300);
    expect(skewed.backends[backends[0]!.name]).toBe(180);
    const rb = await api('/api/v1/config/rollback', {
      method: 'POST',
      body: JSON.stringify({ version: a.body.version }),
    });
    expect(rb.status, JSON.stringify(rb.body)).toBe(200);
    const current = await api('/api/v1/config');
    const original = await api(`/api/v1/config/versions/${a.body.version}`);
    expect(current.body.text).toBe(original.body.text);
    expect(current.body.source).toBe('rollback');
    const after = await countBackends(`${tb.url()}/`, 300);
    expect(after.backends).toEqual(equal.backends);
  });

  it('refuses an invalid config with path-precise issues and keeps the running version', async () => {
    const before = await api('/api/v1/config');
    const bad = configText([1, 1, 1]).replace('weight: 1', 'weight: -1');
    const r = await api('/api/v1/config', { method: 'POST', body: bad });
    expect(r.status).toBe(422);
    expect(r.body.error.code).toBe('FULCRUM_ERR_CONFIG_INVALID');
    expect(JSON.stringify(r.body.error.details.issues)).toContain('pools.app.backends[0].weight');
    const after = await api('/api/v1/config');
    expect(after.body.version).toBe(before.body.version);
    expect((await countBackends(`${tb.url()}/`, 30)).failures).toBe(0);
  });

  it('names the failing stage: broken YAML is a parse error, an unset ${env:} an env error', async () => {
    const broken = await api('/api/v1/config', { method: 'POST', body: 'version: 1\npools: [unclosed' });
    expect(broken.status).toBe(400);
    expect(broken.body.error.code).toBe('FULCRUM_ERR_CONFIG_PARSE');
    const env = await api('/api/v1/config', {
      method: 'POST',
      body: configText([1, 1, 1]).replace('address: 127.0.0.1:0', 'address: ${env:NOT_SET_ANYWHERE}'),
    });
    expect(env.status, JSON.stringify(env.body)).toBe(400);
    expect(env.body.error.code).toBe('FULCRUM_ERR_CONFIG_ENV');
  });

  it('refuses lint errors unless forced (the postmortem skew is an error)', async () => {
    const skew = configText([20, 1, 1]);
    const refused = await api('/api/v1/config', { method: 'POST', body: skew });
    expect(refused.status).toBe(422);
    expect(refused.body.error.code).toBe('FULCRUM_ERR_CONFIG_LINT');
    const forced = await api('/api/v1/config?force=1', { method: 'POST', body: skew });
    expect(forced.body.status).toBe('applied');
  });

  it('dry run changes nothing and returns the diff', async () => {
    const before = await api('/api/v1/config');
    const r = await api('/api/v1/config?dryRun=1', { method: 'POST', body: configText([1, 2, 1]) });
    expect(r.body.status).toBe('dry-run');
    expect(JSON.stringify(r.body.diff)).toContain('weight');
    expect((await api('/api/v1/config')).body.version).toBe(before.body.version);
  });

  it('optimistic concurrency: a stale If-Match is refused with 409', async () => {
    const cur = await api('/api/v1/config');
    const stale = cur.body.version - 1;
    const r = await api('/api/v1/config', {
      method: 'POST',
      body: configText([1, 1, 2]),
      headers: { 'if-match': String(stale) },
    });
    expect(r.status).toBe(409);
    expect(r.body.error.code).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
  });

  it('two applies at once do not interleave: both land as consecutive versions', async () => {
    const [x, y] = await Promise.all([
      api('/api/v1/config', { method: 'POST', body: configText([1, 3, 1]) }),
      api('/api/v1/config', { method: 'POST', body: configText([1, 1, 3]) }),
    ]);
    expect([x.body.version, y.body.version].sort()).toEqual([
      Math.min(x.body.version, y.body.version),
      Math.min(x.body.version, y.body.version) + 1,
    ]);
  });
});
