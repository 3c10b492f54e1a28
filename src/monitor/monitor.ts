// The monitor: subscribes to request outcomes and host-state changes, keeps sliding
// windows per backend (pool-track.ts), and once a second gathers the facts of every pool
// into a RuleContext that each alert rule of the catalog (rules/*.ts) evaluates; it feeds
// notifiers, /metrics, /api/v1/pools, /api/v1/alerts, /readyz and the dashboard.
// It is never in the request path: the outcome subscriber does O(1) work into
// preallocated rings and cached metric children, with no await.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventHub, HostStateChange, RequestOutcome, Topic } from '../core/events.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import { AlertEngine, type ActiveSample, type AlertView, type RuleDef } from './alerts.ts';
import { AuditGap } from './audit-gap.ts';
import { backendCauses, type VersionInfo } from './backend-causes.ts';
import { BURN_WINDOWS } from './burn-rate.ts';
import type { Cause } from './fairness.ts';
import {
  codeClassIndex,
  CODE_CLASSES,
  DURATION_BUCKETS_S,
  durationBucket,
  MonitorMetrics,
  type RuntimeMetricsSource,
} from './metrics.ts';
import { flushExpected } from './expected-counts.ts';
import { createNotifier, type Notifier } from './notifiers/notifier.ts';
import { hostFacts } from './host-facts.ts';
import { isOut, poolStats, type PoolStatsView } from './pool-stats.ts';
import {
  BUSY,
  ERR,
  FLIP_MEMORY,
  HIST,
  newPoolTrack,
  P_ERR,
  P_NOBACKEND,
  P_TOTAL,
  REQ,
  RETRIED,
  SHORT_SLOTS,
  SLOT_MS,
  syncPoolTrack,
  type PoolTrack,
} from './pool-track.ts';
import { latencyBucket } from './ring.ts';
import { ALERT_RULES } from './rules/catalog.ts';
import { NO_BACKEND_SPAN_MS } from './rules/no-backend-available.ts';
import type { BackendCauses, PoolFacts, RuleContext, WorkerWindowFacts } from './rules/rule-context.ts';
import { series, type SeriesView } from './series.ts';

export type { BackendStatsView, PoolStatsView } from './pool-stats.ts';
export type { SeriesView } from './series.ts';
export type ConfigVersionInfo = VersionInfo;

export interface MonitorDeps {
  hub: EventHub;
  clock: Clock;
  logger: Logger;
  getSnapshot: () => Snapshot | undefined;
  configVersionInfo?: (version: number) => ConfigVersionInfo | undefined;
  /** Proxy and log-writer facts for /metrics (connections per listener, dropped log lines). */
  runtimeMetrics?: RuntimeMetricsSource;
  /** The `instance` label of every alert this process raises (default host:pid). */
  instance?: string;
  /** Notifier queue options (tests use a short back-off). */
  notifierQueue?: { capacity?: number; maxAttempts?: number; baseBackoffMs?: number; timeoutMs?: number };
}

const RESEND_MS = 60_000;

/** The default `instance` label: unique per process on a host, stable for its lifetime. */
export function defaultInstance(): string {
  return `${hostname()}:${process.pid}`;
}

/** Evaluations prompted by health changes come at least this far apart. */
const SOON_MIN_GAP_MS = 250;

export class Monitor {
  readonly alertTransitions: Topic<AlertView>;
  readonly instance: string;
  readonly #d: MonitorDeps;
  readonly #metrics: MonitorMetrics;
  readonly #engine: AlertEngine;
  readonly #pools = new Map<string, PoolTrack>();
  readonly #unsub: (() => void)[] = [];
  readonly #auditGap = new AuditGap();
  /** Per-worker request counters once per evaluation, over the last window (WorkerSkew). */
  readonly #workerSamples: { at: number; requests: number[] }[] = [];
  #snap: Snapshot | undefined;
  #windowMs = 60_000;
  #rules: RuleDef[] = [];
  #timer: TimerHandle | undefined;
  /** An evaluation soon after a health change (#evaluateSoon), and when the last one ran. */
  #soon: TimerHandle | undefined;
  #lastSoon = Number.NEGATIVE_INFINITY;
  #notifiers: Notifier[] = [];
  #notifySig = '';
  #outbox: AlertView[] = [];
  #lastResend = 0;
  #lastApply: { ok: boolean; version?: number; error?: string; at: number } | undefined;
  #lastAudit: { ok: boolean; at: number } | undefined;
  #lastAuditOkMono: number | undefined;
  readonly #startedMono: number;

