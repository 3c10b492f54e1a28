// The fairness maths, as pure functions over plain data (no sockets, no timers, no clock).
// Two questions are answered here:
//   1. Does the balancer do what the config says? (judgePool: observed vs expected share)
//   2. Does the config itself play favourites? (judgeOverload: share vs capacity, with
//      errors or latency that stand out among the peers)
// and attributeCauses() turns the facts the monitor gathered into words for a person.
// docs/monitoring.md explains the maths; keep the two in step.

import type { FairnessMeasure } from '../balancer/policy.ts';

/**
 * What a share is measured in (each policy's descriptor names its measure). Load-aware
 * policies are judged on what they balance, not on request counts: least-requests on
 * concurrency, p2c-ewma on concurrency × latency.
 */
export type { FairnessMeasure };

/**
 * 'slow': under a load-aware policy, a backend whose latency stands out among its peers and
 * that gets no more requests than its weight asks for. It holds more in flight because each
 * request lasts longer (Little's law), not because the balancer favours it: the balancer is
 * doing its job, the backend is the problem. 'down': a backend that is (or was within the
 * window) unhealthy or ejected; its expected share is 0 while down, so it is never starved.
 */
export type Verdict = 'ok' | 'overfed' | 'starved' | 'slow' | 'down' | 'insufficient-data';

/** One backend's facts over the monitor window. */
export interface BackendSample {
  readonly name: string;
  /** Expected share from effective weights, averaged over the window (weighted by traffic). */
  readonly expectedShare: number;
  readonly requests: number;
  /** Sum of request durations (ms) over the window; / window = mean concurrency (Little's law). */
  readonly busyMs: number;
  /** Unhealthy or ejected now or within the window: never judged starved. */
  readonly down?: boolean;
}

export interface FairnessOptions {
  readonly overfed: number;
  readonly starved: number;
  readonly minRequestsPerBackend: number;
  /** Significance needed before a ratio is called unfair (standard errors). */
  readonly zThreshold: number;
}

export interface BackendVerdict {
  readonly name: string;
  readonly expectedShare: number;
  readonly observedShare: number;
  /** observed / expected; null when the backend is expected to get nothing. */
  readonly shareRatio: number | null;
  /** Standard score of the observed share under the expected share (binomial). */
  readonly z: number;
  readonly verdict: Verdict;
  /** Mean latency against the request-weighted mean of its peers; null without data. */
  readonly latencyFactor: number | null;
}

export interface PoolVerdict {
  readonly measure: FairnessMeasure;
  readonly total: number;
  /** Jain's fairness index over share ratios (1 = perfectly as configured); null without data. */
  readonly jain: number | null;
  readonly backends: readonly BackendVerdict[];
  /** Why no verdict was given, when none was. */
  readonly note: string | undefined;
}

export const DEFAULT_Z = 4;
/** Mean latency this many times the peers' (and MIN_LATENCY_GAP_MS above it) is an outlier. */
export const LATENCY_FACTOR = 2;
const MIN_LATENCY_GAP_MS = 50;

/** Mean latency of a backend against the request-weighted mean latency of its peers. */
function latencyVsPeers(
  requests: number,
  busyMs: number,
  totalRequests: number,
  totalBusyMs: number,
): { mean: number; peerMean: number; factor: number | null; outlier: boolean } {
  const peerReq = totalRequests - requests;
  const mean = requests > 0 ? busyMs / requests : 0;
  const peerMean = peerReq > 0 ? (totalBusyMs - busyMs) / peerReq : 0;
  const factor = requests > 0 && peerMean > 0 ? mean / peerMean : null;
  const outlier = factor !== null && mean > LATENCY_FACTOR * peerMean && mean - peerMean > MIN_LATENCY_GAP_MS;
  return { mean, peerMean, factor, outlier };
}

/**
 * A backend's load in the given measure. By Little's law busyMs / window is its mean
 * concurrency; p2c-ewma equalises concurrency × mean latency (busyMs / requests).
 */
