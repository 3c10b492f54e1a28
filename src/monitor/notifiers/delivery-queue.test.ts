import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../testing/monitor-kit.ts';
import { DeliveryQueue, type DeliveryResult } from './delivery-queue.ts';
import { alertmanagerUrl } from './notifier.ts';

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A receiver answering statuses from a script (then 200), recording bodies. */
async function receiver(script: number[]): Promise<{ url: string; bodies: string[]; hits: () => number }> {
  const bodies: string[] = [];
  let hits = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const status = script[hits++] ?? 200;
      if (status === 200) bodies.push(body);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => (server as Server).listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${((server as Server).address() as AddressInfo).port}/`,
    bodies,
    hits: () => hits,
  };
}

describe('DeliveryQueue', () => {
  it('retries 5xx with back-off, keeps order, and does not retry 4xx', async () => {
    const rx = await receiver([503, 500, 200, 400]);
    const results: DeliveryResult[] = [];
    const q = new DeliveryQueue({
      name: 't',
      url: rx.url,
      logger: silentLogger,
      baseBackoffMs: 5,
      onResult: (r) => results.push(r),
    });
    q.push({ body: 'first', alerts: 1 });
    q.push({ body: 'second', alerts: 1 });
    q.push({ body: 'third', alerts: 1 });
    await q.idle();
    expect(results).toEqual(['sent', 'rejected', 'sent']);
    expect(rx.bodies).toEqual(['first', 'third']);
    expect(rx.hits()).toBe(5);
  });

  it('retries network errors and gives up after maxAttempts', async () => {
    const results: DeliveryResult[] = [];
    // Port 9 on loopback: nothing listens, connections are refused.
    const q = new DeliveryQueue({
      name: 't',
      url: 'http://127.0.0.1:9/',
      logger: silentLogger,
      baseBackoffMs: 2,
      maxAttempts: 3,
      onResult: (r) => results.push(r),
    });
    q.push({ body: 'x', alerts: 1 });
    await q.idle();
    expect(results).toEqual(['failed']);
  });

  it('drops the oldest delivery when full and counts it; push never blocks', async () => {
    const rx = await receiver([]);
    const results: DeliveryResult[] = [];
    const q = new DeliveryQueue({
      name: 't',
      url: rx.url,
      logger: silentLogger,
      capacity: 3,
      onResult: (r) => results.push(r),
    });
    for (let i = 0; i < 10; i++) q.push({ body: `n${i}`, alerts: 1 });
    // n0 went in flight at once; of n1..n9 only the newest three wait.
    expect(q.length).toBe(3);
    expect(q.dropped).toBe(6);
    await q.idle();
    expect(rx.bodies).toEqual(['n0', 'n7', 'n8', 'n9']);
    expect(results.filter((r) => r === 'dropped')).toHaveLength(6);
  });

  it('completes the Alertmanager URL only when the API path is missing', () => {
    expect(alertmanagerUrl('http://am:9093')).toBe('http://am:9093/api/v2/alerts');
    expect(alertmanagerUrl('http://am:9093/api/v2/alerts')).toBe('http://am:9093/api/v2/alerts');
  });
});
