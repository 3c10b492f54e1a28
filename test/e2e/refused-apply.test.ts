// Issue 12: a refused apply of each kind, sent through the admin API under 64 connections of
// load, leaves /api/v1/pools (weights, states, candidates) exactly as it was, with 0 failed
// requests. Real balancer, SQLite store file, loopback backends with health checks.
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { checkpoint, corruptMiddlePage } from '../../src/store/testing/corrupt-file.ts';
import { startFakeBackend, startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startLoad } from '../helpers/load.ts';

// Generous timeouts: a check must fail because the backend says so, not because the machine is busy.
const CHECK = { interval: '500ms', timeout: '3s', jitter: 0, healthyThreshold: 1, unhealthyThreshold: 3 };
let backends: FakeBackend[];
const extra: FakeBackend[] = [];
let taken: Server;
let tb: TestBalancer;
let port = 0;

function configText(
  list: { name: string; address: string; weight?: number }[],
  listeners: Record<string, unknown> = {},
): string {
  return YAML.stringify({
    version: 1,
    log: { level: 'silent', access: false },
    store: { sqlite: 'state.db' },
    listeners: { web: { address: `127.0.0.1:${port}`, routes: [{ pool: 'app' }] }, ...listeners },
    pools: {
      app: {
        policy: 'weighted-round-robin',
        healthCheck: CHECK,
        backends: list.map((b) => ({ name: b.name, address: b.address, weight: b.weight ?? 1 })),
      },
    },
  });
}

async function api(path: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${tb.adminUrl}${path}`, {
    ...init,
    headers: { 'content-type': 'application/yaml', ...(init.headers as Record<string, string>) },
  });
  return { status: res.status, body: await res.json() };
}

/** /api/v1/pools without the counters that traffic and checks move honestly. */
async function pools(): Promise<unknown> {
  const r = await api('/api/v1/pools');
  return r.body.pools.map((p: any) => ({
    name: p.name,
    panic: p.panic,
    available: p.available,
    total: p.total,
    backends: p.backends.map((b: any) => ({
      name: b.name,
      address: b.address,
      state: b.state,
      reason: b.reason,
      configuredWeight: b.configuredWeight,
      effectiveWeight: b.effectiveWeight,
      ejections: b.ejections,
      flaps: b.flaps,
    })),
  }));
}

beforeAll(async () => {
  backends = await startFakeBackends(3);
  taken = await new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
  tb = await startTestBalancer(
    {
      store: { sqlite: 'state.db' },
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          policy: 'weighted-round-robin',
          healthCheck: CHECK,
          backends: backends.map((b) => ({ name: b.name, address: b.address })),
        },
      },
    },
    { sqlite: true },
  );
  port = Number(new URL(tb.url()).port);
  const pinned = await api('/api/v1/config', { method: 'POST', body: configText(backends) });
  expect(pinned.status, JSON.stringify(pinned.body)).toBe(200);
});
afterAll(async () => {
  await tb.close();
  await new Promise((r) => taken.close(r));
  await Promise.all([...backends, ...extra].map((b) => b.close()));
});

describe('a refused apply changes nothing (admin API, 64 connections)', () => {
  it('validation, lint, warm, bind and commit refusals leave /api/v1/pools as it was', async () => {
    const deadline = Date.now() + 10_000;
    while (JSON.stringify(await pools()).includes('unknown') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const before = await pools();
    const version = (await api('/api/v1/config')).body.version;
    const [b0, b1, b2] = backends as [FakeBackend, FakeBackend, FakeBackend];
    const heavier = [{ name: b0.name, address: b0.address, weight: 3 }, b1, b2];
    const d1 = await startFakeBackend({ name: 'd1' });
    const d2 = await startFakeBackend({ name: 'd2' });
    const b3 = await startFakeBackend({ name: 'b3' });
    extra.push(d1, d2, b3);
    d1.setHealth('fail');
    d2.setHealth('fail');
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 64, maxMs: 60_000 });
    const codes: string[] = [];
    const post = async (text: string): Promise<void> => {
      const r = await api('/api/v1/config', { method: 'POST', body: text });
      codes.push(r.body.error?.code ?? `status ${r.status}`);
    };
    try {
      await post('version: 1\nlisteners: nope\n');
      await post(configText([heavier[0] as { name: string; address: string }]));
      await post(configText([d1, d2]));
      await post(
        configText([...heavier, b3], {
          other: {
            address: `127.0.0.1:${(taken.address() as { port: number }).port}`,
            routes: [{ pool: 'app' }],
          },
        }),
      );
      await post(configText([b3, d1], { other: { address: '192.0.2.1:8080', routes: [{ pool: 'app' }] } }));
      // The store file is damaged under the running balancer; its check finds it.
      const file = join(dirname(tb.configFile), 'state.db');
      checkpoint(file);
      corruptMiddlePage(file);
      expect((await tb.balancer.store.checkIntegrity?.())?.ok).toBe(false);
      await post(configText([...heavier, b3]));
    } finally {
      const result = await load.stop();
      expect(result.failures, JSON.stringify(result)).toBe(0);
      expect(result.ok).toBeGreaterThan(0);
    }
    expect(codes).toEqual([
      'FULCRUM_ERR_CONFIG_INVALID',
      'FULCRUM_ERR_CONFIG_LINT',
      'FULCRUM_ERR_CONFIG_WARM',
      'FULCRUM_ERR_LISTEN_IN_USE',
      'FULCRUM_ERR_LISTEN',
      'FULCRUM_ERR_STORE_CORRUPT',
    ]);
    expect(await pools()).toEqual(before);
    expect((await api('/api/v1/config')).body.version).toBe(version);
  }, 60_000);
});
