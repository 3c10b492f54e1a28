// Availability alerting end to end: 5xx bursts through the EventHub fire
// ServiceUnavailableBurn within a minute, and real HTTP receivers on loopback get the
// firing then the resolved notification in Alertmanager's formats.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.ts';
import { EventHub } from '../../src/core/events.ts';
import type { AlertView } from '../../src/monitor/alerts.ts';
import { Monitor } from '../../src/monitor/monitor.ts';
import { drive, seeded, silentLogger, testSnapshot } from '../../src/testing/monitor-kit.ts';

const config = (extra: Record<string, unknown> = {}) => ({
  version: 1,
  listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
  pools: {
    app: {
      policy: 'round-robin',
      backends: [1, 2, 3].map((i) => ({ name: `app-${i}`, address: `127.0.0.1:${9000 + i}` })),
    },
  },
  audit: { schedule: '' },
  ...extra,
});

function setup(cfg: unknown) {
  const hub = new EventHub();
  const clock = new FakeClock();
  const snap = testSnapshot(cfg, 1);
  const monitor = new Monitor({
    hub,
    clock,
    logger: silentLogger,
    getSnapshot: () => snap,
    notifierQueue: { baseBackoffMs: 20, maxAttempts: 4, timeoutMs: 2000 },
  });
  const transitions: { at: number; alert: AlertView }[] = [];
  monitor.alertTransitions.subscribe((alert) => transitions.push({ at: clock.now(), alert }));
  monitor.start();
  const state = snap.pools.get('app')?.state;
  const pick = () => state?.pick(undefined)?.name;
  // Six hours of quiet, clean history first, so the long burn windows hold a realistic past
  // (right after a start they hold only what was seen, and every pair reacts at once).
  drive({
    hub,
    clock,
    pool: 'app',
    seconds: 6 * 3600,
    rps: 1,
    shot: () => ({ backend: pick(), status: 200, durationMs: 10 }),
  });
  return { hub, clock, monitor, transitions, pick };
}

/** Seconds from fault to ServiceUnavailableBurn when app-3 answers 503 with probability p. */
function burnScenario(p: number): { seconds: number; alert: AlertView } {
  const { hub, clock, monitor, transitions, pick } = setup(config());
  const rnd = seeded(13);
  let faulty = false;
  const shot = () => {
    const backend = pick();
    const fail = faulty && backend === 'app-3' && rnd() < p;
    return { backend, status: fail ? 503 : 200, durationMs: 10 + rnd() * 20 };
  };
  drive({ hub, clock, pool: 'app', seconds: 120, rps: 30, shot });
  expect(transitions).toEqual([]);
  faulty = true;
  const faultAt = clock.now();
  drive({
    hub,
    clock,
    pool: 'app',
    seconds: 60,
    rps: 30,
    shot,
    onSecond: () => transitions.some((t) => t.alert.alertname === 'ServiceUnavailableBurn'),
  });
  monitor.stop();
  const hit = transitions.find((t) => t.alert.alertname === 'ServiceUnavailableBurn');
  expect(hit, 'ServiceUnavailableBurn within a minute').toBeDefined();
  const h = hit as { at: number; alert: AlertView };
  return { seconds: (h.at - faultAt) / 1000, alert: h.alert };
}

