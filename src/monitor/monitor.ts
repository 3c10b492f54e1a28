// The monitor: subscribes to request outcomes and host-state changes, keeps sliding
// windows per backend, judges fairness, runs the alert rules once a second and feeds
// notifiers, /metrics, /api/v1/pools, /api/v1/alerts, /readyz and the dashboard.
// It is never in the request path: the outcome subscriber does O(1) work into
// preallocated rings and cached metric children, with no await.
import type { Logger } from 'pino';
import { Cron } from 'croner';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventHub, HostStateChange, RequestOutcome, Topic } from '../core/events.ts';
import { policyDescriptor } from '../balancer/registry.ts';
import type { HostState } from '../health/host-state.ts';
import type { PoolRuntime, Snapshot } from '../runtime/snapshot.ts';
import { AlertEngine, type ActiveSample, type AlertView } from './alerts.ts';
import { BURN_MIN_REQUESTS, BURN_WINDOWS, burnRate } from './burn-rate.ts';
import {
  attributeCauses,
  DEFAULT_Z,
  judgeOverload,
  judgePool,
  measureFor,
  type BackendSample,
  type Cause,
  type FairnessMeasure,
  type LoadSample,
  type OverloadVerdict,
  type Verdict,
} from './fairness.ts';
import { WindowedTopKeys } from './hot-keys.ts';
import {
  codeClassIndex,
  CODE_CLASSES,
  DURATION_BUCKETS_S,
  durationBucket,
  MonitorMetrics,
  type TrafficCounters,
} from './metrics.ts';
import { createNotifier, type Notifier } from './notifiers/notifier.ts';
import { histogramQuantile, LATENCY_BOUNDS_MS, latencyBucket, Ring } from './ring.ts';
import { builtinRules, DEGRADED_FRACTION, NO_BACKEND_SPAN_MS, type RuleName } from './rules.ts';
import type { RuleDef } from './alerts.ts';

export interface ConfigVersionInfo {
  version: number;
  createdAt: number;
  author?: string;
}

export interface MonitorDeps {
  hub: EventHub;
  clock: Clock;
  logger: Logger;
  getSnapshot: () => Snapshot | undefined;
  configVersionInfo?: (version: number) => ConfigVersionInfo | undefined;
  /** Notifier queue options (tests use a short back-off). */
  notifierQueue?: { capacity?: number; maxAttempts?: number; baseBackoffMs?: number; timeoutMs?: number };
}

export interface BackendStatsView {
  backend: string;
  address: string;
  status: string;
  available: boolean;
  configuredWeight: number;
  effectiveWeight: number;
  inFlight: number;
  capacity: number;
  expectedShare: number;
  observedShare: number;
  /** observed / expected; null without traffic or when nothing is expected. */
  shareRatio: number | null;
  z: number;
  verdict: Verdict;
  requests: number;
  rps: number;
  errors: number;
  errorRatio: number;
  p50Ms: number | null;
  p99Ms: number | null;
  capacityShare: number;
  overloaded: boolean;
  /** Mean latency over the window against its peers' (request-weighted); null without data. */
  latencyFactor: number | null;
  /** The verdict in words when it is 'slow' or 'down' (no alert: the balancer does its job). */
  note: string | undefined;
}

export interface PoolStatsView {
  pool: string;
  policy: string;
  measure: FairnessMeasure;
  windowMs: number;
  requests: number;
  rps: number;
  errorRatio: number;
  /** Jain's index over share ratios; null without data. */
  jain: number | null;
  panic: boolean;
  /** Why no fairness verdict is given yet, when none is. */
  note: string | undefined;
  hotKey: { key: string; share: number; backend: string | undefined } | undefined;
  configVersion: number;
  /** The share-ratio bands this pool is judged against (monitor.fairness). */
  fairness: { overfed: number; starved: number };
  backends: BackendStatsView[];
}

export interface SeriesView {
  slotMs: number;
  /** Wall time (ms) of the newest slot's start; slots are oldest first. */
  end: number;
  pools: {
    pool: string;
    backends: { backend: string; requests: number[]; errors: number[]; shareRatio: (number | null)[] }[];
  }[];
}

// Fields of a backend's 1 s ring; the latency histogram follows them.
const REQ = 0;
const ERR = 1;
const BUSY = 2;
const EXP = 3;
const EXPSET = 4;
const HIST = 5;
// Fields of a pool's availability rings.
const P_TOTAL = 0;
const P_ERR = 1;
const P_NOBACKEND = 2;

const SLOT_MS = 1000;
const SHORT_SLOTS = 300; // 5 min of 1 s slots
const LONG_SLOT_MS = 10_000;
const LONG_SLOTS = 2160; // 6 h of 10 s slots
const FLIP_MEMORY = 64;
const RESEND_MS = 60_000;

