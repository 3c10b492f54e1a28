import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackend, startFakeBackends, type FakeBackend } from './fake-backend.ts';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const agent = new http.Agent({ keepAlive: false });

function request(
  b: FakeBackend,
  path: string,
  opts: { method?: string; body?: Buffer; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: b.port, path, method: opts.method ?? 'GET', agent },
      (res) => {
        let body = '';
        res.setEncoding('latin1');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const started: FakeBackend[] = [];
async function backend(
  name: string,
  extra: { capacity?: number; flapPeriodMs?: number; greeting?: () => string } = {},
): Promise<FakeBackend> {
  const b = await startFakeBackend({ name, ...extra });
  started.push(b);
  return b;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((b) => b.close()));
});

describe('fake backend', () => {
  it('answers with its name, counts requests but not health checks', async () => {
    const b = await backend('alpha');
    expect(b.address).toBe(`127.0.0.1:${b.port}`);
    const r = await request(b, '/');
    expect(r.status).toBe(200);
    expect(r.headers['x-backend']).toBe('alpha');
    expect(r.body).toBe('alpha\n');
    await request(b, '/healthz');
    expect(b.requests).toBe(1);
    expect(b.healthChecks).toBe(1);
    expect(b.inFlight).toBe(0);
  });

  it('echoes the request and counts streamed upload bytes', async () => {
    const b = await backend('e');
    const echo = JSON.parse((await request(b, '/echo')).body) as {
      method: string;
      url: string;
      headers: Record<string, string>;
    };
    expect(echo.method).toBe('GET');
    expect(echo.url).toBe('/echo');
    expect(echo.headers.host).toBe(`127.0.0.1:${b.port}`);
    const up = await request(b, '/upload', { method: 'POST', body: Buffer.alloc(300_000) });
    expect(JSON.parse(up.body)).toEqual({ bytes: 300_000 });
  });

  it('streams /bytes/N', async () => {
    const b = await backend('d');
    const r = await request(b, '/bytes/200000');
    expect(r.body.length).toBe(200_000);
    expect(r.headers['content-length']).toBe('200000');
  });

  it('down refuses connections and comes back on the same port', async () => {
    const b = await backend('x');
    const port = b.port;
    await b.setMode('down');
    await expect(request(b, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await b.setMode('ok');
    expect(b.port).toBe(port);
    expect((await request(b, '/')).status).toBe(200);
  });

  it('5xx answers 503 or the given status', async () => {
    const b = await backend('f');
    await b.setMode('5xx');
    expect((await request(b, '/')).status).toBe(503);
    await b.setMode('5xx', { status: 500 });
    const r = await request(b, '/');
    expect(r.status).toBe(500);
    expect(r.headers['x-backend']).toBe('f');
  });

  it('hang never answers; slow answers after the latency', async () => {
    const b = await backend('h');
    await b.setMode('hang');
    await expect(request(b, '/', { timeoutMs: 150 })).rejects.toThrow('timeout');
    await b.setMode('slow', { latencyMs: 120 });
    const t0 = performance.now();
    expect((await request(b, '/')).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(100);
  });

  it('reset-mid-body sends headers then kills the connection', async () => {
    const b = await backend('r');
    await b.setMode('reset-mid-body');
    await expect(request(b, '/')).rejects.toThrow();
  });

  it('health is independent of traffic mode', async () => {
    const b = await backend('hh');
    b.setHealth('fail');
    expect((await request(b, '/healthz')).status).toBe(503);
    expect((await request(b, '/')).status).toBe(200);
    b.setHealth('hang');
    await expect(request(b, '/healthz', { timeoutMs: 100 })).rejects.toThrow('timeout');
    b.setHealth('ok');
    await b.setMode('5xx');
    expect((await request(b, '/healthz')).status).toBe(200);
  });

  it('answers 503 beyond capacity', async () => {
    const b = await backend('c', { capacity: 1 });
    await b.setMode('slow', { latencyMs: 200 });
    const first = request(b, '/');
    await new Promise((r) => setTimeout(r, 50));
    expect(b.inFlight).toBe(1);
    expect((await request(b, '/')).status).toBe(503);
    expect((await first).status).toBe(200);
    expect({ requests: b.requests, rejected: b.rejected }).toEqual({ requests: 2, rejected: 1 });
  });

  it('frees a capacity slot once the answer is written, not once the client has read it', async () => {
    // 8 MB outgrows the socket buffers, so a client that never reads keeps the write pending:
    // the slot is free all the same, as a real server's worker is once its answer is handed over.
    const big = 'x'.repeat(8 << 20);
    const b = await backend('w', { capacity: 1, greeting: () => big });
    const stalled = net.connect(b.port, '127.0.0.1');
    stalled.pause();
    stalled.write('GET / HTTP/1.1\r\nhost: w\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (b.requests === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(b.requests).toBe(1);
    expect(b.inFlight).toBe(0);
    const second = await request(b, '/healthz');
    expect(second.status).toBe(200);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: b.port, path: '/' }, resolve);
      req.on('error', reject);
    });
    res.destroy();
    expect(res.statusCode).toBe(200);
    expect(b.rejected).toBe(0);
    stalled.destroy();
  });

  it('holds the slot of an unanswered request until its client goes', async () => {
    const b = await backend('h', { capacity: 1 });
    await b.setMode('hang');
    const hung = net.connect(b.port, '127.0.0.1');
    hung.write('GET / HTTP/1.1\r\nhost: h\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (b.inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(b.inFlight).toBe(1);
    await b.setMode('ok');
    expect((await request(b, '/')).status).toBe(503);
    hung.destroy();
    while (b.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(b.inFlight).toBe(0);
    expect((await request(b, '/')).status).toBe(200);
  });

  it('counts a request as answered once its answer is written, not when its client left first', async () => {
    const b = await backend('ans');
    await b.setMode('hang');
    const gone = net.connect(b.port, '127.0.0.1');
    gone.write('GET / HTTP/1.1\r\nhost: ans\r\n\r\n');
    const deadline = Date.now() + 5000;
    while (b.inFlight === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    gone.destroy();
    while (b.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await b.setMode('ok');
    expect((await request(b, '/')).status).toBe(200);
    expect((await request(b, '/healthz')).status).toBe(200);
    expect(b.requests).toBe(2);
    expect(b.answered).toBe(1);
  });

  it('extra headers appear on every answer', async () => {
    const b = await backend('lame');
    b.setExtraHeaders({ 'x-lame-duck': '1' });
    expect((await request(b, '/')).headers['x-lame-duck']).toBe('1');
  });

  it('flap alternates between up and down', async () => {
    const b = await backend('fl', { flapPeriodMs: 60 });
    await b.setMode('flap');
    let ok = 0;
    let refused = 0;
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && (ok === 0 || refused === 0)) {
      try {
        await request(b, '/', { timeoutMs: 500 });
        ok++;
      } catch {
        refused++;
      }
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(ok).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('upgrade echoes bytes both ways', async () => {
    const b = await backend('ws');
    const sock = net.connect(b.port, '127.0.0.1');
    sock.write('GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    let got = '';
    await new Promise<void>((resolve, reject) => {
      sock.on('error', reject);
      sock.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        if (got.includes('\r\n\r\n') && !got.includes('ping')) sock.write('ping');
        if (got.endsWith('ping')) resolve();
      });
    });
    sock.destroy();
    expect(got.startsWith('HTTP/1.1 101')).toBe(true);
  });

  it('startFakeBackends names them with a prefix', async () => {
    const bs = await startFakeBackends(3, 'n');
    started.push(...bs);
    expect(bs.map((b) => b.name)).toEqual(['n0', 'n1', 'n2']);
    expect(new Set(bs.map((b) => b.port)).size).toBe(3);
  });
});
