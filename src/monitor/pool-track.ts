// The monitor's windows: per pool and per backend, rings of one-second slots filled by the
// outcome subscriber, plus what the causes need to remember (health flips, reloads, the
// config eras that shaped the window). Allocated when a snapshot brings a pool or backend,
// never per request.
import type { PoolRuntime, Snapshot } from '../data-plane/snapshot.ts';
import type { OverloadVerdict } from './fairness.ts';
import { WindowedTopKeys } from './hot-keys.ts';
import type { TrafficCounters } from './metrics.ts';
import type { PoolStatsView } from './pool-stats-view.ts';
import type { HostFacts } from './rules/rule-context.ts';
import { LATENCY_BOUNDS_MS, Ring } from './ring.ts';

// Fields of a backend's 1 s ring; the latency histogram follows them.
export const REQ = 0;
export const ERR = 1;
export const BUSY = 2;
/** Expected requests: the slot's requests times the share the balancer gave (expected-counts.ts). */
export const EXP = 3;
/** Requests this backend answered after a retry (a failed try elsewhere first). */
export const RETRIED = 4;
export const HIST = 5;
// Fields of a pool's availability rings.
export const P_TOTAL = 0;
export const P_ERR = 1;
export const P_NOBACKEND = 2;

export const SLOT_MS = 1000;
export const SHORT_SLOTS = 300; // 5 min of 1 s slots
const LONG_SLOT_MS = 10_000;
const LONG_SLOTS = 2160; // 6 h of 10 s slots
export const FLIP_MEMORY = 64;

export interface BackendTrack extends TrafficCounters {
  readonly name: string;
  readonly ring: Ring;
  readonly flips: number[];
  lastUnavailable: number;
  /** Last evaluation that saw it unhealthy or ejected, and in which status. */
  lastDown: number;
  lastDownStatus: string;
  readonly codes: Map<string, Float64Array>;
  /** Allocated at the backend's first request: an idle backend has no histogram to export. */
  durationBuckets: Float64Array | undefined;
  durationSum: number;
}

/**
 * A config as it was in force for a pool over a stretch of time. Causes are attributed from
 * the eras that overlap the window, not from the config in force at evaluation: after a
 * rollback the window still holds the traffic the bad config shaped.
 */
export interface ConfigEra {
  /** Monotonic start; `to` is +Infinity while in force. */
  readonly from: number;
  to: number;
  readonly version: number;
  readonly policy: string;
  readonly hashKey: string | undefined;
  /** Configured weights (0 when draining), by backend. */
  readonly weights: ReadonlyMap<string, number>;
  readonly weightsSig: string;
  /** The version that introduced these weights, and whether that is known exactly. */
  readonly weightsSince: number;
  readonly weightsExact: boolean;
}

export interface PoolTrack {
  name: string;
  backends: Map<string, BackendTrack>;
  /** In the snapshot's host order. */
  list: BackendTrack[];
  /** Outcomes that reached no backend (or one no longer configured): backend "". */
  none: {
    pool: string;
    backend: string;
    codes: Map<string, Float64Array>;
    durationBuckets: undefined;
    durationSum: 0;
  };
  short: Ring;
  long: Ring;
  /** Requests to a backend per slot not yet given expected counts (expected-counts.ts). */
  pending: Ring;
  /** Slot index of the last flush of `pending`. */
  flushedSlot: number;
  topKeys: WindowedTopKeys;
  /** The hottest key when last seen, and when (a rollback empties the sketch). */
  lastHot: { key: string; share: number; backend: string | undefined; count: number; at: number } | undefined;
  noBackend: number;
  retries: number;
  hadTraffic: boolean;
  /** Last evaluation that saw the pool in panic. */
  lastPanic: number;
  weightsSig: string;
  weightsSince: number;
  /** True once the weights were seen to change (or the first version seen is 1). */
  weightsExact: boolean;
  eras: ConfigEra[];
  reloads: number[];
  stats: PoolStatsView | undefined;
  /** The view of the last evaluation that found the pool idle (pool-stats.ts reuses it). */
  idle: IdleStats | undefined;
  /** The rules' host facts of the last evaluation (kept while they do not change). */
  hostFacts: readonly HostFacts[] | undefined;
  /** The last capacity judgement, in host order (latency against peers for causes). */
  overload: OverloadVerdict[];
}

