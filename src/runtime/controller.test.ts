// The controller's failure paths with the real pieces: HealthManager (real probes over
// loopback), ProxyServer (real listeners), a SQLite store file, fake backends, client load.
// Every refusal must leave the running pool exactly as it was and cost no request.
import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import YAML from 'yaml';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.ts';
import { isFulcrumError } from '../core/errors.ts';
import { EventHub } from '../core/events.ts';
import { HealthManager } from '../health/health-manager.ts';
import { probe } from '../proxy/health-probe.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import { ProxyServer } from '../proxy/proxy-server.ts';
import { openSqliteStore } from '../store/sqlite-store.ts';
import type { Store } from '../store/store.ts';
import { startFakeBackend, startFakeBackends, type FakeBackend } from '../../test/helpers/fake-backend.ts';
import { countBackends, startLoad } from '../../test/helpers/load.ts';
import { checkpoint, corruptMiddlePage } from '../testing/store/corrupt-file.ts';
import { ConfigController } from './controller.ts';

const logger = pino({ level: 'silent' });
// Generous timeouts: a check must fail because the backend says so, not because the machine is busy.
const CHECK = { interval: '500ms', timeout: '3s', jitter: 0, healthyThreshold: 1, unhealthyThreshold: 3 };

interface Rig {
  backends: FakeBackend[];
  store: Store;
  storeFile: string;
  health: HealthManager;
  proxy: ProxyServer;
  registry: HostRegistry;
  controller: ConfigController;
  port: number;
}

function configText(
  backends: { name: string; address: string; weight?: number }[],
  extra: { listeners?: Record<string, unknown>; port?: number } = {},
): string {
  return YAML.stringify({
    version: 1,
    log: { level: 'silent', access: false },
    listeners: {
      web: { address: `127.0.0.1:${extra.port ?? 0}`, routes: [{ pool: 'app' }] },
      ...extra.listeners,
    },
    pools: {
      app: {
        policy: 'weighted-round-robin',
        healthCheck: CHECK,
        backends: backends.map((b) => ({ name: b.name, address: b.address, weight: b.weight ?? 1 })),
      },
    },
  });
}

/** What /api/v1/pools shows of the pool, minus traffic counters that load changes honestly. */
function poolView(r: Rig): unknown {
  const snapshot = r.controller.snapshot;
  if (snapshot === undefined) throw new Error('nothing running');
  return {
    version: snapshot.version,
    pools: r.health.describe(snapshot).map((p) => ({
      name: p.name,
      panic: p.panic,
      available: p.available,
      total: p.total,
      candidates: snapshot.pools.get(p.name)?.state.candidates.map((h) => h.name),
      backends: p.backends.map((b) => ({
        name: b.name,
        address: b.address,
        state: b.status,
        reason: b.reason,
        configuredWeight: b.configuredWeight,
        effectiveWeight: b.effectiveWeight,
        ejections: b.ejections,
        flaps: b.flaps,
        lameDuck: b.lameDuck,
      })),
    })),
  };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return isFulcrumError(err) ? err.code : `not a FulcrumError: ${String(err)}`;
  }
  return 'applied';
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function occupy(): Promise<Server> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => resolve(s));
  });
}