interface BackendTrack extends TrafficCounters {
  readonly name: string;
  readonly ring: Ring;
  readonly flips: number[];
  lastUnavailable: number;
  /** Last evaluation that saw it unhealthy or ejected, and in which status. */
  lastDown: number;
  lastDownStatus: string;
  readonly codes: Map<string, Float64Array>;
  readonly durationBuckets: Float64Array;
  durationSum: number;
}

/**
 * A config as it was in force for a pool over a stretch of time. Causes are attributed from
 * the eras that overlap the window, not from the config in force at evaluation: after a
 * rollback the window still holds the traffic the bad config shaped.
 */
interface ConfigEra {
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

interface PoolTrack {
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
  topKeys: WindowedTopKeys;
  noBackend: number;
  retries: number;
  hadTraffic: boolean;
  weightsSig: string;
  weightsSince: number;
  /** True once the weights were seen to change (or the first version seen is 1). */
  weightsExact: boolean;
  eras: ConfigEra[];
  reloads: number[];
  stats: PoolStatsView | undefined;
  /** The last capacity judgement, in host order (latency against peers for causes). */
  overload: OverloadVerdict[];
  causes: Map<string, Cause[]>;
}

export class Monitor {
  readonly alertTransitions: Topic<AlertView>;
  readonly #d: MonitorDeps;
  readonly #metrics: MonitorMetrics;
  readonly #engine = new AlertEngine();
  readonly #pools = new Map<string, PoolTrack>();
  readonly #unsub: (() => void)[] = [];
  #snap: Snapshot | undefined;
  #windowMs = 60_000;
  #rules: Record<RuleName, RuleDef> | undefined;
  #timer: TimerHandle | undefined;
  #notifiers: Notifier[] = [];
  #notifySig = '';
  #outbox: AlertView[] = [];
  #lastResend = 0;
  #lastApply: { ok: boolean; version?: number; error?: string; at: number } | undefined;
  #lastAudit: { ok: boolean; at: number } | undefined;
  #lastAuditOkMono: number | undefined;
  readonly #startedMono: number;
  #auditGap: { schedule: string; ms: number | undefined } = { schedule: '', ms: undefined };