/** An idle pool's last stats view, and what it was computed from (pool-stats.ts). */
export interface IdleStats {
  readonly view: PoolStatsView;
  readonly snap: Snapshot;
  /** Per backend: was it down within the window (time alone changes this). */
  readonly down: Uint8Array;
  /** The weights the balancer gave, as they were. */
  readonly given: Float64Array;
}

export function newPoolTrack(name: string, snap: Snapshot, windowMs: number): PoolTrack {
  return {
    name,
    backends: new Map(),
    list: [],
    none: { pool: name, backend: '', codes: new Map(), durationBuckets: undefined, durationSum: 0 },
    short: new Ring(SLOT_MS, SHORT_SLOTS, 3),
    long: new Ring(LONG_SLOT_MS, LONG_SLOTS, 2),
    pending: new Ring(SLOT_MS, Math.max(1, Math.round(windowMs / SLOT_MS)), 1),
    flushedSlot: Number.NEGATIVE_INFINITY,
    topKeys: new WindowedTopKeys(windowMs),
    lastHot: undefined,
    noBackend: 0,
    retries: 0,
    hadTraffic: false,
    lastPanic: Number.NEGATIVE_INFINITY,
    weightsSig: '',
    weightsSince: snap.version,
    weightsExact: snap.version <= 1,
    eras: [],
    reloads: [],
    stats: undefined,
    idle: undefined,
    hostFacts: undefined,
    overload: [],
  };
}

export function newBackendTrack(pool: string, name: string, windowMs: number): BackendTrack {
  return {
    name,
    pool,
    backend: name,
    ring: new Ring(SLOT_MS, Math.max(1, Math.round(windowMs / SLOT_MS)), HIST + LATENCY_BOUNDS_MS.length),
    flips: [],
    lastUnavailable: Number.NEGATIVE_INFINITY,
    lastDown: Number.NEGATIVE_INFINITY,
    lastDownStatus: '',
    codes: new Map(),
    durationBuckets: undefined,
    durationSum: 0,
  };
}

/**
 * Bring a pool's track in line with a new snapshot: its backends in host order (keeping the
 * windows of those that stay), the weights' provenance and a new config era.
 */
export function syncPoolTrack(
  p: PoolTrack,
  pr: PoolRuntime,
  snap: Snapshot,
  prevVersion: number | undefined,
  now: number,
  windowMs: number,
): void {
  if (prevVersion !== undefined && prevVersion !== snap.version) {
    p.reloads.push(now);
    if (p.reloads.length > FLIP_MEMORY) p.reloads.shift();
  }
  const list: BackendTrack[] = [];
  for (const h of pr.state.hosts)
    list.push(p.backends.get(h.name) ?? newBackendTrack(p.name, h.name, windowMs));
  p.list = list;
  p.backends.clear();
  for (const b of list) p.backends.set(b.name, b);
  const sig = pr.config.backends.map((b) => `${b.name}=${b.drain ? 0 : b.weight}`).join(',');
  if (sig !== p.weightsSig) {
    if (p.weightsSig !== '') {
      p.weightsSince = snap.version;
      p.weightsExact = true;
    }
    p.weightsSig = sig;
  }
  const last = p.eras[p.eras.length - 1];
  if (last === undefined || last.version !== snap.version) {
    if (last !== undefined) last.to = now;
    p.eras.push({
      from: now,
      to: Number.POSITIVE_INFINITY,
      version: snap.version,
      policy: pr.config.policy,
      hashKey: pr.config.hash?.key,
      weights: new Map(pr.config.backends.map((b) => [b.name, b.drain ? 0 : b.weight])),
      weightsSig: sig,
      weightsSince: p.weightsSince,
      weightsExact: p.weightsExact,
    });
    // Keep what overlaps the window (and a bounded count).
    const from = now - windowMs;
    while (p.eras.length > 1 && ((p.eras[0] as ConfigEra).to < from || p.eras.length > FLIP_MEMORY))
      p.eras.shift();
  }
}

export function erasInWindow(p: PoolTrack, now: number, windowMs: number): ConfigEra[] {
  const from = now - windowMs;
  return p.eras.filter((e) => e.to >= from);
}
