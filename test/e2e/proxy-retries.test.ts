import { spawn } from 'node:child_process';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';

let backends: FakeBackend[] = [];
let harness: Harness | undefined;

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

const total = (bs: FakeBackend[]): number => bs.reduce((n, b) => n + b.requests, 0);

describe('proxy', () => {
  describe('proxy: retries', () => {
    it('a refused connection is retried on another backend and the client sees 200', async () => {
      backends = await startFakeBackends(3);
      const [down] = backends as [FakeBackend];
      await down.setMode('down');
      harness = await startProxy(simpleConfig(backends, { retries: { attempts: 2 } }));
      for (let i = 0; i < 9; i++) {
        const r = await httpRequest({ port: harness.port() });
        expect(r.status).toBe(200);
        expect(r.headers['x-backend']).not.toBe(down.name);
      }
      const retried = harness.outcomes.filter((o) => o.retries > 0);
      // Every try that hit the dead backend failed locally and was retried once, elsewhere.
      expect(retried.length).toBeGreaterThan(0);
      expect(retried.every((o) => o.retries === 1 && o.status === 200 && o.error === undefined)).toBe(true);
      expect(harness.host('app', down.address)?.failures).toBe(retried.length);
      expect(down.requests).toBe(0);
    });

    it('a 503 with on: [503] is retried elsewhere; without it, passed through', async () => {
      backends = await startFakeBackends(2);
      const [bad, good] = backends as [FakeBackend, FakeBackend];
      await bad.setMode('5xx');
      harness = await startProxy(
        simpleConfig(backends, { retries: { attempts: 1, on: ['connect-failure', '503'] } }),
      );
      for (let i = 0; i < 4; i++) {
        const r = await httpRequest({ port: harness.port() });
        expect(r.status).toBe(200);
        expect(r.headers['x-backend']).toBe(good.name);
      }
      const retried = harness.outcomes.filter((o) => o.retries === 1).length;
      expect(retried).toBeGreaterThan(0);
      expect(bad.requests).toBe(retried);
      expect(harness.host('app', bad.address)?.inFlight).toBe(0);

      await harness.apply(simpleConfig(backends, { retries: { attempts: 1, on: ['connect-failure'] } }));
      const before = bad.requests;
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await httpRequest({ port: harness.port() })).status);
      expect(statuses.sort()).toEqual([200, 200, 503, 503]);
      expect(bad.requests - before).toBe(2);
    });

    it('a retry goes to a different backend; with none left the last answer stands', async () => {
      backends = await startFakeBackends(2);
      for (const b of backends) await b.setMode('5xx');
      harness = await startProxy(simpleConfig(backends, { retries: { attempts: 5, on: ['5xx'] } }));
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(503);
      // Each backend tried once, never the same one twice.
      expect(backends.map((b) => b.requests)).toEqual([1, 1]);
      expect(harness.outcomes[0]).toMatchObject({ retries: 1, status: 503 });
    });

    it('POST is not retried by default', async () => {
      backends = await startFakeBackends(2);
      await (backends[0] as FakeBackend).setMode('5xx');
      harness = await startProxy(simpleConfig(backends, { retries: { attempts: 2, on: ['5xx'] } }));
      const statuses = [];
      for (let i = 0; i < 4; i++) {
        statuses.push((await httpRequest({ port: harness.port(), method: 'POST', body: 'x' })).status);
      }
      expect(statuses.sort()).toEqual([200, 200, 503, 503]);
      expect(total(backends)).toBe(4);
      expect(harness.outcomes.every((o) => o.retries === 0)).toBe(true);
    });

    it('POST is retried with its body replayed when the methods list allows it', async () => {
      backends = await startFakeBackends(2);
      await (backends[0] as FakeBackend).setMode('5xx');
      harness = await startProxy(
        simpleConfig(backends, { retries: { attempts: 1, on: ['5xx'], methods: ['POST'] } }),
      );
      for (let i = 0; i < 3; i++) {
        const r = await httpRequest({ port: harness.port(), method: 'POST', body: Buffer.alloc(40_000, 7) });
        expect(r.status).toBe(200);
        expect(JSON.parse(r.text)).toEqual({ bytes: 40_000 });
      }
      expect(harness.outcomes.some((o) => o.retries === 1)).toBe(true);
    });

    it('a 5xx answered before the body ended is retried with the part sent so far replayed', async () => {
      backends = await startFakeBackends(2);
      const [bad, good] = backends as [FakeBackend, FakeBackend];
      await bad.setMode('5xx');
      harness = await startProxy(
        simpleConfig(backends, { retries: { attempts: 1, on: ['503'], methods: ['POST'] } }),
      );
      const body = new PassThrough();
      const pending = httpRequest({
        port: harness.port(),
        method: 'POST',
        path: '/up',
        headers: { 'content-length': '20' },
        body,
      });
      body.write('0123456789');
      // `bad` answers 503 before the rest arrives; the retry replays the first half to `good`.
      await new Promise((r) => setTimeout(r, 150));
      body.end('abcdefghij');
      const r = await pending;
      expect(r.status).toBe(200);
      expect(r.headers['x-backend']).toBe(good.name);
      expect(JSON.parse(r.text)).toEqual({ bytes: 20 });
      expect(bad.requests).toBe(1);
      expect(harness.outcomes[0]).toMatchObject({ retries: 1, status: 200 });
      expect(harness.host('app', bad.address)?.inFlight).toBe(0);
    });

    it('a body larger than bufferSize is not retried', async () => {
      backends = await startFakeBackends(2);
      await (backends[0] as FakeBackend).setMode('5xx');
      harness = await startProxy(
        simpleConfig(backends, {
          retries: { attempts: 1, on: ['5xx'], methods: ['PUT'], bufferSize: '16KiB' },
        }),
      );
      const big = [];
      for (let i = 0; i < 4; i++) {
        big.push(
          (await httpRequest({ port: harness.port(), method: 'PUT', body: Buffer.alloc(64 * 1024) })).status,
        );
      }
      expect(big.sort()).toEqual([200, 200, 503, 503]);
      expect(total(backends)).toBe(4);
      expect(harness.outcomes.every((o) => o.retries === 0)).toBe(true);
      // Same setup, body within the buffer: retried.
      for (let i = 0; i < 2; i++) {
        const small = await httpRequest({ port: harness.port(), method: 'PUT', body: Buffer.alloc(1024) });
        expect(small.status).toBe(200);
      }
      expect(harness.outcomes.some((o) => o.retries === 1)).toBe(true);
    });

    // Issue 12: the budget guards retries to backends that were reached; a connect failure sent
    // nothing, so it goes to another backend whatever the budget (it used to get a 502).
    it('an exhausted retry budget refuses retries after a backend answered, never after a connect failure', async () => {
      backends = await startFakeBackends(2);
      const [dead, good] = backends as [FakeBackend, FakeBackend];
      await dead.setMode('down');
      const budget = { attempts: 1, on: ['connect-failure', '503'], budget: '0%', minRetryConcurrency: 0 };
      harness = await startProxy(simpleConfig(backends, { retries: budget }));
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await httpRequest({ port: harness.port() })).status);
      expect(statuses).toEqual([200, 200, 200, 200]);
      const moved = harness.outcomes.filter((o) => o.retries === 1);
      expect(moved.length).toBeGreaterThan(0);
      expect(harness.host('app', dead.address)?.failures).toBe(moved.length);
      expect(moved.every((o) => o.retriedFrom === dead.name && o.backend === good.name)).toBe(true);

      await dead.setMode('5xx');
      const before = dead.requests;
      const after = [];
      for (let i = 0; i < 4; i++) after.push((await httpRequest({ port: harness.port() })).status);
      const refused = after.filter((x) => x === 503).length;
      expect(refused).toBeGreaterThan(0);
      expect(after.filter((x) => x !== 200 && x !== 503)).toEqual([]);
      expect(dead.requests - before).toBe(refused);
      expect(harness.outcomes.slice(4).every((o) => o.retries === 0)).toBe(true);
    });

    it('a new connection that breaks before any answer byte is retried whatever the budget, for idempotent methods only', async () => {
      // Reads each request, then closes without a byte: a backend dying with requests in its queue.
      const seen: string[] = [];
      const dying = net.createServer((s) => {
        s.on('error', () => s.destroy());
        s.on('data', (d) => {
          seen.push(d.toString('latin1').split(' ')[0] as string);
          s.destroy();
        });
      });
      await new Promise<void>((r) => dying.listen(0, '127.0.0.1', r));
      try {
        backends = await startFakeBackends(1);
        const good = backends[0] as FakeBackend;
        const address = `127.0.0.1:${(dying.address() as net.AddressInfo).port}`;
        harness = await startProxy({
          version: 1,
          listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
          pools: {
            app: {
              policy: 'round-robin',
              backends: [
                { name: 'dying', address },
                { name: good.name, address: good.address },
              ],
              // Default `on` (connect-failure, reset); no budget at all.
              retries: { budget: '0%', minRetryConcurrency: 0 },
            },
          },
        });
        for (let i = 0; i < 4; i++) expect((await httpRequest({ port: harness.port() })).status).toBe(200);
        expect(seen.length).toBeGreaterThan(0);
        expect(harness.outcomes.filter((o) => o.retriedFrom === 'dying')).toHaveLength(seen.length);
        // A POST that may have been read is not sent anywhere again.
        const posts = [];
        for (let i = 0; i < 2; i++)
          posts.push((await httpRequest({ port: harness.port(), method: 'POST', body: 'x' })).status);
        expect(posts.sort()).toEqual([200, 502]);
        expect(seen.filter((m) => m === 'POST')).toHaveLength(1);
        expect(good.methods['POST']).toBe(1);
      } finally {
        dying.close();
      }
    });

    it('a connect that times out (the accept queue is full) goes to another backend after timeouts.connect, any method', async () => {
      // A listener whose process never accepts: once its queue holds two connections, the kernel
      // drops further SYNs and a connect hangs.
      const stuck = spawn(
        process.execPath,
        [
          '-e',
          "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () {" +
            ' console.log(this.address().port); setTimeout(() => { for (;;); }, 100); });',
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const fillers: net.Socket[] = [];
      try {
        const port = await new Promise<number>((resolve, reject) => {
          stuck.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
          stuck.once('exit', () => reject(new Error('listener exited')));
        });
        await new Promise((r) => setTimeout(r, 300));
        for (let i = 0; i < 3; i++) fillers.push(net.connect(port, '127.0.0.1').on('error', () => {}));
        await new Promise((r) => setTimeout(r, 200));
        backends = await startFakeBackends(1);
        const good = backends[0] as FakeBackend;
        harness = await startProxy({
          version: 1,
          listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
          pools: {
            app: {
              policy: 'round-robin',
              backends: [
                { name: 'stuck', address: `127.0.0.1:${port}` },
                { name: good.name, address: good.address },
              ],
              // Before: a connect waited timeouts.connect + timeouts.response (20.3 s here).
              timeouts: { connect: '300ms', response: '20s' },
              retries: { budget: '0%', minRetryConcurrency: 0 },
            },
          },
        });
        for (const method of ['GET', 'POST']) {
          const r = await httpRequest({ port: harness.port(), method, body: 'x', timeoutMs: 10_000 });
          expect(r.status, method).toBe(200);
          expect(r.headers['x-backend']).toBe(good.name);
        }
        expect(harness.outcomes.map((o) => o.retriedFrom)).toEqual(['stuck', 'stuck']);
        expect(good.methods).toEqual({ GET: 1, POST: 1 });
      } finally {
        for (const f of fillers) f.destroy();
        stuck.kill('SIGKILL');
      }
    });

    it('the budget caps concurrent retries at minRetryConcurrency', async () => {
      backends = await startFakeBackends(2);
      const [bad, slow] = backends as [FakeBackend, FakeBackend];
      await bad.setMode('5xx');
      // The retry target answers slowly so the first retry is still in flight.
      await slow.setMode('slow', { latencyMs: 300 });
      harness = await startProxy(
        simpleConfig(backends, {
          policy: 'round-robin',
          retries: { attempts: 1, on: ['5xx'], budget: '0%', minRetryConcurrency: 1 },
        }),
      );
      // Four concurrent requests: two or three meet `bad` first (a retry's pick moves the round),
      // and while the first retry is in flight at `slow`, the others may not retry.
      const replies = await Promise.all(
        Array.from({ length: 4 }, () => httpRequest({ port: harness!.port() })),
      );
      const failed = replies.filter((r) => r.status === 503).length;
      expect(failed).toBeGreaterThan(0);
      expect(bad.requests).toBe(failed + 1);
      expect(harness.outcomes.filter((o) => o.retries === 1)).toHaveLength(1);
    });

    it('a reused keep-alive socket the backend dropped is sent again once, on a new connection to the same backend', async () => {
      // Answers the first request of each connection with keep-alive, resets on the second: what a
      // backend closing an idle connection while the proxy reuses it looks like.
      const stale = net.createServer((s) => {
        let n = 0;
        s.on('error', () => s.destroy());
        s.on('data', () => {
          if (++n === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-backend: stale\r\n\r\nstale');
          else s.resetAndDestroy();
        });
      });
      await new Promise<void>((r) => stale.listen(0, '127.0.0.1', r));
      try {
        backends = await startFakeBackends(1);
        const good = backends[0] as FakeBackend;
        const address = `127.0.0.1:${(stale.address() as net.AddressInfo).port}`;
        harness = await startProxy({
          version: 1,
          listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
          pools: {
            app: {
              backends: [
                { name: 'stale', address },
                { name: good.name, address: good.address },
              ],
            },
          },
        });
        const seen = [];
        for (let i = 0; i < 3; i++) {
          const r = await httpRequest({ port: harness.port() });
          expect(r.status).toBe(200);
          seen.push(r.headers['x-backend']);
        }
        // Third request: the reused socket to `stale` was reset before it read the request; the
        // request went to `stale` again on a new connection: not a retry, not a failure.
        expect(seen).toEqual(['stale', 'b0', 'stale']);
        expect(harness.outcomes[2]).toMatchObject({ retries: 0, status: 200, backend: 'stale' });
        expect(harness.host('app', address)?.failures).toBe(0);
      } finally {
        stale.close();
      }
    });

    it('leaves no count behind: in-flight, active and retrying return to zero after mixed load', async () => {
      backends = await startFakeBackends(3);
      const [down, bad] = backends as [FakeBackend, FakeBackend];
      await down.setMode('down');
      await bad.setMode('5xx');
      // minRetryConcurrency covers all 8 workers: this test is about accounting, not the budget.
      harness = await startProxy(
        simpleConfig(backends, {
          retries: { attempts: 2, on: ['connect-failure', '503'], minRetryConcurrency: 8 },
        }),
      );
      const port = harness.port();
      const worker = async (): Promise<number> => {
        let ok = 0;
        for (let i = 0; i < 15; i++) if ((await httpRequest({ port })).status === 200) ok++;
        return ok;
      };
      const oks = await Promise.all(Array.from({ length: 8 }, () => worker()));
      // Whichever backend a request meets first, two retries reach the good one.
      expect(oks.reduce((a, b) => a + b, 0)).toBe(120);
      expect(harness.proxy.counters('app')).toEqual({ active: 0, retrying: 0 });
      for (const b of backends) expect(harness.host('app', b.address)?.inFlight, b.name).toBe(0);
      expect(harness.outcomes).toHaveLength(120);
    });

    it('perTryTimeout cuts a hanging try and retries on timeout', async () => {
      backends = await startFakeBackends(2);
      await (backends[0] as FakeBackend).setMode('hang');
      harness = await startProxy(
        simpleConfig(backends, { retries: { attempts: 1, on: ['timeout'], perTryTimeout: '150ms' } }),
      );
      const t0 = performance.now();
      const replies = [];
      for (let i = 0; i < 2; i++) replies.push(await httpRequest({ port: harness.port() }));
      expect(replies.map((r) => r.status)).toEqual([200, 200]);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(harness.outcomes.some((o) => o.retries === 1)).toBe(true);
      expect(harness.host('app', (backends[0] as FakeBackend).address)?.inFlight).toBe(0);
    });
  });
});