  constructor(deps: MonitorDeps) {
    this.#d = deps;
    this.#startedMono = deps.clock.now();
    this.alertTransitions = this.#engine.transitions;
    const pools = this.#pools;
    this.#metrics = new MonitorMetrics({
      *traffic() {
        for (const p of pools.values()) {
          yield* p.list;
          yield p.none;
        }
      },
      *poolCounters() {
        for (const p of pools.values()) yield { pool: p.name, noBackend: p.noBackend, retries: p.retries };
      },
      snapshot: () => this.#snap ?? deps.getSnapshot(),
      shareRatio: (pool, backend) =>
        this.#pools.get(pool)?.stats?.backends.find((b) => b.backend === backend)?.shareRatio ?? null,
      jain: (pool) => this.#pools.get(pool)?.stats?.jain ?? null,
      firing: () => this.#engine.firing(),
      lastApplyOk: () => this.#lastApply?.ok,
    });
    this.#unsub.push(
      deps.hub.requests.subscribe((o) => this.#onRequest(o)),
      deps.hub.hostState.subscribe((c) => this.#onHostState(c)),
      this.#engine.transitions.subscribe((a) => {
        this.#outbox.push(a);
        const log = { alertname: a.alertname, labels: a.labels, summary: a.annotations['summary'] };
        if (a.state === 'firing') deps.logger.warn(log, 'alert firing');
        else deps.logger.info(log, 'alert resolved');
      }),
    );
    this.#sync();
  }

  start(): void {
    if (this.#timer) return;
    const tick = () => {
      try {
        this.evaluate();
      } catch (err) {
        this.#d.logger.error({ err }, 'monitor evaluation failed');
      }
      this.#timer = this.#d.clock.setTimeout(tick, SLOT_MS);
      this.#timer.unref?.();
    };
    this.#timer = this.#d.clock.setTimeout(tick, SLOT_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) this.#d.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const u of this.#unsub.splice(0)) u();
    for (const n of this.#notifiers) n.close();
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.#metrics.registry.contentType, body: await this.#metrics.registry.metrics() };
  }

  poolStats(): PoolStatsView[] {
    const out: PoolStatsView[] = [];
    for (const p of this.#pools.values()) if (p.stats) out.push(p.stats);
    return out;
  }

  alerts(): AlertView[] {
    return this.#engine.views();
  }

  /** Seam for rules judged outside the monitor (the fleet's): same engine, notifiers and views. */
  raiseExternal(rule: RuleDef, active: readonly ActiveSample[]): void {
    this.#engine.evaluate(rule, active, this.#d.clock.now(), this.#d.clock.wallNow());
  }

  degradedReasons(): string[] {
    return this.#engine
      .firing()
      .filter((a) => a.category === 'fairness' || a.category === 'availability')
      .map((a) => `${a.alertname}: ${a.annotations['summary'] ?? ''}`);
  }

  recordApply(result: { ok: boolean; version?: number; error?: string }): void {
    this.#metrics.configApplies.inc({ result: result.ok ? 'success' : 'failure' });
    this.#lastApply = { ...result, at: this.#d.clock.wallNow() };
  }

  /** Called by the audit module after every run. */
  recordAudit(result: { ok: boolean; at: number }): void {
    this.#metrics.auditRuns.inc({ result: result.ok ? 'success' : 'failure' });
    this.#lastAudit = result;
    if (result.ok) {
      this.#metrics.auditLastSuccess.set(result.at / 1000);
      this.#lastAuditOkMono = this.#d.clock.now();
    }
  }

  /** Called by the active health checker after every check. */
  recordHealthCheck(pool: string, backend: string, ok: boolean): void {
    this.#metrics.healthChecks.inc({ pool, backend, result: ok ? 'success' : 'failure' });
  }

  series(): SeriesView {
    const now = this.#d.clock.now();
    const slots = Math.max(1, Math.round(this.#windowMs / SLOT_MS));
    const pools: SeriesView['pools'] = [];
    for (const p of this.#pools.values()) {
      for (const b of p.list) b.ring.advance(now);
      const totals: number[] = [];
      for (let age = slots - 1; age >= 0; age--) {
        let n = 0;
        for (const b of p.list) n += b.ring.at(age, REQ);
        totals.push(n);
      }
      pools.push({
        pool: p.name,
        backends: p.list.map((b) => {
          const requests: number[] = [];
          const errors: number[] = [];
          const shareRatio: (number | null)[] = [];
          for (let age = slots - 1; age >= 0; age--) {
            const r = b.ring.at(age, REQ);
            const n = totals[slots - 1 - age] as number;
            const exp = b.ring.at(age, EXPSET) > 0 ? b.ring.at(age, EXP) : 0;
            requests.push(r);
            errors.push(b.ring.at(age, ERR));
            shareRatio.push(n > 0 && exp > 0 ? r / n / exp : null);
          }
          return { backend: b.name, requests, errors, shareRatio };
        }),
      });
    }
    const wall = this.#d.clock.wallNow();
    return { slotMs: SLOT_MS, end: wall - (wall % SLOT_MS), pools };
  }

  /** Notifiers built from config.monitor.notify (for tests and shutdown). */
  notifiers(): readonly Notifier[] {
    return this.#notifiers;
  }

  // ---- event subscribers: O(1), no await -------------------------------------------------

  #onRequest(o: RequestOutcome): void {
    let p = this.#pools.get(o.pool);
    if (p === undefined) {
      this.#sync();
      p = this.#pools.get(o.pool);
      if (p === undefined) return;
    }
    const now = this.#d.clock.now();
    const isErr = o.status >= 500 || o.status < 100 ? 1 : 0;
    p.short.add(now, P_TOTAL, 1);
    p.long.add(now, P_TOTAL, 1);
    if (isErr) {
      p.short.add(now, P_ERR, 1);
      p.long.add(now, P_ERR, 1);
    }
    p.retries += o.retries;
    const b = o.backend === undefined ? undefined : p.backends.get(o.backend);
    if (b === undefined) {
      bump(countsFor(p.none.codes, o.listener), codeClassIndex(o.status));
      if (o.backend === undefined) {
        p.noBackend++;
        p.short.add(now, P_NOBACKEND, 1);
      }
      return;
    }
    bump(countsFor(b.codes, o.listener), codeClassIndex(o.status));
    bump(b.durationBuckets, durationBucket(o.durationMs / 1000));
    b.durationSum += o.durationMs / 1000;
    const r = b.ring;
    r.add(now, REQ, 1);
    if (isErr) r.add(now, ERR, 1);
    r.add(now, BUSY, o.durationMs);
    r.add(now, HIST + latencyBucket(o.durationMs), 1);
    if (o.hashKey !== undefined) p.topKeys.add(now, o.hashKey, b.name);
  }

  #onHostState(c: HostStateChange): void {
    if (c.to === 'ejected') {
      this.#metrics.outlierEjections.inc({ pool: c.pool, backend: c.backend, reason: reasonToken(c.reason) });
    }
    const b = this.#pools.get(c.pool)?.backends.get(c.backend);
    if (b === undefined) return;
    if (b.flips.length >= FLIP_MEMORY) b.flips.shift();
    b.flips.push(this.#d.clock.now());
  }

  // ---- snapshot tracking ---------------------------------------------------------------

  #sync(): void {
    const snap = this.#d.getSnapshot();
    if (snap === undefined || snap === this.#snap) return;
    const prev = this.#snap;
    this.#snap = snap;
    const now = this.#d.clock.now();
    const m = snap.config.monitor;
    const windowChanged = m.window !== this.#windowMs;
    this.#windowMs = m.window;
    this.#rules = builtinRules(m);
    if (windowChanged) this.#pools.clear();
    for (const name of [...this.#pools.keys()]) if (!snap.pools.has(name)) this.#pools.delete(name);
    for (const [name, pr] of snap.pools) {
      let p = this.#pools.get(name);
      if (p === undefined) {
        p = {
          name,
          backends: new Map(),
          list: [],
          none: { pool: name, backend: '', codes: new Map(), durationBuckets: undefined, durationSum: 0 },
          short: new Ring(SLOT_MS, SHORT_SLOTS, 3),
          long: new Ring(LONG_SLOT_MS, LONG_SLOTS, 2),
          topKeys: new WindowedTopKeys(m.window),
          noBackend: 0,
          retries: 0,
          hadTraffic: false,
          weightsSig: '',
          weightsSince: snap.version,
          weightsExact: snap.version <= 1,
          eras: [],
          reloads: [],
          stats: undefined,
          overload: [],
          causes: new Map(),
        };
        this.#pools.set(name, p);
      } else if (prev !== undefined && prev.version !== snap.version) {
        p.reloads.push(now);
        if (p.reloads.length > FLIP_MEMORY) p.reloads.shift();
      }
      const list: BackendTrack[] = [];
      for (const h of pr.state.hosts) {
        let b = p.backends.get(h.name);
        if (b === undefined) {
          b = {
            name: h.name,
            pool: name,
            backend: h.name,
            ring: new Ring(
              SLOT_MS,
              Math.max(1, Math.round(m.window / SLOT_MS)),
              HIST + LATENCY_BOUNDS_MS.length,
            ),
            flips: [],
            lastUnavailable: Number.NEGATIVE_INFINITY,
            lastDown: Number.NEGATIVE_INFINITY,
            lastDownStatus: '',
            codes: new Map(),
            durationBuckets: new Float64Array(DURATION_BUCKETS_S.length + 1),
            durationSum: 0,
          };
        }
        list.push(b);
      }
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
        const from = now - this.#windowMs;
        while (p.eras.length > 1 && ((p.eras[0] as ConfigEra).to < from || p.eras.length > FLIP_MEMORY))
          p.eras.shift();
      }
    }
    const notifySig = JSON.stringify([m.notify, snap.config.admin.address]);
    if (notifySig !== this.#notifySig) {
      this.#notifySig = notifySig;
      for (const n of this.#notifiers) n.close();
      const externalURL = `http://${snap.config.admin.address}`;
      this.#notifiers = m.notify.map((spec) =>
        createNotifier(spec, {
          logger: this.#d.logger,
          externalURL,
          ...(this.#d.notifierQueue ? { queue: this.#d.notifierQueue } : {}),
          onResult: (notifier, result) => this.#metrics.notifications.inc({ notifier, result }),
        }),
      );
    }
  }

  // ---- evaluation (once a second) --------------------------------------------------------

  /** One evaluation: refresh windows and stats, run every rule, send notifications. */
  evaluate(): void {
    this.#sync();
    const snap = this.#snap;
    const rules = this.#rules;
    if (snap === undefined || rules === undefined) return;
    const now = this.#d.clock.now();
    const wall = this.#d.clock.wallNow();
    const m = snap.config.monitor;
    const active: Record<RuleName, ActiveSample[]> = {
      ServiceUnavailableBurn: [],
      BackendDown: [],
      PoolDegraded: [],
      PoolPanic: [],
      NoBackendAvailable: [],
      HealthFlapping: [],
      BackendOverfed: [],
      BackendStarved: [],
      BackendOverloaded: [],
      ConfigApplyFailed: [],
      NoTraffic: [],
      AuditFailing: [],
      AuditsNotRunning: [],
    };
    const version = this.#versionText(snap.version);
    for (const [name, pr] of snap.pools) {
      const p = this.#pools.get(name);
      if (p === undefined) continue;
      const stats = this.#poolStats(p, pr, snap, now);
      p.stats = stats;
      const cmd = `fulcrum status --pool ${name}`;
      const state = pr.state;

      // Availability: burn rate per window pair.
      const target = m.slo.target;
      for (const w of BURN_WINDOWS) {
        const longRing = w.longMs <= SHORT_SLOTS * SLOT_MS ? p.short : p.long;
        const shortRing = w.shortMs <= SHORT_SLOTS * SLOT_MS ? p.short : p.long;
        const sTotal = shortRing.sum(now, P_TOTAL, w.shortMs);
        if (sTotal < BURN_MIN_REQUESTS) continue;
        const sBurn = burnRate(shortRing.sum(now, P_ERR, w.shortMs), sTotal, target);
        const lBurn = burnRate(
          longRing.sum(now, P_ERR, w.longMs),
          longRing.sum(now, P_TOTAL, w.longMs),
          target,
        );
        if (sBurn > w.factor && lBurn > w.factor) {
          const ratio = (sBurn * (1 - target) * 100).toFixed(1);
          active.ServiceUnavailableBurn.push({
            labels: { pool: name },
            value: sBurn,
            annotations: {
              summary: `pool ${name} answers ${ratio}% 5xx, burning its error budget ${sBurn.toFixed(1)}× too fast`,
              description:
                `Pool ${name} (policy ${pr.config.policy}) answered ${ratio}% of requests with 5xx over the last ` +
                `${fmtMs(w.shortMs)} and burned the ${pct(target)} SLO's budget at ${lBurn.toFixed(1)}× over ` +
                `${fmtMs(w.longMs)} (window pair ${w.name}, threshold ${w.factor}×). ${worstBackendText(stats)}` +
                `Config version in force: ${version}. See more: ${cmd}`,
              window: w.name,
              command: cmd,
            },
          });
          break;
        }
      }

      // Health and availability of hosts.
      const weighted = state.hosts.filter((h) => h.configuredWeight > 0 && !h.drain);
      const available = weighted.filter((h) => h.available);
      for (const h of state.hosts) {
        const b = p.backends.get(h.name);
        if (b && !h.available) b.lastUnavailable = now;
        if (!h.drain && (h.status === 'unhealthy' || h.status === 'ejected')) {
          active.BackendDown.push({
            labels: { pool: name, backend: h.name },
            value: 1,
            annotations: {
              summary: `backend ${h.name} of pool ${name} is ${h.status}`,
              description: `Backend ${h.name} (${h.address}) in pool ${name} is ${h.status} and takes no traffic; ${available.length} of ${weighted.length} backends remain available. Config version in force: ${version}. See more: ${cmd}`,
              command: cmd,
            },
          });
        }
        const flapWindow = pr.config.flapDampening.window;
        const flips = b ? b.flips.filter((t) => now - t <= flapWindow).length : 0;
        if (flips >= pr.config.flapDampening.flips) {
          active.HealthFlapping.push({
            labels: { pool: name, backend: h.name },
            value: flips,
            annotations: {
              summary: `backend ${h.name} of pool ${name} changed health ${flips} times in ${fmtMs(flapWindow)}`,
              description: `Backend ${h.name} (${h.address}) flips between states (now ${h.status}); its traffic share swings with it. Check the backend and the health check (path, timeout, thresholds). See more: ${cmd}`,
              command: cmd,
            },
          });
        }
      }
      if (weighted.length > 0 && available.length / weighted.length < DEGRADED_FRACTION) {
        active.PoolDegraded.push({
          labels: { pool: name },
          value: available.length / weighted.length,
          annotations: {
            summary: `pool ${name} has ${available.length} of ${weighted.length} backends available`,
            description: `Pool ${name} runs on ${available.length} of ${weighted.length} backends (${weighted
              .filter((h) => !h.available)
              .map((h) => `${h.name} ${h.status}`)
              .join(
                ', ',
              )}); the rest carry their load. Config version in force: ${version}. See more: ${cmd}`,
            command: cmd,
          },
        });
      }
      if (state.panic) {
        active.PoolPanic.push({
          labels: { pool: name },
          value: 1,
          annotations: {
            summary: `pool ${name} is in panic: balancing across unhealthy backends`,
            description: `Fewer than ${pct(pr.config.panicThreshold)} of pool ${name}'s backends are healthy (${available.length} of ${weighted.length}), so it sends traffic to all of them, unhealthy ones included. Fix the backends or the health check. See more: ${cmd}`,
            command: cmd,
          },
        });
      }
      const noBackend = p.short.sum(now, P_NOBACKEND, NO_BACKEND_SPAN_MS);
      if ((weighted.length > 0 && state.candidates.length === 0) || noBackend > 0) {
        active.NoBackendAvailable.push({
          labels: { pool: name },
          value: noBackend,
          annotations: {
            summary: `pool ${name} has no backend available: clients get 503`,
            description: `Pool ${name} answered ${noBackend} request(s) with 503 FULCRUM_ERR_PROXY_NO_BACKEND in the last ${fmtMs(NO_BACKEND_SPAN_MS)}; ${available.length} of ${weighted.length} backends are available. Config version in force: ${version}. See more: ${cmd}`,
            command: cmd,
          },
        });
      }

      // Fairness: the balancer against the config, then the config against capacity.
      p.causes.clear();
      for (const b of stats.backends) {
        if (b.verdict === 'overfed' || b.verdict === 'starved') {
          const causes = this.#causes(p, pr, stats, b, b.verdict, now);
          p.causes.set(b.backend, causes);
          const over = b.verdict === 'overfed';
          const ratio = b.shareRatio === null ? '∞' : b.shareRatio.toFixed(2);
          (over ? active.BackendOverfed : active.BackendStarved).push({
            labels: { pool: name, backend: b.backend },
            value: b.shareRatio ?? Number.POSITIVE_INFINITY,
            annotations: {
              summary: `backend ${b.backend} of pool ${name} gets ${ratio}× its expected share (${causes[0]?.kind ?? 'unknown'})`,
              description:
                `Backend ${b.backend} in pool ${name} (policy ${stats.policy}, measured by ${stats.measure}) got ` +
                `${pct(b.observedShare)} of the pool's ${stats.requests} requests over the last ${fmtMs(stats.windowMs)}; ` +
                `its effective weight entitles it to ${pct(b.expectedShare)} (share ratio ${ratio}, z=${b.z.toFixed(1)}). ` +
                `Likely cause: ${causes.map((c) => c.text).join('; ')}. Config version in force: ${version}. See more: ${cmd}`,
              cause: causes[0]?.text ?? '',
              cause_kind: causes[0]?.kind ?? '',
              command: cmd,
            },
          });
        }
        if (b.overloaded) {
          const causes = this.#causes(p, pr, stats, b, 'overloaded', now);
          // Request shares (a load-aware pool's observedShare is in its own measure).
          const o = p.overload.find((x) => x.name === b.backend);
          const share = o?.share ?? b.observedShare;
          const load =
            o === undefined || o.overCapacity
              ? `${pct(share)} of traffic for ${pct(b.capacityShare)} of capacity`
              : o.overSlow
                ? `${pct(share)} of traffic for ${pct(o.throughputShare)} of the pool's throughput at its latency`
                : `${pct(share)} of traffic, failing and ${(o.meanLatencyMs / Math.max(1, o.peerMeanLatencyMs)).toFixed(1)}× slower than its peers`;
          active.BackendOverloaded.push({
            labels: { pool: name, backend: b.backend },
            value: b.capacityShare > 0 ? share / b.capacityShare : 0,
            annotations: {
              summary: `backend ${b.backend} of pool ${name} is overloaded: ${load}, ${pct(b.errorRatio)} errors (${causes[0]?.kind ?? 'unknown'})`,
              description:
                `Backend ${b.backend} in pool ${name} (policy ${stats.policy}) takes ${load} over the last ` +
                `${fmtMs(stats.windowMs)} and answers ${pct(b.errorRatio)} 5xx (p99 ${fmtLatency(b.p99Ms)}) while ` +
                `its peers do better. Likely cause: ${causes.map((c) => c.text).join('; ')}. ` +
                `Config version in force: ${version}. See more: ${cmd}`,
              cause: causes[0]?.text ?? '',
              cause_kind: causes[0]?.kind ?? '',
              command: cmd,
            },
          });
        }
      }

      // Traffic that stopped.
      if (stats.requests >= m.fairness.minRequestsPerBackend) p.hadTraffic = true;
      if (p.hadTraffic && stats.requests === 0) {
        active.NoTraffic.push({
          labels: { pool: name },
          value: 0,
          annotations: {
            summary: `pool ${name} had traffic and has received none for ${fmtMs(stats.windowMs)}`,
            description: `Pool ${name} served requests earlier but none in the last ${fmtMs(stats.windowMs)}. Check the routes that lead to it (config version in force: ${version}), DNS, and whatever sends it traffic. See more: ${cmd}`,
            command: cmd,
          },
        });
      }
    }

    if (this.#lastApply && !this.#lastApply.ok) {
      active.ConfigApplyFailed.push({
        labels: {},
        value: 1,
        annotations: {
          summary: `the last config apply failed; version ${snap.version} is still running`,
          description: `The config apply at ${new Date(this.#lastApply.at).toISOString()} failed: ${this.#lastApply.error ?? 'unknown error'}. The running config (version ${version}) was kept. Run \`fulcrum validate\` and \`fulcrum lint\` on the file, then apply again; \`fulcrum history\` lists versions.`,
          command: 'fulcrum history',
        },
      });
    }
    if (this.#lastAudit && !this.#lastAudit.ok) {
      active.AuditFailing.push({
        labels: {},
        value: 1,
        annotations: {
          summary: 'the last scheduled audit found problems',
          description: `The audit run at ${new Date(this.#lastAudit.at).toISOString()} failed. Run \`fulcrum audit\` to see the findings.`,
          command: 'fulcrum audit',
        },
      });
    }
    const gap = this.#auditGapMs(snap.config.audit.schedule);
    if (gap !== undefined && now - (this.#lastAuditOkMono ?? this.#startedMono) > gap) {
      active.AuditsNotRunning.push({
        labels: {},
        value: 1,
        annotations: {
          summary: `no successful audit for more than ${fmtMs(gap)}`,
          description: `Audits are scheduled "${snap.config.audit.schedule}" but none passed in ${fmtMs(gap)}. Check the logs for the audit scheduler and run \`fulcrum audit\`.`,
          command: 'fulcrum audit',
        },
      });
    }

    for (const name of Object.keys(active) as RuleName[]) {
      this.#engine.evaluate(rules[name], active[name], now, wall);
    }
    this.#flush(now, wall);
  }

  #flush(now: number, wall: number): void {
    const out = this.#outbox;
    const resend = now - this.#lastResend >= RESEND_MS;
    if (out.length === 0 && !resend) return;
    this.#outbox = [];
    let firing: AlertView[] | undefined;
    if (resend) {
      this.#lastResend = now;
      firing = this.#engine.firing().filter((a) => !out.some((o) => o.fingerprint === a.fingerprint));
    }
    for (const n of this.#notifiers) {
      const batch = n.wantsResend && firing ? [...out, ...firing] : out;
      if (batch.length > 0) n.notify(batch, wall);
    }
  }

  #poolStats(p: PoolTrack, pr: PoolRuntime, snap: Snapshot, now: number): PoolStatsView {
    const state = pr.state;
    const windowMs = this.#windowMs;
    const slots = Math.max(1, Math.round(windowMs / SLOT_MS));
    // Expected shares now, written into the current slot so the window's expected share is
    // the traffic-weighted average of what the config asked for second by second.
    const cand = new Set<HostState>(state.candidates);
    const uses = policyDescriptor(state.policy.name).usesWeights;
    const weights = state.hosts.map((h) =>
      cand.has(h) ? (uses ? (state.panic ? h.configuredWeight : h.effectiveWeight) : 1) : 0,
    );
    let wsum = 0;
    for (const w of weights) wsum += w;
    const currentExp = weights.map((w) => (wsum > 0 ? w / wsum : 0));
    for (let i = 0; i < p.list.length; i++) {
      const r = (p.list[i] as BackendTrack).ring;
      r.set(now, EXP, currentExp[i] as number);
      r.set(now, EXPSET, 1);
    }
    const perSlot: number[] = new Array<number>(slots).fill(0);
    for (const b of p.list)
      for (let age = 0; age < slots; age++) perSlot[age] = (perSlot[age] as number) + b.ring.at(age, REQ);
    let total = 0;
    for (const n of perSlot) total += n;
    const capacities = new Map(pr.config.backends.map((b) => [b.name, b.capacity ?? 1]));
    const samples: BackendSample[] = [];
    const loads: LoadSample[] = [];
    const hists: Float64Array[] = [];
    const errs: number[] = [];
    const sums = new Float64Array(3);
    p.list.forEach((b, i) => {
      const h = state.hosts[i];
      if (h !== undefined && isOut(h.status)) {
        b.lastDown = now;
        b.lastDownStatus = h.status;
      }
      sums.fill(0);
      b.ring.accumulate(REQ, slots, sums);
      const req = sums[REQ] as number;
      const err = sums[ERR] as number;
      const busy = sums[BUSY] as number;
      let expCount = 0;
      for (let age = 0; age < slots; age++) {
        const n = perSlot[age] as number;
        if (n === 0) continue;
        const e = b.ring.at(age, EXPSET) > 0 ? b.ring.at(age, EXP) : (currentExp[i] as number);
        expCount += n * e;
      }
      const hist = new Float64Array(LATENCY_BOUNDS_MS.length);
      b.ring.accumulate(HIST, slots, hist);
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
    const verdict = judgePool(samples, measureFor(pr.config.policy), windowMs, opts);
    const overload = judgeOverload(loads, opts);
    p.overload = overload;
    const seconds = windowMs / 1000;
    let poolErr = 0;
    for (const e of errs) poolErr += e;
    // Hot keys matter while any config over the window hashed (a rollback does not undo them).
    const hot = this.#erasInWindow(p, now).some((e) => e.policy === 'consistent-hash')
      ? p.topKeys.hottest(now)
      : undefined;
    return {
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
  }

  #erasInWindow(p: PoolTrack, now: number): ConfigEra[] {
    const from = now - this.#windowMs;
    return p.eras.filter((e) => e.to >= from);
  }

  #causes(
    p: PoolTrack,
    pr: PoolRuntime,
    stats: PoolStatsView,
    b: BackendStatsView,
    verdict: 'overfed' | 'starved' | 'overloaded',
    now: number,
  ): Cause[] {
    const windowMs = this.#windowMs;
    const peers = pr.state.hosts.filter((h) => h.name !== b.backend);
    let peerFlips = 0;
    for (const h of peers)
      peerFlips += p.backends.get(h.name)?.flips.filter((t) => now - t <= windowMs).length ?? 0;
    // The configs that shaped the window's traffic, not just the one in force now: the era
    // whose weights favoured this backend most explains an overfed or overloaded share (the
    // one that favoured it least a starved share), and a hashing era explains a hot key.
    const eras = this.#erasInWindow(p, now);
    let era = eras[eras.length - 1];
    let weight = b.configuredWeight;
    let peerWeight = medianPeerWeight(era?.weights, b.backend) ?? 0;
    let best: number | undefined;
    for (const e of eras) {
      const w = e.weights.get(b.backend) ?? 0;
      const pw = medianPeerWeight(e.weights, b.backend) ?? 0;
      const r = pw > 0 ? w / pw : w > 0 ? Number.POSITIVE_INFINITY : 0;
      if (best === undefined || (verdict === 'starved' ? r < best : r > best)) {
        best = r;
        era = e;
        weight = w;
        peerWeight = pw;
      }
    }
    const hashEra = eras.findLast((e) => e.policy === 'consistent-hash');
    const info = era ? this.#d.configVersionInfo?.(era.weightsSince) : undefined;
    const track = p.backends.get(b.backend);
    let ownState: string | undefined;
    if (isOut(b.status)) ownState = `is ${b.status}`;
    else if (track && now - track.lastDown <= windowMs)
      ownState = `was ${track.lastDownStatus} within the last ${fmtMs(windowMs)} (now ${b.status})`;
    const lat = p.overload.find((x) => x.name === b.backend);
    // The skewed weights' end, when a later config replaced them (a rollback).
    const until = era ? eras.find((e) => e.from > era.from && e.weightsSig !== era.weightsSig) : undefined;
    return attributeCauses({
      verdict,
      policy: hashEra?.policy ?? pr.config.policy,
      backend: b.backend,
      hotKey: stats.hotKey,
      hashKeySource: hashEra ? hashEra.hashKey : pr.config.hash?.key,
      flips: track?.flips.filter((t) => now - t <= windowMs).length ?? 0,
      peerFlips,
      reloads: p.reloads.filter((t) => now - t <= windowMs).length,
      weight,
      peerWeight,
      weightsSince: era && {
        version: era.weightsSince,
        exact: era.weightsExact,
        ...(info ? { createdAt: info.createdAt } : {}),
        ...(info?.author ? { author: info.author } : {}),
        ...(until ? { until: until.version } : {}),
      },
      ownState,
      slow:
        lat && (lat.latencyOutlier || lat.overSlow)
          ? { meanMs: lat.meanLatencyMs, peerMeanMs: lat.peerMeanLatencyMs }
          : undefined,
      peersDown: peers
        .filter(
          (h) => !h.available || now - (p.backends.get(h.name)?.lastUnavailable ?? -Infinity) <= windowMs,
        )
        .map((h) => `${h.name} (${h.status})`),
    });
  }

  #versionText(v: number): string {
    const info = this.#d.configVersionInfo?.(v);
    if (!info) return String(v);
    return `${v} (applied ${new Date(info.createdAt).toISOString()}${info.author ? ` by ${info.author}` : ''})`;
  }

  /** Longest acceptable time without a passing audit: two schedule periods plus slack. */
  #auditGapMs(schedule: string): number | undefined {
    if (schedule !== this.#auditGap.schedule) {
      let ms: number | undefined;
      if (schedule.trim() !== '') {
        try {
          const [a, b] = new Cron(schedule, { paused: true }).nextRuns(2);
          if (a && b) ms = 2 * (b.getTime() - a.getTime()) + 5 * 60_000;
        } catch {
          ms = undefined;
        }
      }
      this.#auditGap = { schedule, ms };
    }
    return this.#auditGap.ms;
  }
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
function isOut(status: string): boolean {
  return status === 'unhealthy' || status === 'ejected';
}

/** Median weight of the other backends in a weight map; undefined without peers. */
function medianPeerWeight(
  weights: ReadonlyMap<string, number> | undefined,
  backend: string,
): number | undefined {
  if (weights === undefined) return undefined;
  const peers: number[] = [];
  for (const [name, w] of weights) if (name !== backend) peers.push(w);
  if (peers.length === 0) return undefined;
  peers.sort((x, y) => x - y);
  return peers[Math.floor((peers.length - 1) / 2)];
}

function bump(a: Float64Array, i: number): void {
  a[i] = (a[i] as number) + 1;
}

/** The per-listener status-class counts of a backend (allocated once per listener). */
function countsFor(codes: Map<string, Float64Array>, listener: string): Float64Array {
  let c = codes.get(listener);
  if (c === undefined) {
    c = new Float64Array(CODE_CLASSES.length);
    codes.set(listener, c);
  }
  return c;
}

/** Ejection reasons become a bounded label: the first word, lower-case, ≤ 32 chars. */
function reasonToken(reason: string): string {
  const t = /^[A-Za-z0-9_-]+/.exec(reason.trim())?.[0]?.toLowerCase() ?? 'unknown';
  return t.slice(0, 32);
}

function pct(f: number): string {
  const v = f * 100;
  return `${v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1)}%`;
}

function fmtMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

function fmtLatency(ms: number | null): string {
  return ms === null ? 'n/a' : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
}

function worstBackendText(stats: PoolStatsView): string {
  let worst: BackendStatsView | undefined;
  for (const b of stats.backends)
    if (b.requests > 0 && (!worst || b.errorRatio > worst.errorRatio)) worst = b;
  if (!worst || worst.errors === 0) return '';
  return `Worst backend: ${worst.backend} with ${pct(worst.errorRatio)} 5xx over ${worst.requests} requests (share ${pct(worst.observedShare)}). `;
}
