// Test support for the monitor: snapshots built from config objects and a traffic
// driver that emits real RequestOutcome events through an EventHub on a FakeClock.
import { seededRandom } from '../balancer/seeded-random.ts';
import pino from 'pino';
import { configSchema } from '../config/schema.ts';
import { FakeClock } from '../core/clock.ts';
import { EventHub } from '../core/events.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import { buildSnapshot, type Snapshot } from '../data-plane/snapshot.ts';
import { Monitor } from '../monitor/monitor.ts';

/** A snapshot of `config` (raw, as written in YAML) with the real policies. */
export function testSnapshot(
  config: unknown,
  version: number,
  registry = new HostRegistry(),
  random: () => number = seeded(version),
): Snapshot {
  return buildSnapshot(configSchema.parse(config), version, registry, { random });
}

export const silentLogger = pino({ level: 'silent' });

/** One listener and pool `app` of three backends app-1..3 on 127.0.0.1:9001-9003. */
export function threeBackendConfig(policy = 'round-robin', extra: Record<string, unknown> = {}) {
  return {
    version: 1,
    listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy,
        backends: [1, 2, 3].map((i) => ({ name: `app-${i}`, address: `127.0.0.1:${9000 + i}` })),
      },
    },
    ...extra,
  };
}

/**
 * A started Monitor over `config`'s snapshot (version 3) on a fake clock; `onSnapshot` runs at
 * each read of the snapshot (once per evaluation).
 */
export function startTestMonitor(config: unknown, o: { onSnapshot?: () => void } = {}) {
  const hub = new EventHub();
  const clock = new FakeClock();
  const snap = testSnapshot(config, 3);
  const monitor = new Monitor({
    hub,
    clock,
    logger: silentLogger,
    getSnapshot: () => {
      o.onSnapshot?.();
      return snap;
    },
    configVersionInfo: (v) => ({ version: v, createdAt: Date.UTC(2026, 0, 1), author: 'ci' }),
  });
  monitor.start();
  return { hub, clock, snap, monitor };
}

export function newHub(): EventHub {
  return new EventHub();
}

export interface Shot {
  backend: string | undefined;
  status: number;
  durationMs: number;
  hashKey?: string;
  /** Retries made before this answer (default 0). */
  retries?: number;
  /** Error code of an answer fulcrum gave (default: no-backend when no backend is named). */
  error?: string;
}

/**
 * Emit `rps` outcomes per simulated second for `seconds`, evenly spaced, advancing the
 * fake clock (which runs the monitor's timers). `onSecond` runs after each second and may
 * return true to stop early.
 */
export function drive(opts: {
  hub: EventHub;
  clock: FakeClock;
  pool: string;
  seconds: number;
  rps: number;
  shot: (i: number) => Shot;
  onSecond?: (second: number) => boolean | void;
  listener?: string;
}): number {
  const step = 1000 / opts.rps;
  let i = 0;
  for (let s = 0; s < opts.seconds; s++) {
    for (let k = 0; k < opts.rps; k++) {
      const shot = opts.shot(i++);
      opts.hub.requests.emit({
        listener: opts.listener ?? 'web',
        pool: opts.pool,
        backend: shot.backend,
        status: shot.status,
        durationMs: shot.durationMs,
        error: shot.error ?? (shot.backend === undefined ? 'FULCRUM_ERR_PROXY_NO_BACKEND' : undefined),
        retries: shot.retries ?? 0,
        requestId: String(i),
        method: 'GET',
        hashKey: shot.hashKey,
      });
      opts.clock.advance(step);
    }
    if (opts.onSecond?.(s + 1) === true) return s + 1;
  }
  return opts.seconds;
}

/** A seeded uniform [0, 1) source so simulated traffic is reproducible. */
export const seeded = seededRandom;