function loadOf(s: BackendSample, measure: FairnessMeasure): number {
  if (measure === 'requests') return s.requests;
  if (measure === 'in-flight-per-weight') return s.busyMs;
  return s.requests > 0 ? (s.busyMs * s.busyMs) / s.requests : 0;
}

/** Jain's index (Σx)² / (n·Σx²) over non-negative values; 1 when all are equal. */
export function jainIndex(values: readonly number[]): number | null {
  let s = 0;
  let s2 = 0;
  for (const v of values) {
    s += v;
    s2 += v * v;
  }
  if (values.length === 0 || s2 === 0) return null;
  return (s * s) / (values.length * s2);
}

/**
 * Standard score of an observed share q over n trials when the true share is p:
 * (q − p) / √(p(1−p)/n). 0 when p is 0 or 1 (no variance to test against).
 */
export function binomialZ(q: number, p: number, n: number): number {
  if (n <= 0 || p <= 0 || p >= 1) return 0;
  return (q - p) / Math.sqrt((p * (1 - p)) / n);
}

/**
 * Judge one pool: observed share vs expected share per backend. A backend is overfed
 * (starved) only when its share ratio is beyond the threshold AND the difference is
 * statistically significant (|z| > zThreshold), and only once it was expected to get at
 * least minRequestsPerBackend requests, so an honest sample does not fire.
 *
 * Under a load-aware measure a slow backend holds more in flight per request it gets, so the
 * load measure calls it overfed even when the balancer sends it fewer requests than its
 * weight: such a backend is 'slow' (its latency is an outlier and it gets less than its
 * weighted share of requests: the policy steers around it), not overfed. One that gets its
 * full weighted share of requests or more while being slower than its peers is judged on the
 * load measure as usual: a load-aware policy that does not steer around it is not balancing.
 * Slow backends are set aside and the rest judged on their shares among themselves (expected
 * and observed shares are then of the backends judged). A backend that is down is never
 * starved: its expected share is 0 while it is out.
 */
export function judgePool(
  samples: readonly BackendSample[],
  measure: FairnessMeasure,
  windowMs: number,
  opts: FairnessOptions,
): PoolVerdict {
  let total = 0;
  let busy = 0;
  let load = 0;
  for (const s of samples) {
    total += s.requests;
    busy += s.busyMs;
    load += loadOf(s, measure);
  }
  // A load-aware policy only has something to balance when backends are busy: below one
  // concurrent request per backend its choices are tie-breaks, not decisions.
  let note: string | undefined;
  if (measure !== 'requests' && windowMs > 0 && busy / windowMs < samples.length) {
    note = `load too low to judge a load-aware policy (mean concurrency ${(busy / windowMs).toFixed(2)} < ${samples.length})`;
  }
  // A load-aware policy's only lever is how many requests it sends. A backend that got fewer
  // requests than its weight asks for while slower than its peers is being steered around:
  // 'slow' when its latency is an outlier. When it still carries more than its share of the
  // load, that load is its latency, not the balancer: it is set aside, since leaving its
  // inflated load in would make every faster peer look starved, and the others are judged
  // among themselves.
  const lats = samples.map((s) => latencyVsPeers(s.requests, s.busyMs, total, busy));
  const steered = samples.map((s, i) => {
    const lat = lats[i] as { factor: number | null };
    return (
      note === undefined &&
      measure !== 'requests' &&
      s.expectedShare > 0 &&
      total * s.expectedShare >= opts.minRequestsPerBackend &&
      s.requests < s.expectedShare * total &&
      lat.factor !== null &&
      lat.factor > 1
    );
  });
  const slow = samples.map(
    (s, i) => steered[i] === true && load > 0 && loadOf(s, measure) / load > s.expectedShare,
  );
  let restP = 0;
  let restLoad = 0;
  let restTotal = 0;
  samples.forEach((s, i) => {
    if (slow[i]) return;
    restP += s.expectedShare;
    restLoad += loadOf(s, measure);
    restTotal += s.requests;
  });
  const ratios: number[] = [];
  const backends = samples.map((s, i): BackendVerdict => {
    const aside = slow[i] === true;
    const p = aside || restP <= 0 ? s.expectedShare : s.expectedShare / restP;
    const l = aside ? load : restLoad;
    const q = l > 0 ? loadOf(s, measure) / l : 0;
    const ratio = p > 0 ? q / p : null;
    const z = binomialZ(q, p, aside ? total : restTotal);
    let verdict: Verdict;
    if (note !== undefined) verdict = 'insufficient-data';
    else if (steered[i] === true && (lats[i] as { outlier: boolean }).outlier) verdict = 'slow';
    else if (aside) verdict = 'ok';
    else if (p === 0) verdict = s.requests >= opts.minRequestsPerBackend ? 'overfed' : s.down ? 'down' : 'ok';
    else if (total * s.expectedShare < opts.minRequestsPerBackend)
      verdict = s.down ? 'down' : 'insufficient-data';
    else if (ratio !== null && ratio > opts.overfed && z > opts.zThreshold) verdict = 'overfed';
    else if (s.down) verdict = 'down';
    else if (ratio !== null && ratio < opts.starved && z < -opts.zThreshold) verdict = 'starved';
    else verdict = 'ok';
    if (ratio !== null && total > 0 && !aside) ratios.push(ratio);
    return {
      name: s.name,
      expectedShare: p,
      observedShare: q,
      shareRatio: ratio,
      z,
      verdict,
      latencyFactor: (lats[i] as { factor: number | null }).factor,
    };
  });
  return { measure, total, jain: jainIndex(ratios), backends, note };
}

