// The monitor on a real balancer: real HTTP requests through a ProxyServer to real loopback
// backends (which fail on demand), outcomes through the EventHub into the Monitor. Monitor
// time is a FakeClock moved one second per batch of requests, so windows and `for` are
// exact while every request is real.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { HostRegistry } from '../../src/data-plane/host-state.ts';
import type { AlertView } from '../../src/monitor/alerts.ts';
import { Monitor } from '../../src/monitor/monitor.ts';
import { seeded, silentLogger } from '../../src/testing/monitor-kit.ts';
import { ProxyServer } from '../../src/proxy/proxy-server.ts';
import { buildSnapshot, type Snapshot } from '../../src/data-plane/snapshot.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';

let backends: FakeBackend[] = [];
let proxy: ProxyServer | undefined;
let monitor: Monitor | undefined;

afterEach(async () => {
  monitor?.stop();
  await proxy?.shutdown(0);
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
  proxy = undefined;
  monitor = undefined;
});

async function balancer(
  pool: (bs: FakeBackend[]) => Record<string, unknown>,
  opts: { capacity?: number; latencyMs?: number } = {},
) {
  backends = await Promise.all([1, 2, 3].map((i) => startFakeBackend({ name: `app-${i}`, ...opts })));
  const hub = new EventHub();
  const registry = new HostRegistry();
  const clock = new FakeClock();
  const build = (version: number, p: Record<string, unknown>) =>
    buildSnapshot(
      configSchema.parse({
        version: 1,
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: p },
        audit: { schedule: '' },
      }),
      version,
      registry,
      { random: seeded(version) },
    );
  let snap: Snapshot = build(1, pool(backends));
  const p = new ProxyServer({ hub, logger: silentLogger });
  proxy = p;
  await p.activate(snap);
  const m = new Monitor({
    hub,
    clock,
    logger: silentLogger,
    getSnapshot: () => snap,
    configVersionInfo: (v) => ({
      version: v,
      createdAt: Date.UTC(2026, 0, 1, v),
      author: v === 2 ? 'alice' : 'bob',
    }),
  });
  monitor = m;
  const fired: { at: number; alert: AlertView }[] = [];
  m.alertTransitions.subscribe((alert) => alert.state === 'firing' && fired.push({ at: clock.now(), alert }));
  m.start();
  const port = p.boundAddress('web')?.port as number;
  return {
    clock,
    fired,
    port,
    monitor: m,
    async apply(version: number, next: Record<string, unknown>) {
      snap = build(version, next);
      await p.activate(snap);
    },
  };
}

const agent = () => new http.Agent({ keepAlive: true, maxSockets: 64 });

