// TLS over worker threads (issue 13): every worker's sockets hold the same session ticket
// keys, so a client resumes its session whichever worker accepts its next connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { selfSignedCert } from '../../src/testing/tls-cert.ts';

let dir: string;
let backends: FakeBackend[];
let tb: TestBalancer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-workers-tls-'));
  selfSignedCert(join(dir, 'key.pem'), join(dir, 'cert.pem'));
  backends = await startFakeBackends(2);
  tb = await startTestBalancer(
    {
      workers: 4,
      listeners: {
        web: {
          address: '127.0.0.1:0',
          tls: { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') },
          routes: [{ pool: 'app' }],
        },
      },
      pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })) } },
    },
    { force: true },
  );
});

afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** One HTTPS GET on a new connection; whether the TLS session was resumed, and the status. */
function get(
  port: number,
  session?: Buffer,
): Promise<{ reused: boolean; status: string; ticket: Promise<Buffer> }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      port,
      host: '127.0.0.1',
      rejectUnauthorized: false,
      ...(session ? { session } : {}),
    });
    const ticket = new Promise<Buffer>((r) => socket.once('session', r));
    let data = '';
    socket.once('secureConnect', () =>
      socket.write('GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n'),
    );
    socket.setEncoding('utf8').on('data', (d: string) => (data += d));
    socket.once('end', () => {
      resolve({ reused: socket.isSessionReused(), status: data.slice(0, data.indexOf('\r\n')), ticket });
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('TLS with workers: 4', () => {
  it('resumes sessions on new connections whichever worker takes them', async () => {
    const port = Number(new URL(tb.url()).port);
    const first = await get(port);
    expect(first.status).toBe('HTTP/1.1 200 OK');
    const session = await first.ticket;
    const results = [];
    for (let i = 0; i < 24; i++) results.push(await get(port, session));
    expect(results.map((r) => r.status)).toEqual(new Array(24).fill('HTTP/1.1 200 OK'));
    expect(results.filter((r) => r.reused).length).toBe(24);
    // The connections really reached several workers.
    const text = await (await fetch(`${tb.adminUrl}/metrics`)).text();
    const served = [...text.matchAll(/^fulcrum_worker_requests_total\{worker="\d+"\} (\d+)/gm)].map((m) =>
      Number(m[1]),
    );
    expect(served.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);
  });
});
