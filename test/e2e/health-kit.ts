// Shared by the health e2e suites: a health manager on the real clock and real probes over
// fake loopback backends, and a minimal forwarder that plays the proxy's part towards host
// state (pick → requestStarted → real HTTP request → requestFinished with its outcome kind).
import http from 'node:http';
import { afterEach } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import { EventHub, type HostStateChange } from '../../src/core/events.ts';
import { HealthManager } from '../../src/health/health-manager.ts';
import { probe } from '../../src/proxy/health-probe.ts';
import { HostRegistry, type HostState, type OutcomeKind } from '../../src/data-plane/host-state.ts';
import type { PoolState } from '../../src/data-plane/pool-state.ts';
import { captureLogger, snapshotWith } from '../../src/testing/health-kit.ts';
import type { Snapshot } from '../../src/data-plane/snapshot.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';

export interface Rig {
  manager: HealthManager;
  snapshot: Snapshot;
  pool: PoolState;
  events: HostStateChange[];
  notices: { type: string }[];
  host(b: FakeBackend): HostState;
  /** Resolves with the first state change of `b` to `to` (rejects after `ms`). */
  waitFor(b: FakeBackend, to: string, ms: number): Promise<HostStateChange>;
}

export async function rig(backends: FakeBackend[], pool: Record<string, unknown>): Promise<Rig> {
  const hub = new EventHub();
  const events: HostStateChange[] = [];
  const notices: { type: string }[] = [];
  hub.hostState.subscribe((e) => events.push(e));
  hub.notices.subscribe((n) => notices.push(n));
  const manager = new HealthManager({ hub, clock: systemClock, logger: captureLogger().logger, probe });
  const snapshot = snapshotWith(new HostRegistry(), {
    p: { backends: backends.map((b) => ({ name: b.name, address: b.address })), ...pool },
  });
  await manager.activate(snapshot);
  const state = snapshot.pools.get('p')?.state as PoolState;
  const host = (b: FakeBackend) => state.hosts.find((h) => h.address === b.address) as HostState;
  const waitFor = (b: FakeBackend, to: string, ms: number) =>
    new Promise<HostStateChange>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${b.name} did not become ${to} within ${ms}ms (now ${host(b).status})`));
      }, ms);
      const off = hub.hostState.subscribe((e) => {
        if (e.address === b.address && e.to === to) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
    });
  return { manager, snapshot, pool: state, events, notices, host, waitFor };
}

/**
 * The per-test lifecycle of a health suite: `start` brings up fake backends named
 * `<prefix>0`, `<prefix>1`..., `adopt` takes over backends a test started itself, `rig` runs
 * a manager over them. After each test the manager stops and every backend closes.
 */
export function rigPerTest(): {
  start(n: number, prefix: string): Promise<FakeBackend[]>;
  adopt(list: FakeBackend[]): FakeBackend[];
  rig(list: FakeBackend[], pool: Record<string, unknown>): Promise<Rig>;
} {
  let backends: FakeBackend[] = [];
  let current: Rig | undefined;
  afterEach(async () => {
    current?.manager.stop();
    current = undefined;
    await Promise.all(backends.map((b) => b.close()));
    backends = [];
  });
  return {
    async start(n, prefix) {
      backends = await Promise.all(
        Array.from({ length: n }, (_, i) => startFakeBackend({ name: `${prefix}${i}` })),
      );
      return backends;
    },
    adopt(list) {
      backends = list;
      return list;
    },
    async rig(list, pool) {
      current = await rig(list, pool);
      return current;
    },
  };
}

/** A GET to the backend: resolves with the status when the whole body arrived, rejects on refuse, reset, timeout. */
export function get(h: HostState, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: h.hostname, port: h.port, path, agent: false }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', reject);
      res.once('close', () => {
        if (!res.complete) reject(new Error('response cut short'));
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

export function kindOf(status: number): OutcomeKind {
  if (status === 502 || status === 503 || status === 504) return 'gateway-error';
  return status >= 500 ? 'http-5xx' : 'success';
}

/** Forward one request the way the proxy does towards host state. Returns the host picked. */
export async function forward(pool: PoolState, timeoutMs = 1000): Promise<HostState | undefined> {
  const h = pool.pick(undefined);
  if (h === undefined) return undefined;
  h.requestStarted();
  const t0 = performance.now();
  let kind: OutcomeKind;
  try {
    kind = kindOf(await get(h, '/', timeoutMs));
  } catch {
    kind = 'local-failure';
  }
  h.requestFinished(kind, performance.now() - t0);
  return h;
}
