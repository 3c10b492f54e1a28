import net from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.ts';
import { buildSnapshot } from '../../src/data-plane/snapshot.ts';
import { Monitor } from '../../src/monitor/monitor.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';

let backends: FakeBackend[] = [];
let harness: Harness | undefined;
let monitor: Monitor | undefined;

afterEach(async () => {
  monitor?.stop();
  monitor = undefined;
  await harness?.close();
  harness = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

/** One upgrade handshake carrying `user` in x-user; resolves with the status line once answered. */
function handshake(port: number, user: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(
      () => reject(new Error(`no handshake answer, got ${JSON.stringify(got)}`)),
      5000,
    );
    socket.on('error', reject);
    socket.write(
      `GET /ws HTTP/1.1\r\nHost: chat.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nx-user: ${user}\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    socket.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(got.slice(0, got.indexOf('\r\n')));
    });
  });
}

describe('proxy: WebSocket upgrades on a hash-keyed pool', () => {
  it("report the request's hash key, so the monitor's hot-key tracking sees WebSocket keys", async () => {
    backends = await startFakeBackends(3);
    const input = simpleConfig(backends, { policy: 'consistent-hash', hash: { key: 'header:x-user' } });
    harness = await startProxy(input);
    const h = harness;
    const snapshot = buildSnapshot(h.config, 1, h.registry, { random: () => 0 });
    const clock = new FakeClock();
    monitor = new Monitor({
      hub: h.hub,
      clock,
      logger: pino({ level: 'silent' }),
      getSnapshot: () => snapshot,
    });
    monitor.evaluate();
    const users = ['user-7', 'user-7', 'user-7', 'user-7', 'user-2'];
    for (const user of users) expect(await handshake(h.port(), user)).toMatch(/^HTTP\/1\.1 101/);
    // Each tunnel reports when its client socket closes; wait (bounded) for all five.
    const deadline = Date.now() + 5000;
    while (h.outcomes.length < users.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(h.outcomes.map((o) => o.hashKey)).toEqual(users);
    monitor.evaluate();
    const hot = monitor.poolStats().find((p) => p.pool === 'app')?.hotKey;
    expect(hot?.key).toBe('user-7');
    expect(hot?.share).toBeCloseTo(0.8);
    // The hot key went to one backend, the one the ring maps user-7 to.
    const seven = h.outcomes.filter((o) => o.hashKey === 'user-7').map((o) => o.backend);
    expect(new Set(seven).size).toBe(1);
    expect(hot?.backend).toBe(seven[0]);
  });
});
