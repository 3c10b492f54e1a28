// Guarded apply: after a config lands, watch error ratio, latency and fairness alerts
// against the minutes before; on regression roll back by ourselves and record why.
// It lives in the balancer process, so it still acts when the CLI that asked for it dies.
import type pino from 'pino';
import type { EventHub } from '../core/events.ts';
import type { Store } from '../store/store.ts';
import type { ConfigController } from './controller.ts';
import { RollingStats, type WindowStats } from './rolling-stats.ts';

/** Compare the last SLIDE_MS with the baseline, so a regression is caught within seconds. */
const SLIDE_MS = 10_000;
const BASELINE_MS = 5 * 60_000;
const EVAL_EVERY_MS = 1000;

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
}

export interface GuardDeps {
  controller: ConfigController;
  store: Store;
  hub: EventHub;
  logger: pino.Logger;
  /** The backend with the highest error ratio now ("app/b1 (18% errors)"), to name in a rollback reason. */
  worstBackend?: () => string | undefined;
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

  constructor(deps: GuardDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#t = deps.thresholds ?? DEFAULT_GUARD_THRESHOLDS;
    this.#stats = new RollingStats(this.#now);
    const stats = this.#stats;
    const unsubRequests = deps.hub.requests.subscribe((o) => stats.record(o.status, o.durationMs));
    // Any other apply while a guard watches makes its verdict meaningless: stand down.
    const unsubNotices = deps.hub.notices.subscribe((n) => {
      const s = this.#status;
      if (n.type === 'config-applied' && s?.state === 'watching' && n.data['version'] !== s.appliedVersion) {
        this.#finish('cancelled', `version ${String(n.data['version'])} was applied during the guard`);
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

  start(o: { durationMs: number; baseVersion: number | undefined; appliedVersion: number }): GuardStatus {
    if (this.#status?.state === 'watching') this.#finish('cancelled', 'a newer guarded apply started');
    const now = this.#now();
    this.#status = {
      state: 'watching',
      appliedVersion: o.appliedVersion,
      baseVersion: o.baseVersion ?? null,
      startedAt: now,
      endsAt: now + o.durationMs,
      baseline: this.#stats.window(now - BASELINE_MS, now),
      latest: null,
    };
    this.#deps.logger.info({ version: o.appliedVersion, guardMs: o.durationMs }, 'guard watching apply');
    this.#schedule();
    return this.#status;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#unsubscribe();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.evaluate(), EVAL_EVERY_MS);
    this.#timer.unref();
  }

  /** One evaluation step (public so tests can drive it without waiting). */
  async evaluate(): Promise<void> {
    const s = this.#status;
    if (!s || s.state !== 'watching') return;
    const now = this.#now();
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
      const worst = this.#deps.worstBackend?.();
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
