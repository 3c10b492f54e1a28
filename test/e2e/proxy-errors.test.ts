import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';

let backends: FakeBackend[] = [];
let harness: Harness | undefined;
const rawServers: net.Server[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
  for (const s of rawServers.splice(0)) s.close();
});

const noRetry = { retries: { attempts: 0 } };

/** A TCP backend that misbehaves at the byte level. */
async function rawBackend(onData: (socket: net.Socket) => void): Promise<string> {
  const server = net.createServer((s) => {
    s.on('error', () => s.destroy());
    s.once('data', () => onData(s));
  });
  rawServers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** Send raw bytes, collect everything until the proxy closes the connection. */
function rawExchange(port: number, write: (s: net.Socket) => void, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no close within ${timeoutMs} ms; got: ${got.slice(0, 200)}`));
    }, timeoutMs);
    s.on('connect', () => write(s));
    s.on('data', (c: Buffer) => (got += c.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
  });
}

describe('proxy', () => {
  describe('proxy: answers on the backend behalf', () => {
    it('503 FULCRUM_ERR_PROXY_NO_BACKEND when no backend is available', async () => {
      backends = await startFakeBackends(2);
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: {
          app: { backends: backends.map((b) => ({ name: b.name, address: b.address, drain: true })) },
        },
      });
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(503);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_NO_BACKEND');
      expect(r.text).toMatch(/^503 FULCRUM_ERR_PROXY_NO_BACKEND/);
      expect(backends.reduce((n, b) => n + b.requests, 0)).toBe(0);
      expect(harness.outcomes[0]).toMatchObject({
        status: 503,
        error: 'FULCRUM_ERR_PROXY_NO_BACKEND',
        backend: undefined,
      });
    });

    it('502 FULCRUM_ERR_PROXY_UPSTREAM_CONNECT when the backend refuses, counted as a local failure', async () => {
      // Port 1: nothing listens there, and no port-0 bind is ever given it. A fake backend put
      // 'down' frees its ephemeral port: with a second copy of the suite beside, that port once
      // answered 503 (most likely a backend of the other copy that had been given it).
      const address = '127.0.0.1:1';
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'refuses', address }], ...noRetry } },
      });
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(502);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
      const host = harness.host('app', address);
      expect(host?.failures).toBe(1);
      expect(host?.inFlight).toBe(0);
    });

    it('504 FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT when the backend does not answer in time', async () => {
      backends = await startFakeBackends(1);
      await (backends[0] as FakeBackend).setMode('hang');
      harness = await startProxy(simpleConfig(backends, { ...noRetry, timeouts: { response: '150ms' } }));
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(504);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT');
      expect(harness.host('app', (backends[0] as FakeBackend).address)?.inFlight).toBe(0);
      // The backend was reached but did not answer: the outcome names it.
      expect(harness.outcomes[0]).toMatchObject({ status: 504, backend: 'b0' });
    });

    it('502 FULCRUM_ERR_PROXY_UPSTREAM_RESET when the backend resets before answering', async () => {
      const address = await rawBackend((s) => s.resetAndDestroy());
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'rst', address }], ...noRetry } },
      });
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(502);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_RESET');
    });

    it('502 FULCRUM_ERR_PROXY_UPSTREAM_RESET on a malformed response', async () => {
      const address = await rawBackend((s) => s.end('HTTP/1.1 2x0 what\r\nbroken\r\n\r\n'));
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'junk', address }], ...noRetry } },
      });
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(502);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_RESET');
    });

    it('a reset after the headers cuts the client response', async () => {
      backends = await startFakeBackends(1);
      await (backends[0] as FakeBackend).setMode('reset-mid-body');
      harness = await startProxy(simpleConfig(backends, noRetry));
      await expect(httpRequest({ port: harness.port() })).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 20));
      expect(harness.outcomes[0]).toMatchObject({ status: 200, error: 'FULCRUM_ERR_PROXY_UPSTREAM_RESET' });
      expect(harness.host('app', (backends[0] as FakeBackend).address)?.failures).toBe(1);
    });

    it('a backend 503 is passed through and counted as a gateway error', async () => {
      backends = await startFakeBackends(1);
      await (backends[0] as FakeBackend).setMode('5xx');
      harness = await startProxy(simpleConfig(backends));
      const r = await httpRequest({ port: harness.port() });
      expect(r.status).toBe(503);
      expect(r.headers['x-backend']).toBe('b0');
      expect(r.headers['x-fulcrum-error']).toBeUndefined();
    });
  });

  describe('proxy: upstream connection pool', () => {
    it('closes idle upstream sockets after timeouts.idle, but never cuts a slow answer', async () => {
      backends = await startFakeBackends(1);
      const b = backends[0] as FakeBackend;
      harness = await startProxy(simpleConfig(backends, { timeouts: { idle: '150ms', response: '5s' } }));
      expect((await httpRequest({ port: harness.port() })).status).toBe(200);
      expect((await httpRequest({ port: harness.port() })).status).toBe(200);
      expect(b.connections).toBe(1);
      await new Promise((r) => setTimeout(r, 500));
      expect((await httpRequest({ port: harness.port() })).status).toBe(200);
      expect(b.connections).toBe(2);
      // An answer slower than the idle timeout is not cut: idle applies to pooled sockets only.
      await b.setMode('slow', { latencyMs: 400 });
      expect((await httpRequest({ port: harness.port() })).status).toBe(200);
    });
  });

  describe('proxy: maxRequests', () => {
    it('never has more than maxRequests in flight to a backend; beyond it the pool has no backend', async () => {
      backends = await startFakeBackends(1);
      const b = backends[0] as FakeBackend;
      await b.setMode('slow', { latencyMs: 200 });
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: b.name, address: b.address, maxRequests: 2 }] } },
      });
      let peak = 0;
      const t = setInterval(() => (peak = Math.max(peak, b.inFlight)), 5);
      const replies = await Promise.all(
        Array.from({ length: 5 }, () => httpRequest({ port: harness!.port() })),
      );
      clearInterval(t);
      expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 503, 503, 503]);
      expect(peak).toBe(2);
      expect(b.requests).toBe(2);
    });
  });

  describe('proxy: listener limits', () => {
    it('431 when request headers exceed maxHeaderSize', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(simpleConfig(backends, {}, { limits: { maxHeaderSize: '4KiB' } }));
      const r = await httpRequest({ port: harness.port(), headers: { 'x-big': 'a'.repeat(8000) } });
      expect(r.status).toBe(431);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_HEADERS_TOO_LARGE');
      expect((backends[0] as FakeBackend).requests).toBe(0);
    });

    it('413 up front when Content-Length exceeds maxBodySize', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(simpleConfig(backends, {}, { limits: { maxBodySize: '1KiB' } }));
      const r = await httpRequest({ port: harness.port(), method: 'POST', body: Buffer.alloc(2048) });
      expect(r.status).toBe(413);
      expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
      expect((backends[0] as FakeBackend).requests).toBe(0);
    });

    it('413 when a chunked body grows beyond maxBodySize while streaming', async () => {
      backends = await startFakeBackends(1);
      await (backends[0] as FakeBackend).setMode('hang');
      harness = await startProxy(simpleConfig(backends, {}, { limits: { maxBodySize: '64KiB' } }));
      const got = await rawExchange(harness.port(), (s) => {
        s.write('POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = Buffer.alloc(16 * 1024, 0x62);
        for (let i = 0; i < 8; i++) s.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
      });
      expect(got).toMatch(/^HTTP\/1\.1 413/);
      expect(got).toContain('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
    });

    it('408 when the client is too slow to send its headers', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(
        simpleConfig(backends, {}, { timeouts: { header: '300ms', request: '10s', idle: '10s' } }),
      );
      const t0 = performance.now();
      const got = await rawExchange(harness.port(), (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n'));
      expect(got).toMatch(/^HTTP\/1\.1 408/);
      expect(got).toContain('FULCRUM_ERR_PROXY_CLIENT_TIMEOUT');
      expect(performance.now() - t0).toBeLessThan(4000);
    });

    it('408 when the client is too slow to send its body, reported as the outcome', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(
        simpleConfig(backends, {}, { timeouts: { header: '200ms', request: '400ms', idle: '10s' } }),
      );
      const got = await rawExchange(harness.port(), (s) =>
        s.write('POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b'),
      );
      expect(got).toMatch(/^HTTP\/1\.1 408/);
      expect(got).toContain('FULCRUM_ERR_PROXY_CLIENT_TIMEOUT');
      await new Promise((r) => setTimeout(r, 20));
      expect(harness.outcomes[0]).toMatchObject({ status: 408, error: 'FULCRUM_ERR_PROXY_CLIENT_TIMEOUT' });
      expect(harness.host('app', (backends[0] as FakeBackend).address)?.inFlight).toBe(0);
    });

    it('closes an idle client keep-alive connection after timeouts.idle', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(
        simpleConfig(backends, {}, { timeouts: { header: '5s', request: '10s', idle: '200ms' } }),
      );
      const t0 = performance.now();
      const got = await rawExchange(harness.port(), (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      expect(got).toMatch(/^HTTP\/1\.1 200/);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    });

    it('400 FULCRUM_ERR_PROXY_BAD_REQUEST on garbage', async () => {
      backends = await startFakeBackends(1);
      harness = await startProxy(simpleConfig(backends));
      const got = await rawExchange(harness.port(), (s) => s.write('NOT HTTP AT ALL\r\n\r\n'));
      expect(got).toMatch(/^HTTP\/1\.1 400/);
      expect(got).toContain('FULCRUM_ERR_PROXY_BAD_REQUEST');
    });
  });
});