describe('monitor availability alerting (e2e)', () => {
  it('30% of requests answered 503 (one backend of three failing 90%) pages within a minute', () => {
    const { seconds, alert } = burnScenario(0.9);
    expect(seconds).toBeLessThanOrEqual(60);
    expect(alert.labels['pool']).toBe('app');
    expect(alert.labels['severity']).toBe('critical');
    expect(alert.annotations['description']).toContain('app-3');
    console.log(
      `[monitor] 30% 5xx → ServiceUnavailableBurn after ${seconds.toFixed(1)} s (pair ${alert.annotations['window']})`,
    );
  });

  it('one backend answering 503 to 30% of its requests (10% overall) pages within a minute', () => {
    const { seconds, alert } = burnScenario(0.3);
    expect(seconds).toBeLessThanOrEqual(60);
    console.log(
      `[monitor] 10% 5xx → ServiceUnavailableBurn after ${seconds.toFixed(1)} s (pair ${alert.annotations['window']})`,
    );
  });

  describe('notifications', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      server = undefined;
    });

    it('a webhook and an Alertmanager receiver get firing then resolved in Alertmanager format', async () => {
      const received: { path: string; body: unknown }[] = [];
      let failFirst = 1; // the first webhook delivery gets a 503 and must be retried
      server = createServer((req: IncomingMessage, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.url === '/hook' && failFirst-- > 0) {
            res.writeHead(503).end();
            return;
          }
          received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
          res.writeHead(200).end('{}');
        });
      });
      await new Promise<void>((r) => (server as Server).listen(0, '127.0.0.1', () => r()));
      const port = ((server as Server).address() as AddressInfo).port;
      const { hub, clock, monitor, transitions, pick } = setup(
        config({
          monitor: {
            notify: [
              { webhook: `http://127.0.0.1:${port}/hook` },
              { alertmanager: `http://127.0.0.1:${port}` },
            ],
          },
        }),
      );
      const rnd = seeded(21);
      let faulty = false;
      const shot = () => {
        const backend = pick();
        return { backend, status: faulty && backend === 'app-3' && rnd() < 0.9 ? 503 : 200, durationMs: 10 };
      };
      const isBurn = (t: { alert: AlertView }) => t.alert.alertname === 'ServiceUnavailableBurn';
      drive({ hub, clock, pool: 'app', seconds: 60, rps: 30, shot });
      // A short burst: fails until the page goes out, then the backend recovers.
      faulty = true;
      drive({
        hub,
        clock,
        pool: 'app',
        seconds: 60,
        rps: 30,
        shot,
        onSecond: () => transitions.some(isBurn),
      });
      faulty = false;
      drive({
        hub,
        clock,
        pool: 'app',
        seconds: 15 * 60,
        rps: 30,
        shot,
        onSecond: () => transitions.some((t) => isBurn(t) && t.alert.state === 'resolved'),
      });
      expect(transitions.filter(isBurn).map((t) => t.alert.state)).toEqual(['firing', 'resolved']);
      for (const n of monitor.notifiers()) await n.idle();
      monitor.stop();

      const hooks = received.filter((r) => r.path === '/hook').map((r) => r.body as Record<string, unknown>);
      const burnHooks = hooks.filter(
        (h) => (h['groupLabels'] as Record<string, string>)['alertname'] === 'ServiceUnavailableBurn',
      );
      expect(burnHooks.map((h) => h['status'])).toEqual(['firing', 'resolved']);
      const [firing, resolved] = burnHooks as [Record<string, unknown>, Record<string, unknown>];
      expect(firing).toMatchObject({
        version: '4',
        receiver: 'fulcrum',
        groupKey: '{}:{alertname="ServiceUnavailableBurn"}',
        commonLabels: { alertname: 'ServiceUnavailableBurn', pool: 'app', severity: 'critical' },
        externalURL: 'http://127.0.0.1:9901',
      });
      const fa = (firing['alerts'] as Record<string, unknown>[])[0] as Record<string, unknown>;
      expect(fa).toMatchObject({ status: 'firing', endsAt: '0001-01-01T00:00:00Z' });
      expect(typeof (fa['annotations'] as Record<string, string>)['summary']).toBe('string');
      // Every alert names the instance that raised it (host:pid by default).
      expect((fa['labels'] as Record<string, string>)['instance']).toBe(monitor.instance);
      const ra = (resolved['alerts'] as Record<string, unknown>[])[0] as Record<string, unknown>;
      expect(ra['status']).toBe('resolved');
      expect(Date.parse(ra['endsAt'] as string)).toBeGreaterThan(Date.parse(ra['startsAt'] as string));

      const am = received
        .filter((r) => r.path === '/api/v2/alerts')
        .map((r) => r.body as Record<string, unknown>[]);
      const amBurn = am
        .flat()
        .filter((a) => (a['labels'] as Record<string, string>)['alertname'] === 'ServiceUnavailableBurn');
      expect(amBurn.length).toBeGreaterThanOrEqual(2);
      const first = amBurn[0] as Record<string, string>;
      expect((amBurn[0] as { labels: Record<string, string> }).labels['instance']).toBe(monitor.instance);
      const last = amBurn[amBurn.length - 1] as Record<string, string>;
      expect(Object.keys(first).sort()).toEqual([
        'annotations',
        'endsAt',
        'generatorURL',
        'labels',
        'startsAt',
      ]);
      expect(first['generatorURL']).toBe('http://127.0.0.1:9901/api/v1/alerts');
      // Firing: endsAt in the future (valid until re-sent); resolved: endsAt = resolution time.
      expect(Date.parse(first['endsAt'] as string)).toBeGreaterThan(Date.parse(first['startsAt'] as string));
      const resolvedAt = transitions.find((t) => isBurn(t) && t.alert.state === 'resolved')?.alert.resolvedAt;
      expect(Date.parse(last['endsAt'] as string)).toBe(resolvedAt);
      console.log(
        `[monitor] notifications: webhook got ${hooks.length} payload(s) after one 503 retry, alertmanager ${am.length} POST(s)`,
      );
    });
  });
});
