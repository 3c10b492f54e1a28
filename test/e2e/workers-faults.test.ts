// Faults across worker threads (issue 13): an apply one worker refuses leaves every worker on
// the running version, under load, with 0 failed requests; a worker that dies mid-load is
// replaced and only the requests it was carrying fail. Faults come from failpoints
// (src/workers/failpoints.ts): a real refusal in a real worker, a real uncaught error.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startLoad } from '../helpers/load.ts';
import { freePort } from '../../src/sim/free-port.ts';

let tb: TestBalancer | undefined;
let backends: FakeBackend[] = [];

afterEach(async () => {
  await tb?.close();
  tb = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

function doc(list: FakeBackend[], listeners: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    workers: 4,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] }, ...listeners },
    pools: {
      app: { policy: 'round-robin', backends: list.map((b) => ({ name: b.name, address: b.address })) },
    },
  };
}

async function metrics(t: TestBalancer): Promise<string> {
  return (await fetch(`${t.adminUrl}/metrics`)).text();
}

function series(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))) {
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

describe('workers: 4 under faults', () => {
  it('an apply one worker refuses leaves all four on the running version, under load, with 0 failures', async () => {
    backends = await startFakeBackends(3);
    // Worker 2 refuses every version from 2 on: the start (version 1) goes through.
    tb = await startTestBalancer(doc(backends), { force: true, failpoints: 'worker-prepare-fails=2@2' });
    const load = startLoad({ url: tb.url(), concurrency: 32, maxMs: 60_000, maxRequests: 200_000 });
    await expect.poll(() => load.result.ok, { timeout: 10_000 }).toBeGreaterThan(500);

    // Version 2 drops backend b3 and adds a listener: no worker may run either.
    const extraPort = await freePort();
    const next = YAML.stringify({
      version: 1,
      log: { level: 'silent', access: false },
      ...doc(backends.slice(0, 2), {
        extra: { address: `127.0.0.1:${extraPort}`, routes: [{ pool: 'app' }] },
      }),
    });
    const res = await fetch(`${tb.adminUrl}/api/v1/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: next,
    });
    const body = (await res.json()) as any;
    expect(res.status).toBe(500);
    expect(body.error.code).toBe('FULCRUM_ERR_WORKER_PREPARE');
    expect(body.error.details.worker).toBe(2);
    expect(((await (await fetch(`${tb.adminUrl}/api/v1/config`)).json()) as any).version).toBe(1);
    // What the other workers bound while preparing was closed again.
    expect(await connects(extraPort)).toBe(false);

    // Every worker still runs version 1: b3 keeps exactly its third of what follows.
    const before = backends.map((b) => b.requests);
    const ok0 = load.result.ok;
    await expect.poll(() => load.result.ok - ok0, { timeout: 20_000 }).toBeGreaterThan(1500);
    const result = await load.stop();
    const after = backends.map((b, i) => b.requests - (before[i] as number));
    const total = after.reduce((a, b) => a + b, 0);
    for (const n of after) expect(Math.abs(n - total / 3)).toBeLessThanOrEqual(32);
    expect(result.failures).toBe(0);
    expect(result.errors).toEqual({});
  });

  it(
    'a worker that dies mid-load is replaced; only the connections it carried see an error',
    { timeout: 90_000 },
    async () => {
      backends = await startFakeBackends(3);
      tb = await startTestBalancer(doc(backends), { force: true, failpoints: 'worker-crash=1@300' });
      const concurrency = 32;
      const load = startLoad({ url: tb.url(), concurrency, maxMs: 60_000, maxRequests: 200_000 });
      const t = tb;
      // Worker 1 crashes after its 300th request and is started again.
      await expect
        .poll(async () => series(await metrics(t), 'fulcrum_worker_restarts_total').get('worker="1"'), {
          timeout: 20_000,
        })
        .toBe(1);
      // The replacement serves again: fresh connections reach worker 1.
      const served = series(await metrics(t), 'fulcrum_worker_requests_total').get('worker="1"') ?? 0;
      await expect
        .poll(
          async () => {
            for (let i = 0; i < 20; i++) await fetch(t.url(), { headers: { connection: 'close' } });
            return series(await metrics(t), 'fulcrum_worker_requests_total').get('worker="1"');
          },
          { timeout: 30_000 },
        )
        .toBeGreaterThan(served);
      const result = await load.stop();
      // No HTTP error at all: the other workers answered everything they were given.
      expect(result.statuses).toEqual({});
      // Client errors are the dead worker's connections only: at most one request each.
      const errors = Object.values(result.errors).reduce((a, b) => a + b, 0);
      expect(errors).toBeLessThanOrEqual(concurrency);
      for (const code of Object.keys(result.errors))
        expect(['ECONNRESET', 'EPIPE', 'ECONNREFUSED']).toContain(code);
      expect(result.ok).toBeGreaterThan(1000);
      // The requests it had in flight were given back to the shared counts.
      await expect
        .poll(async () =>
          [...series(await metrics(t), 'fulcrum_backend_in_flight').values()].reduce((a, b) => a + b, 0),
        )
        .toBe(0);
      const workers = series(await metrics(t), 'fulcrum_worker_connections');
      expect(workers.size).toBe(4);
    },
  );

  it('a shutdown drains every worker: requests in flight on all of them finish, then the port closes', async () => {
    backends = await startFakeBackends(3);
    tb = await startTestBalancer(doc(backends), { force: true });
    for (const b of backends) await b.setMode('slow', { latencyMs: 1500 });
    const url = tb.url();
    const port = Number(new URL(url).port);
    // 16 requests on fresh connections: the kernel spreads them over the 4 workers.
    const replies = Array.from({ length: 16 }, () =>
      fetch(url, { headers: { connection: 'close' } }).then(
        (r) => r.status,
        () => 0,
      ),
    );
    const t = tb;
    // Every request is in flight at a backend (so accepted by some worker) before the close.
    await expect.poll(() => backends.reduce((n, b) => n + b.inFlight, 0), { timeout: 10_000 }).toBe(16);
    expect(
      [...series(await metrics(t), 'fulcrum_worker_connections').values()].filter((n) => n > 0).length,
    ).toBeGreaterThanOrEqual(2);
    const closing = tb.close(10_000);
    tb = undefined;
    expect(await Promise.all(replies)).toEqual(new Array(16).fill(200));
    await closing;
    expect(await connects(port)).toBe(false);
  });
});
