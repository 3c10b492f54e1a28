// Issue 12 item 2: a request is sent twice only when that is safe. Counted at the backend: a
// backend that reads a request on a reused keep-alive connection and closes without answering
// sees a POST or PATCH exactly once (the client gets a 502), and an idempotent request twice
// (the documented resend, answered by the second connection). A connect failure sends nothing,
// so any method, body included, goes to another backend.
import net from 'node:net';
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

/** One backend that answers only the first request of each connection. */
async function closingBackend(pool: Record<string, unknown> = {}): Promise<{ b: FakeBackend; h: Harness }> {
  backends = await startFakeBackends(1);
  const b = backends[0] as FakeBackend;
  await b.setMode('close-reused');
  harness = await startProxy(simpleConfig(backends, pool));
  return { b, h: harness };
}

const BODY = Buffer.alloc(10_000, 0x62);

describe('proxy: what is sent twice', () => {
  it.each([
    ['default retries', {}],
    [
      'retries on reset and 502/503, two attempts',
      { retries: { attempts: 2, on: ['connect-failure', 'reset', '502', '503'] } },
    ],
  ])(
    'POST and PATCH read on a reused connection, then closed unanswered, reach the backend once (%s)',
    async (_name, pool) => {
      const { b, h } = await closingBackend(pool);
      for (const method of ['POST', 'PATCH']) {
        // The first request opens the upstream connection (answered); the next one reuses it.
        expect((await httpRequest({ port: h.port() })).status).toBe(200);
        const r = await httpRequest({ port: h.port(), method, path: '/order', body: BODY });
        expect(r.status).toBe(502);
        expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_RESET');
        expect(b.methods[method]).toBe(1);
      }
      expect(b.methods['GET']).toBe(2);
      const failed = h.outcomes.filter((o) => o.status === 502);
      expect(failed.map((o) => [o.method, o.backend, o.retries])).toEqual([
        ['POST', b.name, 0],
        ['PATCH', b.name, 0],
      ]);
    },
  );

  it('idempotent GET, PUT and DELETE are sent once more on a new connection, as documented', async () => {
    const { b, h } = await closingBackend();
    for (const method of ['GET', 'PUT', 'DELETE']) {
      expect((await httpRequest({ port: h.port() })).status).toBe(200);
      const body = method === 'PUT' ? BODY : undefined;
      const r = await httpRequest({ port: h.port(), method, path: '/item', ...(body ? { body } : {}) });
      expect(r.status, method).toBe(200);
      if (method === 'PUT') expect(JSON.parse(r.text)).toEqual({ bytes: BODY.length });
    }
    // Each request on a reused connection is read unanswered, then resent and answered: that is
    // the tested GET, PUT and DELETE, and the priming GETs of PUT and DELETE (the resend's
    // connection was pooled), on top of the very first GET.
    expect(b.methods).toEqual({ GET: 1 + 2 + 2 + 2, PUT: 2, DELETE: 2 });
    // Not a retry, not a failure of the backend.
    expect(h.outcomes.every((o) => o.retries === 0 && o.status === 200)).toBe(true);
    expect(h.host('app', b.address)?.failures).toBe(0);
  });

  it('with GET taken out of retries.methods, a GET is not sent twice either', async () => {
    const { b, h } = await closingBackend({ retries: { methods: ['HEAD'] } });
    expect((await httpRequest({ port: h.port() })).status).toBe(200);
    const r = await httpRequest({ port: h.port(), path: '/report' });
    expect(r.status).toBe(502);
    expect(b.methods['GET']).toBe(2);
  });

  it('a POST whose connection was refused goes to another backend with its body; the dead one saw nothing', async () => {
    backends = await startFakeBackends(2);
    const [dead, good] = backends as [FakeBackend, FakeBackend];
    await dead.setMode('down');
    harness = await startProxy(simpleConfig(backends));
    for (let i = 0; i < 4; i++) {
      const r = await httpRequest({ port: harness.port(), method: 'POST', path: '/order', body: BODY });
      expect(r.status).toBe(200);
      expect(r.headers['x-backend']).toBe(good.name);
      expect(JSON.parse(r.text)).toEqual({ bytes: BODY.length });
    }
    expect(good.methods).toEqual({ POST: 4 });
    const moved = harness.outcomes.filter((o) => o.retries === 1);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.every((o) => o.retriedFrom === dead.name && o.backend === good.name)).toBe(true);
  });

  it('a refused connection with no backend left names the backend that refused, not "no backend"', async () => {
    backends = await startFakeBackends(1);
    const dead = backends[0] as FakeBackend;
    await dead.setMode('down');
    harness = await startProxy(simpleConfig(backends));
    const r = await httpRequest({ port: harness.port() });
    expect(r.status).toBe(502);
    expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
    expect(harness.outcomes[0]).toMatchObject({ backend: dead.name, noBackend: false, retries: 0 });
  });

  it('a pooled connection the backend closed before reuse is never written to: a POST goes once, on a new one', async () => {
    let posts = 0;
    let connections = 0;
    const raw = net.createServer((s) => {
      connections++;
      s.on('error', () => s.destroy());
      s.on('data', (d) => {
        if (d.toString('latin1').startsWith('POST')) posts++;
        s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
        // Closes its side soon after answering, like a short keep-alive timeout.
        setTimeout(() => s.end(), 20);
      });
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    try {
      const address = `127.0.0.1:${(raw.address() as net.AddressInfo).port}`;
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'raw', address }] } },
      });
      expect((await httpRequest({ port: harness.port() })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 150));
      const r = await httpRequest({ port: harness.port(), method: 'POST', body: 'x' });
      expect(r.status).toBe(200);
      expect(posts).toBe(1);
      expect(connections).toBe(2);
    } finally {
      raw.close();
    }
  });
});
