// Guarded apply: after a config lands, watch error ratio, latency and fairness alerts
// against the minutes before; on regression roll back by ourselves and record why.
// It lives in the balancer process, so it still acts when the CLI that asked for it dies.
//
// A traffic-slice canary (`apply --canary 10%`) is guarded here too, but compares the canary
// slice with the baseline slice over the same seconds (src/runtime/canary.ts has the rule):
// clean until the guard time ends → promote; a regression → roll back the canary.
import type pino from 'pino';
import type { EventHub } from '../core/events.ts';
import type { Store } from '../store/store.ts';
import type { ConfigController } from './controller.ts';
import { BackendTally } from './backend-tally.ts';
import { canaryExposure, canaryRegression, type BackendSlices } from './canary.ts';
import { RollingStats, type WindowStats } from './rolling-stats.ts';

/** Compare the last SLIDE_MS with the baseline, so a regression is caught within seconds. */
const SLIDE_MS = 10_000;
const BASELINE_MS = 5 * 60_000;
const EVAL_EVERY_MS = 1000;
/** A canary is judged more often: every second of a broken canary costs its share of requests. */
const CANARY_EVAL_EVERY_MS = 250;
/** After a canary error, judge again this soon (at most once per this delay). */
const CANARY_KICK_MS = 20;

export interface GuardThresholds {
  /** Fewest requests in the sliding window before judging. */
  minRequests: number;
  /** Error ratio regresses when above max(baseline × errorFactor, baseline + errorMargin). */
  errorFactor: number;
  errorMargin: number;
  /** p99 regresses when above max(baseline × latencyFactor, baseline + latencyMarginMs). */
  latencyFactor: number;
  latencyMarginMs: number;
}

export const DEFAULT_GUARD_THRESHOLDS: GuardThresholds = {
  minRequests: 30,
  errorFactor: 2,
  errorMargin: 0.02,
  latencyFactor: 2,
  latencyMarginMs: 100,
};

export interface GuardStatus {
  state: 'watching' | 'passed' | 'rolled-back' | 'cancelled';
  appliedVersion: number;
  baseVersion: number | null;
  startedAt: number;
  endsAt: number;
  baseline: WindowStats;
  latest: WindowStats | null;
  reason?: string;
  rollbackVersion?: number;
  /** Set for a traffic-slice canary: its share and both slices over the same seconds. */
  canary?: {
    fraction: number;
    /** The canary slice and the baseline slice over the last window (both since the start at most). */
    canary: WindowStats | null;
    baseline: WindowStats | null;
    /** Requests of each slice since the canary started. */
    totals: { canary: number; baseline: number };
    /** Per `pool/backend`, each slice's requests and 5xx since the canary started (the exposure rule's input). */
    backends: BackendSlices[];
  };
}

export interface GuardDeps {
  controller: ConfigController;
  store: Store;
  hub: EventHub;
  logger: pino.Logger;
  /** Names of fairness alerts firing now and when they became active (ms epoch). */
  fairnessAlerts?: () => { alertname: string; backend?: string; activeAt: number }[];
  now?: () => number;
  thresholds?: GuardThresholds;
}

export class ApplyGuard {
  readonly #deps: GuardDeps;
  readonly #stats: RollingStats;
  readonly #now: () => number;
  readonly #t: GuardThresholds;
  #status: GuardStatus | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #unsubscribe: () => void;
  /** The canary's two slices, while one is watched. */
  #slices:
    | {
        canary: RollingStats;
        baseline: RollingStats;
        totals: { canary: number; baseline: number };
        byBackend: { canary: BackendTally; baseline: BackendTally };
      }
    | undefined;
  #kicked = false;
  /**
   * Requests and 5xx answers per pool/backend since the guard started: the backend to name in
   * a rollback reason comes from the very outcomes that tripped it, not from the monitor's
   * once-a-second stats (which may not have seen them yet).
   */
  readonly #byBackend = new BackendTally();

