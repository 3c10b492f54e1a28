import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';
import { selfSignedCert } from '../../src/testing/tls-cert.ts';

let backends: FakeBackend[] = [];
let harness: Harness | undefined;
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-'));
  selfSignedCert(join(dir, 'key.pem'), join(dir, 'cert.pem'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** Raw upgrade handshake; resolves with the response head and a socket to talk on. */
function handshake(port: number, path = '/ws'): Promise<{ head: string; socket: net.Socket; rest: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: chat.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    const onData = (c: Buffer): void => {
      got += c.toString('latin1');
      const end = got.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      resolve({ head: got.slice(0, end), socket, rest: got.slice(end + 4) });
    };
    socket.on('data', onData);
  });
}

function readExactly(socket: net.Socket, n: number, already = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = already;
    if (got.length >= n) return resolve(got);
    const t = setTimeout(() => reject(new Error(`read timeout, got ${JSON.stringify(got)}`)), 3000);
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.length >= n) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

describe('proxy: WebSocket upgrade', () => {
  it('passes the handshake through and bytes both ways', async () => {
    backends = await startFakeBackends(2);
    harness = await startProxy(simpleConfig(backends));
    const { head, socket, rest } = await handshake(harness.port());
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    expect(head.toLowerCase()).toContain('upgrade: websocket');
    expect(head.toLowerCase()).toContain('connection: upgrade');
    expect(head).toMatch(/x-backend: b[01]/);
    // The fake backend echoes: what comes back crossed the tunnel both ways.
    socket.write('hello over the tunnel');
    expect(await readExactly(socket, 21, rest)).toBe('hello over the tunnel');
    socket.write(Buffer.alloc(100_000, 0x7a));
    const big = await readExactly(socket, 100_000);
    expect(big).toBe('z'.repeat(100_000));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    expect(harness.outcomes[0]).toMatchObject({ status: 101, pool: 'app' });
    const host = harness.host('app', (backends.find((b) => b.requests === 1) as FakeBackend).address);
    expect(host?.inFlight).toBe(0);
  });

  it('relays a backend that declines the upgrade, then closes', async () => {
    const plain = http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', 'x-backend': 'plain' });
      res.end('no websocket here');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const address = `127.0.0.1:${(plain.address() as net.AddressInfo).port}`;
      harness = await startProxy({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'plain', address }] } },
      });
      const { head, socket, rest } = await handshake(harness.port());
      expect(head).toMatch(/^HTTP\/1\.1 426/);
      expect(head).toContain('x-backend: plain');
      const body = await new Promise<string>((resolve) => {
        let got = rest;
        socket.on('data', (c: Buffer) => (got += c.toString()));
        socket.on('close', () => resolve(got));
      });
      expect(body).toBe('no websocket here');
      expect(harness.outcomes[0]).toMatchObject({ status: 426 });
    } finally {
      plain.close();
    }
  });

  it('answers 502 when the backend refuses the connection', async () => {
    backends = await startFakeBackends(1);
    await (backends[0] as FakeBackend).setMode('down');
    harness = await startProxy(simpleConfig(backends));
    const { head } = await handshake(harness.port());
    expect(head).toMatch(/^HTTP\/1\.1 502/);
    expect(head).toContain('x-fulcrum-error: FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
    // The outcome names the backend that refused (issue 12); "no backend" it was not.
    expect(harness.outcomes[0]).toMatchObject({ status: 502, backend: 'b0', noBackend: false });
    expect(harness.host('app', (backends[0] as FakeBackend).address)?.failures).toBe(1);
  });
});

describe('proxy: TLS termination', () => {
  it('serves HTTPS on a listener with tls.cert and tls.key, forwarding plain HTTP', async () => {
    backends = await startFakeBackends(1);
    harness = await startProxy(
      simpleConfig(backends, {}, { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } }),
    );
    const r = await httpRequest({ port: harness.port(), path: '/echo', tls: true });
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.text) as { headers: Record<string, string> };
    expect(echo.headers['x-forwarded-proto']).toBe('https');
    // The listener really speaks TLS, with the configured certificate.
    const s = tls.connect({ port: harness.port(), host: '127.0.0.1', rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      s.on('secureConnect', () => resolve());
      s.on('error', reject);
    });
    expect(s.getPeerCertificate().subject?.CN).toBe('localhost');
    s.destroy();
  });

  it('resumes TLS sessions on new connections, whichever of the listening sockets takes them', async () => {
    backends = await startFakeBackends(1);
    harness = await startProxy(
      simpleConfig(backends, {}, { tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } }),
    );
    const port = harness.port();
    const connect = (session?: Buffer): Promise<{ socket: tls.TLSSocket; ticket: Promise<Buffer> }> =>
      new Promise((resolve, reject) => {
        const socket = tls.connect({
          port,
          host: '127.0.0.1',
          rejectUnauthorized: false,
          ...(session ? { session } : {}),
        });
        // TLS 1.3 sends the ticket after the handshake.
        const ticket = new Promise<Buffer>((r) => socket.once('session', r));
        socket.once('secureConnect', () => resolve({ socket, ticket }));
        socket.once('error', reject);
      });
    const first = await connect();
    const session = await first.ticket;
    first.socket.destroy();
    let reused = 0;
    // New connections come from new source ports, which SO_REUSEPORT spreads over the sockets.
    for (let i = 0; i < 12; i++) {
      const { socket } = await connect(session);
      if (socket.isSessionReused()) reused++;
      socket.destroy();
    }
    expect(reused).toBe(12);
  });

  it('refuses to start with unreadable TLS files: FULCRUM_ERR_TLS', async () => {
    backends = await startFakeBackends(1);
    const bad = join(dir, 'not-a-key.pem');
    writeFileSync(bad, 'garbage');
    await expect(
      startProxy(simpleConfig(backends, {}, { tls: { cert: join(dir, 'cert.pem'), key: bad } })),
    ).rejects.toMatchObject({ code: 'FULCRUM_ERR_TLS' });
    await expect(
      startProxy(simpleConfig(backends, {}, { tls: { cert: join(dir, 'missing.pem'), key: bad } })),
    ).rejects.toMatchObject({ code: 'FULCRUM_ERR_TLS' });
  });
});