/** One backend's facts for the capacity judgement. */
export interface LoadSample {
  readonly name: string;
  readonly requests: number;
  /** 5xx answers (from the backend or from fulcrum on its behalf). */
  readonly errors: number;
  readonly busyMs: number;
  /** Declared capacity (relative); 1 when not declared. */
  readonly capacity: number;
}

export interface OverloadOptions {
  readonly overfed: number;
  readonly minRequestsPerBackend: number;
  readonly zThreshold: number;
}

export interface OverloadVerdict {
  readonly name: string;
  readonly share: number;
  readonly capacityShare: number;
  /**
   * Share of the pool's throughput capacity: declared capacity / mean latency (Little's law:
   * a backend serving N at once at L ms serves N/L per ms). Below capacityShare when slow.
   */
  readonly throughputShare: number;
  readonly errorRatio: number;
  readonly peerErrorRatio: number;
  readonly meanLatencyMs: number;
  readonly peerMeanLatencyMs: number;
  readonly overCapacity: boolean;
  readonly errorOutlier: boolean;
  readonly latencyOutlier: boolean;
  /**
   * Over its throughput capacity because it is slower than its peers (while within its
   * declared capacity share), and failing beyond its peers: overloaded.
   */
  readonly overSlow: boolean;
  readonly overloaded: boolean;
}

const MIN_ERRORS = 10;
const MIN_ERROR_RATIO = 0.05;

/**
 * Judge the config rather than the balancer: a backend is overloaded when its share of
 * traffic is significantly above its share of capacity AND its error ratio or latency is
 * an outlier among its peers (or, with no peer left to compare, simply high). A backend
 * slower than its peers has less capacity than it declares: capacity counts requests at
 * once, so 8× slower serves 8× fewer per second. Its share is then also held against its
 * throughput share (round-robin over a slow backend overloads it with equal weights) when it
 * also fails beyond its peers: latency alone is no overload, since a load-aware policy that
 * steers around a slow backend still gives it a little more than its throughput share. Only
 * for a slower backend: one that fails fast would look like it had capacity to spare. And a
 * backend that both fails and is slow beyond its peers is overloaded whatever its share:
 * it has more than it can serve (after a rollback the window holds too little of the bad
 * config's traffic for a share test, but the errors and the latency are plain).
 */
