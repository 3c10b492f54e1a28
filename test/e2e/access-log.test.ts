// The access log end to end: a real balancer writing to log.file, lines parsed as JSON, exact
// byte counts from raw sockets, the upstream named on a refused connect, and reopen after the
// file was renamed (what logrotate does before signalling).
import net from 'node:net';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

let backends: FakeBackend[] = [];
let lb: TestBalancer | undefined;

afterEach(async () => {
  await lb?.close();
  lb = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** Request lines of the log file (msg "request"), waiting until `n` are there. */
async function requestLines(file: string, n: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = existsSync(file)
      ? readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((l) => l['msg'] === 'request')
      : [];
    if (lines.length >= n || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One raw request with Connection: close; resolves with every byte the proxy sent. */
function rawExchange(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('raw request timed out')));
  });
}

function config(backends: FakeBackend[], access: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    log: { level: 'info', access, file: 'logs/fulcrum.log' },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'round-robin',
        backends: backends.map((b) => ({ name: b.name, address: b.address })),
      },
    },
  };
}

describe('access log', () => {
  it('writes path (no query), client, Host, user agent, exact bytes, upstream and timings as JSON to log.file', async () => {
    backends = [await startFakeBackend({ name: 'a1' })];
    lb = await startTestBalancer(config(backends), { force: true });
    const file = join(dirname(lb.configFile), 'logs', 'fulcrum.log');
    const port = Number(new URL(lb.url()).port);
    const body = 'hello=world';
    const request =
      `POST /orders/42?token=secret HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: probe/1.0 "x"\r\n` +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const response = await rawExchange(port, request);
    expect(response.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);

    const [line] = await requestLines(file, 1);
    expect(line).toMatchObject({
      level: 30,
      service: 'fulcrum',
      listener: 'web',
      pool: 'app',
      backend: 'a1',
      status: 200,
      method: 'POST',
      path: '/orders/42',
      client: '127.0.0.1',
      host: 'shop.example.com',
      userAgent: 'probe/1.0 "x"',
      bytesIn: Buffer.byteLength(request),
      bytesOut: response.length,
      upstream: backends[0]?.address,
      retries: 0,
      msg: 'request',
    });
    expect(line?.['error']).toBeUndefined();
    const connectMs = line?.['connectMs'] as number;
    const firstByteMs = line?.['firstByteMs'] as number;
    expect(connectMs).toBeGreaterThanOrEqual(0);
    expect(firstByteMs).toBeGreaterThanOrEqual(connectMs);
    expect(line?.['durationMs'] as number).toBeGreaterThanOrEqual(firstByteMs);
  });

  it('names the upstream of a 502 after a refused connect, with the error code and no first byte', async () => {
    const down = await startFakeBackend({ name: 'gone' });
    backends = [down];
    await down.setMode('down');
    lb = await startTestBalancer(config(backends), { force: true });
    const file = join(dirname(lb.configFile), 'logs', 'fulcrum.log');
    const r = await httpRequest({ port: Number(new URL(lb.url()).port), path: '/x' });
    expect(r.status).toBe(502);
    const [line] = await requestLines(file, 1);
    expect(line).toMatchObject({
      status: 502,
      path: '/x',
      upstream: down.address,
      error: 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT',
    });
    // The error body and the head fulcrum wrote.
    expect(line?.['bytesOut'] as number).toBeGreaterThan(r.body.length);
    expect(line?.['firstByteMs']).toBeUndefined();
    expect(line?.['connectMs']).toBeUndefined();
  });

  it('writes only the chosen fields, query kept when asked, and follows a new field list on apply', async () => {
    backends = [await startFakeBackend({ name: 'a1' })];
    lb = await startTestBalancer(config(backends, { fields: ['status', 'path'], query: true }), {
      force: true,
    });
    const file = join(dirname(lb.configFile), 'logs', 'fulcrum.log');
    const port = Number(new URL(lb.url()).port);
    await httpRequest({ port, path: '/a?b=c' });
    const [first] = await requestLines(file, 1);
    expect(first).toEqual({
      level: 30,
      time: expect.any(Number),
      service: 'fulcrum',
      status: 200,
      path: '/a?b=c',
      msg: 'request',
    });

    const applied = await lb.balancer.controller.apply(
      JSON.stringify({ version: 1, ...config(backends, { fields: ['method'] }) }),
      { source: 'api', author: 'test', force: true },
    );
    expect(applied.status).toBe('applied');
    await httpRequest({ port, path: '/a?b=c' });
    const lines = await requestLines(file, 2);
    expect(lines[1]).toEqual({
      level: 30,
      time: expect.any(Number),
      service: 'fulcrum',
      method: 'GET',
      msg: 'request',
    });
  });

  it('reopens log.file after a rename: earlier lines stay in the renamed file, later ones go to a new one', async () => {
    backends = [await startFakeBackend({ name: 'a1' })];
    lb = await startTestBalancer(config(backends), { force: true });
    const file = join(dirname(lb.configFile), 'logs', 'fulcrum.log');
    const port = Number(new URL(lb.url()).port);
    await httpRequest({ port, path: '/before' });
    expect((await requestLines(file, 1)).map((l) => l['path'])).toEqual(['/before']);
    renameSync(file, `${file}.1`);
    lb.balancer.reopenLog();
    await httpRequest({ port, path: '/after' });
    expect((await requestLines(file, 1)).map((l) => l['path'])).toEqual(['/after']);
    expect((await requestLines(`${file}.1`, 1)).map((l) => l['path'])).toEqual(['/before']);
  });
});
