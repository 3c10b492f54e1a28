// A pool's stats over the monitor window, as /api/v1/pools, the dashboard and the alert
// rules see them: expected and observed shares, the fairness and capacity verdicts, errors
// and latency per backend. Computed once per evaluation from the pool's rings.
import { givenShares } from '../balancer/expected-shares.ts';
import { policyDescriptor } from '../balancer/registry.ts';
import type { PoolRuntime, Snapshot } from '../data-plane/snapshot.ts';
import {
  DEFAULT_Z,
  judgeOverload,
  judgePool,
  type BackendSample,
  type LoadSample,
  type Verdict,
} from './fairness.ts';
import {
  BUSY,
  ERR,
  erasInWindow,
  EXP,
  HIST,
  REQ,
  SLOT_MS,
  type IdleStats,
  type PoolTrack,
} from './pool-track.ts';
import type { BackendStatsView, PoolStatsView } from './pool-stats-view.ts';
import { flushExpected } from './expected-counts.ts';
import { histogramQuantile, LATENCY_BOUNDS_MS } from './ring.ts';

export type { BackendStatsView, PoolStatsView } from './pool-stats-view.ts';

export function poolStats(
  p: PoolTrack,
  pr: PoolRuntime,
  snap: Snapshot,
  now: number,
  windowMs: number,
): PoolStatsView {
  const state = pr.state;
  const slots = Math.max(1, Math.round(windowMs / SLOT_MS));
  // Expected shares: what the balancer gave request by request over the window (the shares
  // in force at each flush, slow start, drain and panic included), so a config that ran for
  // less than a second between evaluations still counts. A pool without traffic writes
  // nothing, so its backends' rings stay unallocated.
  flushExpected(p, pr, now);
  const currentExp = givenShares(state.givenWeights, policyDescriptor(state.policy.name));
  let total = 0;
  p.list.forEach((b, i) => {
    b.ring.advance(now);
    for (let age = 0; age < slots; age++) total += b.ring.at(age, REQ);
    const h = state.hosts[i];
    if (h !== undefined && isOut(h.status)) {
      b.lastDown = now;
      b.lastDownStatus = h.status;
    }
  });
  // Hot keys matter while any config over the window hashed (a rollback does not undo them).
  const hashed = erasInWindow(p, now, windowMs).some((e) => policyDescriptor(e.policy).hashKeyed);
  let hot = hashed ? p.topKeys.hottest(now) : undefined;
  // The sketch keeps half a window to a whole one of hashed requests; after a rollback it
  // empties before the window does, so the last hot key seen stands for the hashed era.
  if (hot !== undefined) p.lastHot = { ...hot, at: now };
  else if (hashed && p.lastHot !== undefined && now - p.lastHot.at <= windowMs) hot = p.lastHot;
  const idle = total === 0 && hot === undefined;
  if (idle && idleUnchanged(p.idle, p, pr.state, snap, now, windowMs)) return p.idle.view;
  const capacities = capacitiesOf(pr.config);
  const samples: BackendSample[] = [];
  const loads: LoadSample[] = [];
  const hists: Float64Array[] = [];
  const errs: number[] = [];
  const sums = new Float64Array(3);
  p.list.forEach((b, i) => {
    sums.fill(0);
    b.ring.accumulate(REQ, slots, sums);
    const req = sums[REQ] as number;
    const err = sums[ERR] as number;
    const busy = sums[BUSY] as number;
    let expCount = 0;
    for (let age = 0; age < slots; age++) expCount += b.ring.at(age, EXP);
    // A backend that never had traffic shares one empty histogram: an evaluation of an idle
    // pool of 1,000 backends allocated one per backend per second (bench/RESULTS.md).
    let hist = NO_LATENCIES;
    if (b.ring.allocated) {
      hist = new Float64Array(LATENCY_BOUNDS_MS.length);
      b.ring.accumulate(HIST, slots, hist);
    }
    const expectedShare = total > 0 ? expCount / total : (currentExp[i] as number);
    samples.push({
      name: b.name,
      expectedShare,
      requests: req,
      busyMs: busy,
      down: now - b.lastDown <= windowMs,
    });
    loads.push({
      name: b.name,
      requests: req,
      errors: err,
      busyMs: busy,
      capacity: capacities.get(b.name) ?? 1,
    });
    hists.push(hist);
    errs.push(err);
  });
  const f = snap.config.monitor.fairness;
  const opts = {
    overfed: f.overfed,
    starved: f.starved,
    minRequestsPerBackend: f.minRequestsPerBackend,
    zThreshold: DEFAULT_Z,
  };
  const verdict = judgePool(samples, policyDescriptor(pr.config.policy).fairnessMeasure, windowMs, opts);
  const overload = judgeOverload(loads, opts);
  p.overload = overload;
  const seconds = windowMs / 1000;
  let poolErr = 0;
  for (const e of errs) poolErr += e;
  const view: PoolStatsView = {
    pool: p.name,
    policy: pr.config.policy,
    measure: verdict.measure,
    windowMs,
    requests: total,
    rps: total / seconds,
    errorRatio: total > 0 ? poolErr / total : 0,
    jain: verdict.jain,
    panic: state.panic,
    note: verdict.note,
    hotKey: hot && { key: hot.key, share: hot.share, backend: hot.backend },
    configVersion: snap.version,
    fairness: { overfed: f.overfed, starved: f.starved },
    backends: state.hosts.map((h, i): BackendStatsView => {
      const v = verdict.backends[i];
      const o = overload[i];
      const req = samples[i]?.requests ?? 0;
      const err = errs[i] ?? 0;
      const hist = hists[i] ?? new Float64Array(0);
      return {
        backend: h.name,
        address: h.address,
        status: h.status,
        available: h.available,
        configuredWeight: h.configuredWeight,
        effectiveWeight: h.effectiveWeight,
        inFlight: h.inFlight,
        capacity: capacities.get(h.name) ?? 1,
        expectedShare: v?.expectedShare ?? 0,
        observedShare: v?.observedShare ?? 0,
        shareRatio: total > 0 ? (v?.shareRatio ?? null) : null,
        z: v?.z ?? 0,
        verdict: v?.verdict ?? 'insufficient-data',
        requests: req,
        rps: req / seconds,
        errors: err,
        errorRatio: req > 0 ? err / req : 0,
        p50Ms: histogramQuantile(hist, 0.5),
        p99Ms: histogramQuantile(hist, 0.99),
        capacityShare: o?.capacityShare ?? 0,
        overloaded: o?.overloaded ?? false,
        latencyFactor: v?.latencyFactor ?? null,
        note: verdictNote(h.name, h.status, pr.config.policy, v?.verdict, v?.latencyFactor ?? null),
      };
    }),
  };
  p.idle = idle
    ? {
        view,
        snap,
        down: Uint8Array.from(samples, (x) => (x.down ? 1 : 0)),
        given: Float64Array.from(state.givenWeights),
      }
    : undefined;
  return view;
}