describe('monitor on a real balancer', () => {
  it('a consistent-hash pool where most requests share one key fires BackendOverfed naming the backend and the key', async () => {
    const b = await balancer((bs) => ({
      policy: 'consistent-hash',
      hash: { key: 'header:x-user-id' },
      backends: bs.map((x) => ({ name: x.name, address: x.address })),
    }));
    const a = agent();
    const rnd = seeded(1);
    const hotKey = 'user-42';
    let hotBackend: string | undefined;
    let faultAt = 0;
    for (let second = 0; second < 130; second++) {
      const faulty = second >= 40;
      if (second === 40) faultAt = b.clock.now();
      for (let i = 0; i < 20; i++) {
        const key = faulty && rnd() < 0.8 ? hotKey : `user-${Math.floor(rnd() * 100_000)}`;
        // Sequential: nothing in flight, so the bounded-load ring never spills the hot key.
        const r = await httpRequest({ port: b.port, agent: a, headers: { 'x-user-id': key } });
        expect(r.status).toBe(200);
        if (key === hotKey) hotBackend = String(r.headers['x-backend']);
      }
      b.clock.advance(1000);
      if (b.fired.some((f) => f.alert.alertname === 'BackendOverfed')) break;
    }
    a.destroy();
    const hit = b.fired.find((f) => f.alert.alertname === 'BackendOverfed');
    expect(hit, 'BackendOverfed').toBeDefined();
    const h = hit as { at: number; alert: AlertView };
    expect(h.alert.labels['backend']).toBe(hotBackend);
    expect(h.alert.annotations['cause_kind']).toBe('hot-hash-key');
    expect(h.alert.annotations['cause']).toContain('"user-42" (header:x-user-id)');
    const seconds = (h.at - faultAt) / 1000;
    expect(seconds).toBeLessThanOrEqual(60);
    console.log(`[monitor] live: hot hash key → BackendOverfed(${hotBackend}) after ${seconds} s (20 rps)`);
  });

  it('weights piling traffic onto a backend beyond its capacity fire BackendOverloaded naming the skew', async () => {
    // Each backend serves 12 requests at once and answers 503 beyond.
    const b = await balancer(
      (bs) => ({
        policy: 'weighted-round-robin',
        backends: bs.map((x) => ({ name: x.name, address: x.address })),
      }),
      { capacity: 12, latencyMs: 30 },
    );
    const a = agent();
    const batch = async () => {
      const replies = await Promise.all(
        Array.from({ length: 30 }, () => httpRequest({ port: b.port, agent: a })),
      );
      b.clock.advance(1000);
      return replies;
    };
    for (let s = 0; s < 40; s++) {
      for (const r of await batch()) expect(r.status).toBe(200);
    }
    expect(b.fired).toEqual([]);
    await b.apply(2, {
      policy: 'weighted-round-robin',
      backends: backends.map((x, i) => ({ name: x.name, address: x.address, weight: i === 0 ? 8 : 1 })),
    });
    const faultAt = b.clock.now();
    let errors = 0;
    for (let s = 0; s < 90 && !b.fired.some((f) => f.alert.alertname === 'BackendOverloaded'); s++) {
      errors += (await batch()).filter((r) => r.status === 503).length;
    }
    a.destroy();
    expect(errors).toBeGreaterThan(0);
    const hit = b.fired.find((f) => f.alert.alertname === 'BackendOverloaded');
    expect(hit, 'BackendOverloaded').toBeDefined();
    const h = hit as { at: number; alert: AlertView };
    expect(h.alert.labels['backend']).toBe('app-1');
    expect(h.alert.annotations['cause_kind']).toBe('weight-skew');
    expect(h.alert.annotations['cause']).toMatch(/weights skewed 8:1 .*config version 2 .*by alice/);
    expect(b.fired.some((f) => f.alert.alertname === 'BackendOverfed')).toBe(false);
    const seconds = (h.at - faultAt) / 1000;
    console.log(`[monitor] live: weights 8:1 beyond capacity → BackendOverloaded(app-1) after ${seconds} s`);
  });

  it('a backend answering 503 fires ServiceUnavailableBurn within a minute', async () => {
    const b = await balancer((bs) => ({
      policy: 'round-robin',
      backends: bs.map((x) => ({ name: x.name, address: x.address })),
    }));
    const a = agent();
    const run = async () => {
      await Promise.all(Array.from({ length: 20 }, () => httpRequest({ port: b.port, agent: a })));
      b.clock.advance(1000);
    };
    for (let s = 0; s < 60; s++) await run();
    expect(b.fired).toEqual([]);
    await (backends[2] as FakeBackend).setMode('5xx', { status: 503 });
    const faultAt = b.clock.now();
    for (let s = 0; s < 60 && !b.fired.some((f) => f.alert.alertname === 'ServiceUnavailableBurn'); s++)
      await run();
    a.destroy();
    const hit = b.fired.find((f) => f.alert.alertname === 'ServiceUnavailableBurn');
    expect(hit, 'ServiceUnavailableBurn').toBeDefined();
    const h = hit as { at: number; alert: AlertView };
    expect(h.alert.annotations['description']).toContain('app-3');
    expect(b.monitor.degradedReasons().some((r) => r.startsWith('ServiceUnavailableBurn'))).toBe(true);
    const seconds = (h.at - faultAt) / 1000;
    expect(seconds).toBeLessThanOrEqual(60);
    console.log(
      `[monitor] live: one backend of three answering 503 → ServiceUnavailableBurn after ${seconds} s`,
    );
  });
});