export function judgeOverload(samples: readonly LoadSample[], opts: OverloadOptions): OverloadVerdict[] {
  let total = 0;
  let totalCap = 0;
  let totalErr = 0;
  let totalBusy = 0;
  for (const s of samples) {
    total += s.requests;
    totalCap += s.capacity;
    totalErr += s.errors;
    totalBusy += s.busyMs;
  }
  const poolMeanMs = total > 0 ? totalBusy / total : 0;
  let totalTput = 0;
  const tput = samples.map((s) => {
    const ms = s.requests > 0 && s.busyMs > 0 ? s.busyMs / s.requests : poolMeanMs;
    const t = ms > 0 ? s.capacity / ms : s.capacity;
    totalTput += t;
    return t;
  });
  return samples.map((s, i): OverloadVerdict => {
    const share = total > 0 ? s.requests / total : 0;
    const capacityShare = totalCap > 0 ? s.capacity / totalCap : 0;
    const peerReq = total - s.requests;
    const errorRatio = s.requests > 0 ? s.errors / s.requests : 0;
    const peerErrorRatio = peerReq > 0 ? (totalErr - s.errors) / peerReq : 0;
    const meanLatencyMs = s.requests > 0 ? s.busyMs / s.requests : 0;
    const peerMeanLatencyMs = peerReq > 0 ? (totalBusy - s.busyMs) / peerReq : 0;
    const enough = s.requests >= opts.minRequestsPerBackend;
    const overCapacity =
      enough &&
      capacityShare > 0 &&
      share / capacityShare > opts.overfed &&
      binomialZ(share, capacityShare, total) > opts.zThreshold;
    const peersComparable = peerReq >= opts.minRequestsPerBackend;
    const errorOutlier =
      enough &&
      s.errors >= MIN_ERRORS &&
      errorRatio >= MIN_ERROR_RATIO &&
      (!peersComparable ||
        (errorRatio > 3 * peerErrorRatio + 0.01 &&
          twoProportionZ(s.errors, s.requests, totalErr - s.errors, peerReq) > opts.zThreshold));
    const latencyOutlier =
      enough && peersComparable && latencyVsPeers(s.requests, s.busyMs, total, totalBusy).outlier;
    const throughputShare = totalTput > 0 ? (tput[i] as number) / totalTput : 0;
    const overSlow =
      !overCapacity &&
      enough &&
      peersComparable &&
      meanLatencyMs - peerMeanLatencyMs > MIN_LATENCY_GAP_MS &&
      errorOutlier &&
      throughputShare > 0 &&
      share / throughputShare > opts.overfed &&
      binomialZ(share, throughputShare, total) > opts.zThreshold;
    return {
      name: s.name,
      share,
      capacityShare,
      throughputShare,
      errorRatio,
      peerErrorRatio,
      meanLatencyMs,
      peerMeanLatencyMs,
      overCapacity,
      errorOutlier,
      latencyOutlier,
      overSlow,
      overloaded:
        (overCapacity && (errorOutlier || latencyOutlier)) || overSlow || (errorOutlier && latencyOutlier),
    };
  });
}

/** Pooled two-proportion z-test of x1/n1 against x2/n2. */
export function twoProportionZ(x1: number, n1: number, x2: number, n2: number): number {
  if (n1 <= 0 || n2 <= 0) return 0;
  const p = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2));
  return se > 0 ? (x1 / n1 - x2 / n2) / se : 0;
}

export type CauseKind =
  | 'hot-hash-key'
  | 'hash-affinity'
  | 'flapping-health'
  | 'per-process-state'
  | 'weight-skew'
  | 'peers-removed-by-health'
  | 'over-capacity'
  | 'slow-backend'
  | 'health-state'
  | 'retries'
  | 'panic'
  | 'unexplained'
  | 'bug';

export interface Cause {
  readonly kind: CauseKind;
  readonly text: string;
}