/**
 * Whether an idle pool's last view still holds: same snapshot, and every input it
 * shows (health, weights, in-flight, panic, who was down within the window) unchanged. An idle
 * pool of 1,000 backends otherwise built its views, samples and verdicts anew every second:
 * most of the ~2.8 KB a backend's share of an evaluation allocated (bench/RESULTS.md, per
 * extra backend).
 */
function idleUnchanged(
  c: IdleStats | undefined,
  p: PoolTrack,
  state: PoolRuntime['state'],
  snap: Snapshot,
  now: number,
  windowMs: number,
): c is IdleStats {
  // The same snapshot means the same pool runtime and config, the monitor window included.
  if (c === undefined || c.snap !== snap) return false;
  if (c.view.panic !== state.panic || c.given.length !== state.givenWeights.length) return false;
  for (let i = 0; i < c.given.length; i++) if (c.given[i] !== state.givenWeights[i]) return false;
  const hosts = state.hosts;
  if (hosts.length !== c.view.backends.length || hosts.length !== p.list.length) return false;
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i] as (typeof hosts)[number];
    const v = c.view.backends[i] as BackendStatsView;
    const b = p.list[i] as PoolTrack['list'][number];
    if (
      h.status !== v.status ||
      h.available !== v.available ||
      h.configuredWeight !== v.configuredWeight ||
      h.effectiveWeight !== v.effectiveWeight ||
      h.inFlight !== v.inFlight ||
      (now - b.lastDown <= windowMs ? 1 : 0) !== c.down[i]
    )
      return false;
  }
  return true;
}

/** Never written: the histogram of a backend whose window was never allocated. */
const NO_LATENCIES: Float64Array = new Float64Array(LATENCY_BOUNDS_MS.length);

const capacityCache = new WeakMap<PoolRuntime['config'], ReadonlyMap<string, number>>();

/** Declared capacity per backend name, once per pool config (configs are immutable). */
function capacitiesOf(config: PoolRuntime['config']): ReadonlyMap<string, number> {
  let m = capacityCache.get(config);
  if (m === undefined) {
    m = new Map(config.backends.map((b) => [b.name, b.capacity ?? 1]));
    capacityCache.set(config, m);
  }
  return m;
}

function verdictNote(
  name: string,
  status: string,
  policy: string,
  verdict: Verdict | undefined,
  latencyFactor: number | null,
): string | undefined {
  if (verdict === 'slow' && latencyFactor !== null)
    return `${name} is slow (latency ${latencyFactor.toFixed(1)}× its peers): ${policy} steers around it`;
  if (verdict === 'down')
    return `${name} is ${isOut(status) ? status : `back (${status}) after being out`}: expected share 0 while out, never starved`;
  return undefined;
}

/** Health took it out of rotation (drain and slow start are not "out"). */
export function isOut(status: string): boolean {
  return status === 'unhealthy' || status === 'ejected';
}
