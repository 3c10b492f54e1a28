// Global balancing state over worker threads (issue 13): with `workers: 4` the pick sequence,
// the weighted shares, the per-backend request cap and least-requests' in-flight balance are
// those of one process, measured on real loopback backends that count for themselves.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startLoad } from '../helpers/load.ts';

/** A backend that counts its own concurrency: the cap is checked where it matters. */
interface CountingBackend {
  readonly name: string;
  readonly address: string;
  requests: number;
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
}

async function countingBackend(name: string, latencyMs: number): Promise<CountingBackend> {
  const server = http.createServer((req, res) => {
    b.requests++;
    b.inFlight++;
    b.maxInFlight = Math.max(b.maxInFlight, b.inFlight);
    const done = (): void => {
      b.inFlight--;
      res.setHeader('x-backend', name);
      res.end(`${name}\n`);
    };
    req.resume();
    if (latencyMs > 0) setTimeout(done, latencyMs);
    else done();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const b: CountingBackend = {
    name,
    address: `127.0.0.1:${port}`,
    requests: 0,
    inFlight: 0,
    maxInFlight: 0,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return b;
}

/** One GET on a fresh connection (so the kernel may give it to any worker); the backend's name. */
function getOnce(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['x-backend'] ?? `status ${res.statusCode}`)));
    });
    req.on('error', reject);
  });
}

async function workerRequests(t: TestBalancer): Promise<number[]> {
  const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
  const out: number[] = [];
  for (const m of text.matchAll(/^fulcrum_worker_requests_total\{worker="(\d+)"\} (\d+)/gm)) {
    out[Number(m[1])] = Number(m[2]);
  }
  return out;
}