/** What the monitor knows about a backend and its pool when an alert needs a cause. */
export interface CauseFacts {
  readonly verdict: 'overfed' | 'starved' | 'overloaded';
  /** The policy's name, for the wording. */
  readonly policy: string;
  /** Its descriptor's `hashKeyed`: picks follow a hash key. */
  readonly hashKeyed: boolean;
  readonly backend: string;
  /** The most frequent hash key of the pool over the window, with the backend it went to. */
  readonly hotKey:
    { readonly key: string; readonly share: number; readonly backend: string | undefined } | undefined;
  readonly hashKeySource: string | undefined;
  /** Health state changes within the window: this backend and its peers. */
  readonly flips: number;
  readonly peerFlips: number;
  /** Its own health, as a predicate ("is unhealthy"), when it was out now or within the window. */
  readonly ownState?: string | undefined;
  /** Set when its mean latency is an outlier among its peers over the window. */
  readonly slow?: { readonly meanMs: number; readonly peerMeanMs: number } | undefined;
  /** Snapshots swapped in within the window (each restarts per-snapshot policy state). */
  readonly reloads: number;
  /** This backend's configured weight against the median of its peers'. */
  readonly weight: number;
  readonly peerWeight: number;
  /**
   * Config version that introduced the current weights. `exact` is false when the monitor
   * first saw them in that version but they may be older (it started on a later version).
   */
  readonly weightsSince:
    | {
        readonly version: number;
        readonly exact: boolean;
        readonly createdAt?: number;
        readonly author?: string;
        /** The version that replaced them, when they are no longer in force (a rollback). */
        readonly until?: number;
      }
    | undefined;
  /** Peers that are (or were during the window) not taking traffic, with their status. */
  readonly peersDown: readonly string[];
  /**
   * Retries within the window: the backends that answered retried requests, and the peers
   * health took out (whose failed tries were retried) now or within the window.
   */
  readonly retries?: { readonly from: readonly string[]; readonly to: readonly string[] } | undefined;
  /** The pool was in panic now or within the window. */
  readonly panic?: boolean | undefined;
  /**
   * Set only for a window in which nothing else moved the shares (one config, a
   * deterministic policy, no health change, retry or panic): the backend's request count
   * against what the policy's pick sequence gives it, and the slack it is allowed.
   */
  readonly pickDeviation?:
    { readonly expected: number; readonly observed: number; readonly slack: number } | undefined;
}

/** Hot-key share of the pool's requests from which a single key counts as the cause. */
export const HOT_KEY_SHARE = 0.2;
/** Weight ratio from which weights count as skewed. */
export const SKEW_RATIO = 2;

function skewText(f: CauseFacts): string {
  const ratio = f.peerWeight > 0 ? f.weight / f.peerWeight : Infinity;
  const n = Number.isFinite(ratio) ? (Math.round(ratio * 10) / 10).toString() : '∞';
  let since = '';
  if (f.weightsSince) {
    since = ` since config version ${f.weightsSince.version}${f.weightsSince.exact ? '' : ' or earlier'}`;
    if (f.weightsSince.createdAt !== undefined)
      since += ` applied ${new Date(f.weightsSince.createdAt).toISOString()}`;
    if (f.weightsSince.author) since += ` by ${f.weightsSince.author}`;
    if (f.weightsSince.until !== undefined) since += `, until config version ${f.weightsSince.until}`;
  }
  return `weights skewed ${n}:1 (${f.backend} weight ${f.weight}, peers ${f.peerWeight})${since}`;
}

/**
 * The likely causes, most likely first. Never empty: when nothing the monitor knows
 * explains an unfair share it says so ('unexplained'); the policy is called a bug only when
 * its own pick sequence provably deviates (pickDeviation beyond its slack).
 */