  constructor(deps: MonitorDeps) {
    this.#d = deps;
    this.instance = deps.instance ?? defaultInstance();
    this.#engine = new AlertEngine({ labels: { instance: this.instance } });
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
      runtime: deps.runtimeMetrics,
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
      this.#evaluateSafely();
      this.#timer = this.#d.clock.setTimeout(tick, SLOT_MS);
      this.#timer.unref?.();
    };
    this.#timer = this.#d.clock.setTimeout(tick, SLOT_MS);
    this.#timer.unref?.();
  }

  #evaluateSafely(): void {
    try {
      this.evaluate();
    } catch (err) {
      this.#d.logger.error({ err }, 'monitor evaluation failed');
    }
  }

  /**
   * A backend went out: judge it now rather than at the next tick, up to a second later. Its
   * alerts go pending from the change, and a guard that rolls a bad health check back within
   * that second no longer leaves the outage unnamed (a drill on a busy machine: BackendDown
   * never went pending before the rollback). At most four a second, so a flapping pool of many
   * backends costs a bounded number of evaluations.
   */
  #evaluateSoon(): void {
    if (this.#timer === undefined || this.#soon !== undefined) return;
    const delay = Math.max(0, this.#lastSoon + SOON_MIN_GAP_MS - this.#d.clock.now());
    this.#soon = this.#d.clock.setTimeout(() => {
      this.#soon = undefined;
      this.#lastSoon = this.#d.clock.now();
      this.#evaluateSafely();
    }, delay);
    this.#soon.unref?.();
  }

  stop(): void {
    if (this.#timer) this.#d.clock.clearTimeout(this.#timer);
    if (this.#soon) this.#d.clock.clearTimeout(this.#soon);
    this.#timer = undefined;
    this.#soon = undefined;
    for (const u of this.#unsub.splice(0)) u();
    for (const n of this.#notifiers) n.close();
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    // Worker threads: copy their shared counters into the hosts first, so a scrape is current.
    this.#d.runtimeMetrics?.refresh?.();
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

  recordApply(result: { ok: boolean; version?: number; error?: string; refused?: boolean }): void {
    // A refused config changed nothing and its caller got the answer: counted, no alert.
    if (result.refused === true) {
      this.#metrics.configApplies.inc({ result: 'refused' });
      return;
    }
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
    if (this.#snap) this.#flushExpected(this.#snap, now);
    return series(this.#pools.values(), now, this.#d.clock.wallNow(), this.#windowMs);
  }

  /** Notifiers built from config.monitor.notify (for tests and shutdown). */
  notifiers(): readonly Notifier[] {
    return this.#notifiers;
  }

  // ---- event subscribers: O(1), no await -------------------------------------------------

  #onRequest(o: RequestOutcome): void {
    // A swap is seen at the first outcome after it (an identity check), not at the next
    // evaluation: the requests before it keep the outgoing snapshot's expected shares.
    if (this.#d.getSnapshot() !== this.#snap) this.#sync();
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
    // Only a request for which no backend could be picked is a no-backend answer; a connect
    // failure picked one that failed (named once the outcome carries it).
    if (o.error === 'FULCRUM_ERR_PROXY_NO_BACKEND') {
      p.noBackend++;
      p.short.add(now, P_NOBACKEND, 1);
    }
    const b = o.backend === undefined ? undefined : p.backends.get(o.backend);
    if (b === undefined) {
      bump(countsFor(p.none.codes, o.listener), codeClassIndex(o.status));
      return;
    }
    bump(countsFor(b.codes, o.listener), codeClassIndex(o.status));
    b.durationBuckets ??= new Float64Array(DURATION_BUCKETS_S.length + 1);
    bump(b.durationBuckets, durationBucket(o.durationMs / 1000));
    b.durationSum += o.durationMs / 1000;
    p.pending.add(now, 0, 1);
    const r = b.ring;
    r.add(now, REQ, 1);
    if (isErr) r.add(now, ERR, 1);
    if (o.retries > 0) r.add(now, RETRIED, 1);
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
    // Only an outage is judged at once: an evaluation on a recovery would retract a pending
    // BackendDown whose backend was out for most of its `for` (a backend out 4.8 s of every 5
    // would then never fire it); recoveries wait for the tick, as before.
    if (isOut(c.to)) this.#evaluateSoon();
  }

  // ---- snapshot tracking ---------------------------------------------------------------

  #flushExpected(snap: Snapshot, now: number): void {
    for (const [name, pr] of snap.pools) {
      const p = this.#pools.get(name);
      if (p !== undefined) flushExpected(p, pr, now);
    }
  }

  #sync(): void {
    const snap = this.#d.getSnapshot();
    if (snap === undefined || snap === this.#snap) return;
    const prev = this.#snap;
    const now = this.#d.clock.now();
    // The requests since the last flush were balanced by the outgoing snapshot: they get its
    // shares before its pools' backend lists are rebuilt.
    if (prev) this.#flushExpected(prev, now);
    this.#snap = snap;
    const m = snap.config.monitor;
    const windowChanged = m.window !== this.#windowMs;
    this.#windowMs = m.window;
    this.#rules = ALERT_RULES.map((r) => r.def(m));
    if (windowChanged) this.#pools.clear();
    for (const name of [...this.#pools.keys()]) if (!snap.pools.has(name)) this.#pools.delete(name);
    for (const [name, pr] of snap.pools) {
      let p = this.#pools.get(name);
      const known = p !== undefined;
      if (p === undefined) {
        p = newPoolTrack(name, snap, m.window);
        this.#pools.set(name, p);
      }
      syncPoolTrack(p, pr, snap, known ? prev?.version : undefined, now, m.window);
    }
    const notifySig = JSON.stringify([m.notify, snap.config.admin.address]);
    if (notifySig !== this.#notifySig) {
      this.#notifySig = notifySig;
      for (const n of this.#notifiers) n.close();
      const externalURL = `http://${snap.config.admin.address}`;
      this.#notifiers = m.notify.map((spec, index) =>
        createNotifier(spec, {
          index,
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
    if (snap === undefined) return;
    const now = this.#d.clock.now();
    const wall = this.#d.clock.wallNow();
    const ctx = this.#context(snap, now);
    ALERT_RULES.forEach((rule, i) => {
      this.#engine.evaluate(this.#rules[i] as RuleDef, rule.evaluate(ctx), now, wall);
    });
    this.#flush(now, wall);
  }

  /** Requests per worker thread within the window: the counters now minus the oldest sample in it. */
  #workerWindow(now: number, windowMs: number): WorkerWindowFacts[] {
    const facts = this.#d.runtimeMetrics?.workers?.();
    if (facts === undefined || facts.length < 2) return [];
    const samples = this.#workerSamples;
    samples.push({ at: now, requests: facts.map((f) => f.requests) });
    while (samples.length > 1 && now - (samples[1] as { at: number }).at >= windowMs) samples.shift();
    const base = (samples[0] as { requests: number[] }).requests;
    return facts.map((f, i) => ({
      worker: f.worker,
      requests: f.requests - (base[i] ?? 0),
      connections: f.connections,
    }));
  }

  /** The facts every rule reads, gathered from the windows and the running snapshot. */
  #context(snap: Snapshot, now: number): RuleContext {
    const m = snap.config.monitor;
    const windowMs = this.#windowMs;
    const pools: PoolFacts[] = [];
    for (const [name, pr] of snap.pools) {
      const p = this.#pools.get(name);
      if (p === undefined) continue;
      const stats = poolStats(p, pr, snap, now, windowMs);
      p.stats = stats;
      const state = pr.state;
      if (state.panic) p.lastPanic = now;
      if (stats.requests >= m.fairness.minRequestsPerBackend) p.hadTraffic = true;
      const hosts = hostFacts(p, pr, now);
      const causes: Record<string, BackendCauses> = {};
      for (const b of stats.backends) {
        const c: { fairness?: Cause[]; overload?: Cause[] } = {};
        const why = (v: 'overfed' | 'starved' | 'overloaded') =>
          backendCauses(p, pr, stats, b, v, now, windowMs, this.#d.configVersionInfo);
        if (b.verdict === 'overfed' || b.verdict === 'starved') {
          c.fairness = why(b.verdict);
        }
        if (b.overloaded) c.overload = why('overloaded');
        if (c.fairness || c.overload) causes[b.backend] = c;
      }
      pools.push({
        name,
        policy: pr.config.policy,
        panic: state.panic,
        panicThreshold: pr.config.panicThreshold,
        flapDampening: { flips: pr.config.flapDampening.flips, window: pr.config.flapDampening.window },
        hosts,
        candidates: state.candidates.length,
        stats,
        burn: BURN_WINDOWS.map((w) => {
          const longRing = w.longMs <= SHORT_SLOTS * SLOT_MS ? p.short : p.long;
          const shortRing = w.shortMs <= SHORT_SLOTS * SLOT_MS ? p.short : p.long;
          return {
            window: w,
            shortTotal: shortRing.sum(now, P_TOTAL, w.shortMs),
            shortErrors: shortRing.sum(now, P_ERR, w.shortMs),
            longTotal: longRing.sum(now, P_TOTAL, w.longMs),
            longErrors: longRing.sum(now, P_ERR, w.longMs),
          };
        }),
        noBackend: p.short.sum(now, P_NOBACKEND, NO_BACKEND_SPAN_MS),
        hadTraffic: p.hadTraffic,
        causes,
        overload: p.overload,
      });
    }
    const schedule = snap.config.audit.schedule;
    return {
      monitor: m,
      version: this.#versionText(snap.version),
      runningVersion: snap.version,
      pools,
      workers: this.#workerWindow(now, windowMs),
      lastApply: this.#lastApply,
      lastAudit: this.#lastAudit,
      audit: {
        schedule,
        gapMs: this.#auditGap.ms(schedule),
        sinceLastPassMs: now - (this.#lastAuditOkMono ?? this.#startedMono),
      },
    };
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

  #versionText(v: number): string {
    const info = this.#d.configVersionInfo?.(v);
    if (!info) return String(v);
    return `${v} (applied ${new Date(info.createdAt).toISOString()}${info.author ? ` by ${info.author}` : ''})`;
  }
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
