// Issue 11 "done when": a run with secret webhook URLs (a local receiver on a secret path and
// query, an unreachable one, Slack's https://hooks.example/services/T/B/SECRET shape) keeps
// every part of their paths and queries out of /metrics, the log, the alert payloads and
// the admin reads, while the notifications are delivered and counted by notifier name.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../../src/main.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { testWorkers } from '../helpers/balancer.ts';

const PARTS = [
  '/services/',
  'T000',
  'B000',
  'RXSECRET',
  'RXQUERY',
  'T111',
  'DEADSECRET',
  'DEADQUERY',
  'T222',
  'HOOKSSECRET',
];

let receiver: Server;
const received: { url: string; body: string }[] = [];
let backend: FakeBackend;
let balancer: Balancer;
let logFile: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ url: req.url ?? '', body });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const rx = (receiver.address() as AddressInfo).port;
  backend = await startFakeBackend({ name: 'app-1' });
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-secrets-'));
  const file = join(dir, 'fulcrum.yaml');
  logFile = join(dir, 'fulcrum.log');
  writeFileSync(
    file,
    YAML.stringify({
      version: 1,
      ...testWorkers(),
      log: { level: 'debug', access: true },
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          backends: [
            { name: 'app-1', address: backend.address },
            // Nothing listens on port 9: this backend goes down and fires BackendDown.
            { name: 'app-gone', address: '127.0.0.1:9' },
          ],
          healthCheck: { interval: '200ms', timeout: '150ms', unhealthyThreshold: 1, healthyThreshold: 1 },
        },
      },
      monitor: {
        notify: [
          { webhook: `http://127.0.0.1:${rx}/services/T000/B000/RXSECRET?sig=RXQUERY` },
          { webhook: 'http://127.0.0.1:9/services/T111/B111/DEADSECRET?key=DEADQUERY' },
          { name: 'slack', webhook: 'https://hooks.example/services/T222/B222/HOOKSSECRET' },
        ],
      },
      audit: { schedule: '' },
      admin: { address: '127.0.0.1:0' },
    }),
  );
  balancer = await startBalancer({
    configFile: file,
    env: {},
    memoryStore: true,
    logDestination: logFile,
    force: true,
  });
});

afterAll(async () => {
  await balancer?.close(0);
  await backend?.close();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
});

async function metrics(): Promise<string> {
  return (await fetch(`${balancer.adminUrl}/metrics`)).text();
}

describe('a run with secret webhook URLs', () => {
  it('delivers and counts by name, and no path or query part shows in metrics, logs, alerts or admin reads', async () => {
    // BackendDown fires after its 10 s; the receiver gets it; the dead target gives up after retries.
    await expect.poll(() => received.length, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(1);
    expect(received[0]?.url).toBe('/services/T000/B000/RXSECRET?sig=RXQUERY');
    await expect
      .poll(metrics, { timeout: 60_000, interval: 500 })
      .toMatch(/fulcrum_notifications_total\{notifier="webhook-1",result="failed"\} [1-9]/);
    const text = await metrics();
    expect(text).toMatch(/fulcrum_notifications_total\{notifier="webhook-0",result="sent"\} [1-9]/);

    const reads = await Promise.all(
      ['/api/v1/config', '/api/v1/config/versions/1', '/api/v1/alerts', '/api/v1/config/events'].map(
        async (p) => (await fetch(`${balancer.adminUrl}${p}`)).text(),
      ),
    );
    expect(reads[0]).toContain('http://127.0.0.1:9');
    expect(reads[2]).toContain('BackendDown');
    await balancer.close(0);
    const log = readFileSync(logFile, 'utf8');
    // The give-up was logged, with the URL cut to scheme://host:port.
    expect(log).toMatch(
      /"notifier":"webhook-1","url":"http:\/\/127\.0\.0\.1:9","msg":"notification failed after retries"/,
    );
    const seen = { metrics: text, log, alerts: received.map((r) => r.body).join('\n'), ...reads };
    for (const [where, content] of Object.entries(seen))
      for (const part of PARTS) expect(content, `${where} shows ${part}`).not.toContain(part);
  }, 150_000);
});