  constructor(deps: GuardDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#t = deps.thresholds ?? DEFAULT_GUARD_THRESHOLDS;
    this.#stats = new RollingStats(this.#now);
    const stats = this.#stats;
    const unsubRequests = deps.hub.requests.subscribe((o) => {
      stats.record(o.status, o.durationMs);
      const slices = this.#slices;
      if (slices === undefined) {
        // A canary names its backends from the slices' counts; this is for a whole apply.
        if (this.#status?.state === 'watching' && o.backend !== undefined) {
          this.#byBackend.count(o.pool, o.backend, o.status >= 500);
        }
        return;
      }
      const canary = o.slice === 'canary';
      if (canary) {
        slices.canary.record(o.status, o.durationMs);
        slices.totals.canary++;
      } else {
        slices.baseline.record(o.status, o.durationMs);
        slices.totals.baseline++;
      }
      if (o.backend !== undefined) {
        (canary ? slices.byBackend.canary : slices.byBackend.baseline).count(
          o.pool,
          o.backend,
          o.status >= 500,
        );
      }
      // Either slice's error may tip the exposure rule (the baseline's errors on the backend the
      // canary overloads are its evidence too): judge again soon.
      if (o.status >= 500) this.#kick();
    });
    // Any other apply while a guard watches makes its verdict meaningless: stand down.
    const unsubNotices = deps.hub.notices.subscribe((n) => {
      const s = this.#status;
      if (s?.state !== 'watching' || n.data['version'] !== s.appliedVersion) {
        if (n.type === 'config-applied' && s?.state === 'watching' && s.canary === undefined) {
          this.#finish('cancelled', `version ${String(n.data['version'])} was applied during the guard`);
        }
        return;
      }
      // A canary ended by someone else (an apply or rollback during it).
      if (n.type === 'canary-rolled-back' || n.type === 'canary-promoted') {
        this.#finish('cancelled', String(n.data['reason'] ?? 'the canary was ended'));
      }
    });
    this.#unsubscribe = () => {
      unsubRequests();
      unsubNotices();
    };
  }

  status(): GuardStatus | null {
    return this.#status ?? null;
  }

  start(o: {
    durationMs: number;
    baseVersion: number | undefined;
    appliedVersion: number;
    /** A traffic-slice canary of this share runs `appliedVersion` (ApplyGuard judges the slices). */
    canaryFraction?: number;
  }): GuardStatus {
    if (this.#status?.state === 'watching') this.#finish('cancelled', 'a newer guarded apply started');
    this.#slices =
      o.canaryFraction === undefined
        ? undefined
        : {
            canary: new RollingStats(this.#now),
            baseline: new RollingStats(this.#now),
            totals: { canary: 0, baseline: 0 },
            byBackend: { canary: new BackendTally(), baseline: new BackendTally() },
          };
    const now = this.#now();
    this.#byBackend.clear();
    this.#status = {
      state: 'watching',
      appliedVersion: o.appliedVersion,
      baseVersion: o.baseVersion ?? null,
      startedAt: now,
      endsAt: now + o.durationMs,
      baseline: this.#stats.window(now - BASELINE_MS, now),
      latest: null,
      ...(o.canaryFraction === undefined
        ? {}
        : {
            canary: {
              fraction: o.canaryFraction,
              canary: null,
              baseline: null,
              totals: { canary: 0, baseline: 0 },
              backends: [],
            },
          }),
    };
    this.#deps.logger.info(
      { version: o.appliedVersion, guardMs: o.durationMs, canary: o.canaryFraction },
      'guard watching apply',
    );
    this.#schedule();
    return this.#status;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#unsubscribe();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    const every = this.#status?.canary === undefined ? EVAL_EVERY_MS : CANARY_EVAL_EVERY_MS;
    this.#timer = setTimeout(() => void this.evaluate(), every);
    this.#timer.unref();
  }

  /** The backend with the highest 5xx ratio since the guard started ("app/b1 (18% errors)"). */
  #worstBackend(): string | undefined {
    let worst: { name: string; ratio: number } | undefined;
    for (const [name, c] of this.#byBackend.snapshot()) {
      const ratio = c.errors / c.requests;
      if (c.errors > 0 && (worst === undefined || ratio > worst.ratio)) worst = { name, ratio };
    }
    return worst && `${worst.name} (${(worst.ratio * 100).toFixed(0)}% errors)`;
  }

  /** A request of either slice failed during a canary: judge again soon rather than at the next tick. */
  #kick(): void {
    if (this.#kicked || this.#status?.state !== 'watching') return;
    this.#kicked = true;
    setTimeout(() => {
      this.#kicked = false;
      void this.evaluate();
    }, CANARY_KICK_MS).unref();
  }

  /** One evaluation step (public so tests can drive it without waiting). */
  async evaluate(): Promise<void> {
    const s = this.#status;
    if (!s || s.state !== 'watching') return;
    const now = this.#now();
    if (s.canary !== undefined) return this.#evaluateCanary(s, now);
    const latest = this.#stats.window(Math.max(s.startedAt, now - SLIDE_MS), now + 1000);
    s.latest = latest;
    const reason = this.#regression(s, latest);
    if (reason !== undefined) {
      await this.#rollback(s, reason);
      return;
    }
    if (now >= s.endsAt) {
      this.#finish('passed');
      return;
    }
    this.#schedule();
  }

  /** Canary against baseline over the same seconds; clean at the end → promote. */
  async #evaluateCanary(s: GuardStatus, now: number): Promise<void> {
    const slices = this.#slices;
    const c = s.canary;
    if (slices === undefined || c === undefined) return;
    const from = Math.max(s.startedAt, now - SLIDE_MS);
    c.canary = slices.canary.window(from, now + 1000);
    c.baseline = slices.baseline.window(from, now + 1000);
    c.totals = { ...slices.totals };
    const byCanary = slices.byBackend.canary.snapshot();
    const byBaseline = slices.byBackend.baseline.snapshot();
    c.backends = [...new Set([...byCanary.keys(), ...byBaseline.keys()])].sort().map((backend) => ({
      backend,
      canary: byCanary.get(backend) ?? { requests: 0, errors: 0 },
      baseline: byBaseline.get(backend) ?? { requests: 0, errors: 0 },
    }));
    s.latest = c.canary;
    const reason =
      canaryRegression(c.canary, c.baseline) ?? canaryExposure(c.backends) ?? this.#canaryFairness(s);
    if (reason !== undefined) {
      await this.#endCanary(s, false, reason);
      return;
    }
    if (now >= s.endsAt) {
      const summary = `clean for ${Math.round((s.endsAt - s.startedAt) / 1000)}s: ${c.totals.canary} canary requests`;
      await this.#endCanary(s, true, summary);
      return;
    }
    this.#schedule();
  }

  /**
   * A fairness alert fired since the start on a backend the canary runs. (The monitor tracks the
   * running config's backends, so in practice: a backend both run, overfed or starved since.)
   */
  #canaryFairness(s: GuardStatus): string | undefined {
    const used = this.#deps.controller.canary?.backends ?? [];
    const a = this.#deps
      .fairnessAlerts?.()
      .find((x) => x.activeAt >= s.startedAt && x.backend !== undefined && used.includes(x.backend));
    return a && `${a.alertname} on ${a.backend ?? ''} (a backend of the canary) fired during the canary`;
  }

  async #endCanary(s: GuardStatus, promote: boolean, reason: string): Promise<void> {
    // Mark first so the notices of our own verdict do not cancel us.
    s.state = promote ? 'passed' : 'rolled-back';
    s.reason = reason;
    clearTimeout(this.#timer);
    const { controller, logger, hub } = this.#deps;
    if (!promote) logger.warn({ version: s.appliedVersion, reason }, 'guard: canary regressed; rolling back');
    try {
      const end = await controller.endCanary(promote, {
        reason: promote ? reason : `guard: ${reason}`,
        source: 'guard',
        author: 'guard',
      });
      if (end === undefined) {
        s.state = 'cancelled';
        s.reason = 'the canary was no longer running';
      } else {
        s.reason = end.reason.replace(/^guard: /, '');
        if (end.outcome === 'rolled-back') {
          s.state = 'rolled-back';
          if (end.version !== undefined) s.rollbackVersion = end.version;
        }
      }
    } catch (err) {
      s.reason = `${reason}; ending the canary failed: ${(err as Error).message}`;
      logger.error({ err: (err as Error).message }, 'guard: ending the canary failed');
    }
    this.#slices = undefined;
    hub.notices.emit({
      type: `guard-${s.state}`,
      at: Date.now(),
      data: { version: s.appliedVersion, reason: s.reason ?? reason },
    });
  }

  #regression(s: GuardStatus, w: WindowStats): string | undefined {
    const t = this.#t;
    const b = s.baseline;
    const fairness = this.#deps.fairnessAlerts?.().filter((a) => a.activeAt >= s.startedAt) ?? [];
    if (fairness.length > 0) {
      const a = fairness[0] as { alertname: string; backend?: string };
      return `${a.alertname}${a.backend ? ` on ${a.backend}` : ''} fired after the apply`;
    }
    if (w.requests < t.minRequests) return undefined;
    const errLimit = Math.max(b.errorRatio * t.errorFactor, b.errorRatio + t.errorMargin);
    if (w.errorRatio > errLimit) {
      const worst = this.#worstBackend();
      return `error ratio ${pct(w.errorRatio)} over the last ${Math.round(SLIDE_MS / 1000)}s vs ${pct(b.errorRatio)} before the apply (limit ${pct(errLimit)})${worst === undefined ? '' : `; most errors on ${worst}`}`;
    }
    if (b.requests >= t.minRequests) {
      const latLimit = Math.max(b.p99Ms * t.latencyFactor, b.p99Ms + t.latencyMarginMs);
      if (w.p99Ms > latLimit) {
        return `p99 latency ≤${w.p99Ms}ms vs ≤${b.p99Ms}ms before the apply (limit ${latLimit}ms)`;
      }
    }
    return undefined;
  }

  async #rollback(s: GuardStatus, reason: string): Promise<void> {
    const { controller, store, logger } = this.#deps;
    // Mark first so the config-applied notice of our own rollback does not cancel us.
    s.state = 'rolled-back';
    s.reason = reason;
    logger.warn({ version: s.appliedVersion, reason }, 'guard: regression after apply; rolling back');
    try {
      if (s.baseVersion === null) throw new Error('no earlier version to return to');
      const r = await controller.rollback(s.baseVersion, {
        source: 'guard',
        author: 'guard',
        message: `guard rolled back version ${s.appliedVersion}: ${reason}`,
      });
      if (r.version !== undefined) s.rollbackVersion = r.version;
    } catch (err) {
      s.reason = `${reason}; rollback failed: ${(err as Error).message}`;
      logger.error({ err: (err as Error).message }, 'guard rollback failed');
    }
    await store
      .appendEvent({
        at: Date.now(),
        type: 'guard-rollback',
        version: s.appliedVersion,
        data: { reason: s.reason, baseVersion: s.baseVersion, rollbackVersion: s.rollbackVersion ?? null },
      })
      .catch(() => undefined);
    this.#deps.hub.notices.emit({
      type: 'guard-rollback',
      at: Date.now(),
      data: { version: s.appliedVersion, reason: s.reason ?? reason },
    });
  }

  #finish(state: 'passed' | 'cancelled', reason?: string): void {
    const s = this.#status;
    if (!s) return;
    clearTimeout(this.#timer);
    this.#slices = undefined;
    s.state = state;
    if (reason !== undefined) s.reason = reason;
    this.#deps.logger.info({ version: s.appliedVersion, state, reason }, 'guard finished');
    this.#deps.hub.notices.emit({
      type: `guard-${state}`,
      at: Date.now(),
      data: { version: s.appliedVersion },
    });
  }
}

function pct(f: number): string {
  return `${(f * 100).toFixed(1)}%`;
}