function portOf(s: Server): number {
  const a = s.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

let rig: Rig;
const extras: { close(): unknown }[] = [];

beforeEach(async () => {
  const backends = await startFakeBackends(3);
  const storeFile = join(mkdtempSync(join(tmpdir(), 'fulcrum-controller-')), 'fulcrum.db');
  const store = await openSqliteStore(storeFile);
  const hub = new EventHub();
  const health = new HealthManager({ hub, clock: systemClock, logger, probe });
  const proxy = new ProxyServer({ hub, logger });
  const registry = new HostRegistry();
  const controller = new ConfigController({ store, registry, health, proxy, hub, logger, env: {} });
  await controller.apply(configText(backends), { source: 'file' });
  const port = proxy.boundAddress('web')?.port ?? 0;
  rig = { backends, store, storeFile, health, proxy, registry, controller, port };
});

afterEach(async () => {
  await rig.proxy.shutdown(0);
  rig.health.stop();
  await rig.store.close();
  for (const e of extras.splice(0)) await e.close();
  for (const b of rig.backends) await b.close();
});

describe('ConfigController: a refused apply changes nothing, under load', () => {
  it('refuses at validation, lint, warm, bind and commit; the pool, traffic shares and history stay as they were', async () => {
    const [b1, b2, b3] = rig.backends as [FakeBackend, FakeBackend, FakeBackend];
    await until(
      'three healthy backends',
      () => rig.controller.snapshot?.pools.get('app')?.state.candidates.length === 3,
    );
    const before = poolView(rig);
    const load = startLoad({ url: `http://127.0.0.1:${rig.port}/`, concurrency: 16, maxMs: 60_000 });
    // Candidates sampled while the refused applies run: a dip would be 503s for a check round trip.
    let fewest = 3;
    const sampler = setInterval(() => {
      fewest = Math.min(fewest, rig.controller.snapshot?.pools.get('app')?.state.candidates.length ?? 0);
    }, 2);
    const heavier = [
      { name: b1.name, address: b1.address, weight: 3 },
      { name: b2.name, address: b2.address },
      { name: b3.name, address: b3.address },
    ];
    try {
      // validation
      expect(await refusal(rig.controller.apply('version: 1\nlisteners: nope\n', { source: 'api' }))).toBe(
        'FULCRUM_ERR_CONFIG_INVALID',
      );
      // lint: one backend left is a lint error (single-backend)
      expect(await refusal(rig.controller.apply(configText([heavier[0]!]), { source: 'api' }))).toBe(
        'FULCRUM_ERR_CONFIG_LINT',
      );

      // warm: both backends replaced by two that fail their first check (the 2 → 0 candidates)
      const d1 = await startFakeBackend({ name: 'd1' });
      const d2 = await startFakeBackend({ name: 'd2' });
      extras.push(d1, d2);
      d1.setHealth('fail');
      d2.setHealth('fail');
      const dead = [
        { name: 'd1', address: d1.address },
        { name: 'd2', address: d2.address },
      ];
      expect(await refusal(rig.controller.apply(configText(dead), { source: 'api' }))).toBe(
        'FULCRUM_ERR_CONFIG_WARM',
      );
      expect(d1.healthChecks).toBeGreaterThan(0);

      // bind: weights 3:1:1 and a new backend b4, with a second listener whose port another
      // socket holds (the 1:1:1 → 3:1:1)
      const b4 = await startFakeBackend({ name: 'b4' });
      extras.push(b4);
      const taken = await occupy();
      extras.push(taken);
      const bindText = configText([...heavier, { name: 'b4', address: b4.address }], {
        port: rig.port,
        listeners: { other: { address: `127.0.0.1:${portOf(taken)}`, routes: [{ pool: 'app' }] } },
      });
      expect(await refusal(rig.controller.apply(bindText, { source: 'api' }))).toBe(
        'FULCRUM_ERR_LISTEN_IN_USE',
      );
      // bind again, replacing every backend (re-activating the old snapshot used to re-add them
      // as `unknown`: 3 candidates → 0 for a check round trip)
      const replacing = configText(
        [
          { name: 'b4', address: b4.address },
          { name: 'b4-again', address: `localhost:${b4.port}` },
        ],
        {
          port: rig.port,
          // TEST-NET-1 is no local address: the bind itself fails (EADDRNOTAVAIL)
          listeners: { other: { address: '192.0.2.1:8080', routes: [{ pool: 'app' }] } },
        },
      );
      expect(await refusal(rig.controller.apply(replacing, { source: 'api' }))).toBe('FULCRUM_ERR_LISTEN');
      // b4 was warmed (checked) and then forgotten: its checks stop.
      expect(b4.healthChecks).toBeGreaterThan(0);
      const b4Checks = b4.healthChecks;
      expect(rig.registry.get('app', 'b4', b4.address)).toBeUndefined();

      // commit: another process commits to the same store file while the apply warms b4
      b4.setHealth('hang');
      const other = await openSqliteStore(rig.storeFile);
      extras.push(other);
      const commitApply = refusal(
        rig.controller.apply(
          configText([...heavier, { name: 'b4', address: b4.address }], { port: rig.port }),
          {
            source: 'api',
          },
        ),
      );
      await until('the warm check of b4', () => b4.healthChecks > b4Checks);
      const latest = await other.latestVersion();
      await other.commitVersion({
        text: configText(rig.backends),
        author: 'another fulcrum',
        message: 'racing apply',
        source: 'api',
        expectedLatest: latest?.version ?? null,
      });
      expect(await commitApply).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      b4.setHealth('ok');
      const afterCommit = b4.healthChecks;
      await new Promise((r) => setTimeout(r, 1600)); // three check intervals
      expect(b4.healthChecks - afterCommit).toBeLessThanOrEqual(1); // at most the hung one ending
      expect(rig.registry.get('app', 'b4', b4.address)).toBeUndefined();

      // commit again: the store file is damaged under the running balancer; its check finds it
      // and the store refuses to write
      checkpoint(rig.storeFile);
      corruptMiddlePage(rig.storeFile);
      expect((await rig.store.checkIntegrity?.())?.ok).toBe(false);
      const corruptApply = configText([...heavier, { name: 'b4', address: b4.address }], { port: rig.port });
      expect(await refusal(rig.controller.apply(corruptApply, { source: 'api' }))).toBe(
        'FULCRUM_ERR_STORE_CORRUPT',
      );
    } finally {
      clearInterval(sampler);
    }
    const result = await load.stop();
    expect(result.failures, JSON.stringify(result)).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
    expect(fewest).toBe(3);
    expect(poolView(rig)).toEqual(before);
    expect(rig.controller.version?.version).toBe(1);
    expect(rig.controller.snapshot?.version).toBe(1);
    // The running policy still cycles 1:1:1 (a leaked weight 3 would give b1 three fifths).
    const shares = await countBackends(`http://127.0.0.1:${rig.port}/`, 300);
    expect(shares.failures).toBe(0);
    for (const b of [b1, b2, b3]) expect(shares.backends[b.name], b.name).toBeGreaterThanOrEqual(99);
  }, 60_000);

  it('applies after refusals: the new weights and backends take effect only then', async () => {
    const [b1, b2, b3] = rig.backends as [FakeBackend, FakeBackend, FakeBackend];
    await until(
      'three healthy backends',
      () => rig.controller.snapshot?.pools.get('app')?.state.candidates.length === 3,
    );
    const b4 = await startFakeBackend({ name: 'b4' });
    extras.push(b4);
    const text = configText(
      [
        { name: b1.name, address: b1.address, weight: 3 },
        { name: b2.name, address: b2.address },
        { name: b3.name, address: b3.address },
        { name: b4.name, address: b4.address },
      ],
      { port: rig.port },
    );
    const r = await rig.controller.apply(text, { source: 'api' });
    expect(r.status).toBe('applied');
    const pool = rig.health.describe(rig.controller.snapshot!)[0]!;
    expect(pool.backends.map((b) => `${b.name} ${b.status} ${b.effectiveWeight}`)).toEqual([
      `${b1.name} healthy 3`,
      `${b2.name} healthy 1`,
      `${b3.name} healthy 1`,
      'b4 healthy 1',
    ]);
    const shares = await countBackends(`http://127.0.0.1:${rig.port}/`, 300);
    expect(shares.backends[b1.name]).toBeGreaterThanOrEqual(149);
    expect(shares.backends[b1.name]).toBeLessThanOrEqual(151);
  }, 30_000);

  it('a forced apply runs a pool whose new backends all fail their first check', async () => {
    const d1 = await startFakeBackend({ name: 'd1' });
    const d2 = await startFakeBackend({ name: 'd2' });
    extras.push(d1, d2);
    d1.setHealth('fail');
    d2.setHealth('fail');
    const text = configText(
      [
        { name: 'd1', address: d1.address },
        { name: 'd2', address: d2.address },
      ],
      { port: rig.port },
    );
    const r = await rig.controller.apply(text, { source: 'api', force: true });
    expect(r.status).toBe('applied');
    expect(rig.health.describe(rig.controller.snapshot!)[0]?.backends.map((b) => b.status)).toEqual([
      'unhealthy',
      'unhealthy',
    ]);
  }, 30_000);
});