/** The value of a one-series metric (the pool's single backend). */
async function metric(t: TestBalancer, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${t.adminUrl}/metrics`)).text();
  const m = new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text);
  return m === null ? undefined : Number(m[1]);
}

function config(
  policy: string,
  backends: CountingBackend[],
  extra: Record<string, unknown> = {},
  weights?: number[],
) {
  return {
    workers: 4,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy,
        backends: backends.map((b, i) => ({
          name: b.name,
          address: b.address,
          ...(weights === undefined ? {} : { weight: weights[i] }),
          ...extra,
        })),
      },
    },
  };
}

describe('workers: 4 keep one global balancing state', () => {
  let balancer: TestBalancer | undefined;
  let backends: CountingBackend[] = [];

  afterEach(async () => {
    await balancer?.close();
    balancer = undefined;
    await Promise.all(backends.map((b) => b.close()));
    backends = [];
  });

  it('round-robin over 3 backends: one sequence across workers, each ⌊n/3⌋ or ⌈n/3⌉', async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => countingBackend(n, 0)));
    balancer = await startTestBalancer(config('round-robin', backends), { force: true });
    const url = balancer.url();
    const n = 200;
    const seq: string[] = [];
    for (let i = 0; i < n; i++) seq.push(await getOnce(url));
    // In sequence order: each answer is the next in the rotation, whichever worker served it.
    const order = seq.slice(0, 3);
    expect(new Set(order).size).toBe(3);
    for (let i = 0; i < n; i++) expect(seq[i]).toBe(order[i % 3]);
    for (const b of backends) expect([Math.floor(n / 3), Math.ceil(n / 3)]).toContain(b.requests);
    // The connections really were spread: more than one worker served requests.
    await expect.poll(async () => (await workerRequests(balancer as TestBalancer)).length).toBe(4);
    const perWorker = await workerRequests(balancer);
    expect(perWorker.filter((c) => c > 0).length).toBeGreaterThanOrEqual(2);
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('round-robin under 32 concurrent connections: exact counts over 3,000 requests', async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => countingBackend(n, 0)));
    balancer = await startTestBalancer(config('round-robin', backends), { force: true });
    const res = await startLoad({ url: balancer.url(), concurrency: 32, maxRequests: 3000, maxMs: 120_000 })
      .done;
    expect(res.failures).toBe(0);
    for (const b of backends) expect(b.requests).toBe(1000);
  });

  it('weighted round-robin 3:1:1 over 3,000 requests is 60/20/20 within ±1%', async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => countingBackend(n, 0)));
    balancer = await startTestBalancer(config('weighted-round-robin', backends, {}, [3, 1, 1]), {
      force: true,
    });
    const res = await startLoad({ url: balancer.url(), concurrency: 32, maxRequests: 3000, maxMs: 120_000 })
      .done;
    expect(res.failures).toBe(0);
    const [a, b, c] = backends.map((x) => x.requests / 3000) as [number, number, number];
    expect(Math.abs(a - 0.6)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(b - 0.2)).toBeLessThanOrEqual(0.01);
    expect(Math.abs(c - 0.2)).toBeLessThanOrEqual(0.01);
    const perWorker = await workerRequests(balancer);
    expect(perWorker.filter((x) => x > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('maxRequests: 4 holds across all workers, counted by the backend itself', async () => {
    backends = [await countingBackend('capped', 40)];
    balancer = await startTestBalancer(config('round-robin', backends, { maxRequests: 4 }), { force: true });
    // 24 clients on fresh connections each time: the kernel spreads them over the 4 workers,
    // where a per-worker cap of 4 would let up to 16 through at once.
    const url = balancer.url();
    const results: string[] = [];
    const client = async (): Promise<void> => {
      for (let i = 0; i < 15; i++) results.push(await getOnce(url));
    };
    await Promise.all(Array.from({ length: 24 }, client));
    const b = backends[0] as CountingBackend;
    expect(b.maxInFlight).toBe(4);
    // The cap really bound: requests beyond it were refused, not queued somewhere.
    expect(results.filter((r) => r === 'status 503').length).toBeGreaterThan(0);
    expect(results.filter((r) => r === 'capped').length).toBe(b.requests);
    const perWorker = await workerRequests(balancer);
    expect(perWorker.filter((x) => x > 0).length).toBeGreaterThanOrEqual(2);
    // Every reservation was given back: the shared in-flight count is 0 again.
    await expect.poll(() => metric(balancer as TestBalancer, 'fulcrum_backend_in_flight')).toBe(0);
  });

  it("bounded-load consistent-hash fills a hot key's home to the bound of the whole pool's load", async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => countingBackend(n, 100)));
    const base = config('consistent-hash', backends);
    balancer = await startTestBalancer(
      { ...base, pools: { app: { ...base.pools.app, hash: { key: 'header:x-user' } } } },
      { force: true },
    );
    // 24 keep-alive connections over 4 workers, every request the same key. With T in flight on
    // the pool a host is full at ceil(1.25 × (T + 1) / 3): 10 of the 24, where T is the pool's
    // word every worker keeps. Per worker (T ≈ 6) the home would fill at 3; a word that leaked
    // upward would let the home take all 24.
    const res = await startLoad({
      url: balancer.url(),
      concurrency: 24,
      headers: { 'x-user': 'hot' },
      maxRequests: 600,
      maxMs: 60_000,
    }).done;
    expect(res.failures).toBe(0);
    const peaks = backends.map((b) => b.maxInFlight).sort((x, y) => y - x);
    // Up to 3 more than 10 when the other workers admit on the same count at once.
    expect(peaks[0]).toBeGreaterThanOrEqual(8);
    expect(peaks[0]).toBeLessThanOrEqual(13);
    expect(backends.filter((b) => b.requests > 0).length).toBeGreaterThanOrEqual(2);
    const perWorker = await workerRequests(balancer);
    expect(perWorker.filter((x) => x > 0).length).toBeGreaterThanOrEqual(2);
  });

  it('least-requests keeps in-flight equal across backends as one process would', async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((n) => countingBackend(n, 30)));
    balancer = await startTestBalancer(config('least-requests', backends), { force: true });
    const res = await startLoad({ url: balancer.url(), concurrency: 30, maxRequests: 1500, maxMs: 120_000 })
      .done;
    expect(res.failures).toBe(0);
    const max = backends.map((b) => b.maxInFlight);
    // 30 concurrent over 3 backends: ~10 each; one process's p2c keeps the peaks close.
    expect(Math.max(...max) - Math.min(...max)).toBeLessThanOrEqual(4);
    const shares = backends.map((b) => b.requests / 1500);
    for (const s of shares) expect(Math.abs(s - 1 / 3)).toBeLessThanOrEqual(0.06);
  });
});