export function attributeCauses(f: CauseFacts): Cause[] {
  const out: Cause[] = [];
  const hashed = f.hashKeyed;
  const hk = f.hotKey;
  // A backend that was out gets less than its weight: that is health checking, not the policy.
  if (f.verdict === 'starved' && f.ownState !== undefined) {
    out.push({
      kind: 'health-state',
      text: `${f.backend} ${f.ownState}: health checking takes it out, and its expected share is 0 while it is out`,
    });
  }
  // Tries that failed on a dead peer were retried here: more than the weights ask for, by
  // design. First for an overfed share; an overload names the config's weights first.
  const r = f.retries;
  const retried: Cause[] =
    f.verdict !== 'starved' && r !== undefined && r.to.includes(f.backend)
      ? [
          {
            kind: 'retries',
            text:
              r.from.length > 0
                ? `${r.from.join(', ')} down: ${r.from.length === 1 ? 'its' : 'their'} traffic was retried to ${r.to.join(', ')}`
                : `requests that failed on a peer were retried to ${r.to.join(', ')}`,
          },
        ]
      : [];
  if (f.panic === true) {
    retried.push({
      kind: 'panic',
      text: 'the pool is in panic: every backend takes traffic, unhealthy ones included, and shares are judged against configured weights',
    });
  }
  if (f.verdict !== 'overloaded') out.push(...retried);
  if (hashed && hk && hk.share >= HOT_KEY_SHARE) {
    const src = f.hashKeySource ? ` (${f.hashKeySource})` : '';
    const pct = `${Math.round(hk.share * 100)}%`;
    if (f.verdict !== 'starved' && hk.backend === f.backend) {
      out.push({
        kind: 'hot-hash-key',
        text: `hot hash key "${hk.key}"${src} carries ${pct} of the pool's requests`,
      });
    } else if (f.verdict === 'starved' && hk.backend !== f.backend) {
      out.push({
        kind: 'hot-hash-key',
        text: `hot hash key "${hk.key}"${src} carries ${pct} of the pool's requests to ${hk.backend ?? 'another backend'}`,
      });
    }
  }
  if (f.verdict === 'overloaded') {
    if (f.weight >= SKEW_RATIO * f.peerWeight && f.weight > f.peerWeight)
      out.push({ kind: 'weight-skew', text: skewText(f) });
    if (f.peersDown.length > 0) {
      out.push({
        kind: 'peers-removed-by-health',
        text: `health checking removed its peers: ${f.peersDown.join(', ')}`,
      });
    }
    out.push(...retried);
  }
  if (f.slow && f.verdict !== 'starved') {
    const n =
      f.slow.peerMeanMs > 0 ? (Math.round((f.slow.meanMs / f.slow.peerMeanMs) * 10) / 10).toFixed(1) : '∞';
    out.push({
      kind: 'slow-backend',
      text: `${f.backend} is slow (latency ${n}× its peers: mean ${Math.round(f.slow.meanMs)} ms against ${Math.round(f.slow.peerMeanMs)} ms)`,
    });
  }
  if (f.flips >= 2 || f.peerFlips >= 2) {
    out.push({
      kind: 'flapping-health',
      text: `flapping health: ${f.flips} state changes of ${f.backend} and ${f.peerFlips} of its peers within the window`,
    });
  }
  // A reload restarts the counters and latency averages a policy keeps per process. It does
  // not make a backend slow or take it out, and a hash ring keeps no such state: none of
  // those is blamed on reloads.
  if (f.reloads > 0 && f.verdict !== 'overloaded' && !f.slow && f.ownState === undefined && !hashed) {
    out.push({
      kind: 'per-process-state',
      text: `per-process policy state: ${f.reloads} config reload(s) within the window restarted the ${f.policy} state`,
    });
  }
  if (hashed && !out.some((c) => c.kind === 'hot-hash-key')) {
    out.push({
      kind: 'hash-affinity',
      text: `hash affinity: the ${f.hashKeySource ?? 'hash'} keys seen map unevenly onto the ring`,
    });
  }
  if (out.length === 0) {
    const d = f.pickDeviation;
    if (f.verdict === 'overloaded') {
      out.push({
        kind: 'over-capacity',
        text: `its share of traffic exceeds its share of capacity under ${f.policy}`,
      });
    } else if (d !== undefined && Math.abs(d.observed - d.expected) > d.slack) {
      out.push({
        kind: 'bug',
        text: `${f.policy} does not follow its weights: ${f.backend} got ${Math.round(d.observed)} requests where its pick sequence gives ${Math.round(d.expected)} ± ${Math.round(d.slack)}, with no health change, retry, reload or panic in the window (likely a bug)`,
      });
    } else {
      out.push({
        kind: 'unexplained',
        text: `no known cause: no health change, retry, reload, panic or hot key in the window explains it under ${f.policy}`,
      });
    }
  }
  return out;
}
