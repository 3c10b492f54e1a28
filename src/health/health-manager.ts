// The health of every pool of the running snapshot: active check loops, passive outlier
// detection, flap dampening, slow start, drain and lame duck, panic. It is the one writer of
// HostState.status and the one caller of PoolState.refresh(). State lives on the registry's
// HostState objects, so a reload keeps the health, counters and ejections of backends that
// stay; checkers are keyed by host and kept across reloads too.
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventHub } from '../core/events.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import { ActiveChecker, type CheckSchedule } from './active-checker.ts';
import { recordFlip } from './flap-damper.ts';
import type {
  HostObserver,
  HostState,
  HostStatus,
  OutcomeKind,
  RuntimeDrain,
} from '../data-plane/host-state.ts';
import {
  countOutcome,
  maxEjected,
  nextEjection,
  refusalBackoff,
  successRateOutliers,
  type EjectionReason,
} from './outlier-detector.ts';
import type { PoolState } from '../data-plane/pool-state.ts';
import type {
  BackendOptions,
  PoolHealthOptions,
  Probe,
  ProbeOptions,
  ProbeResult,
} from '../data-plane/pool-health-options.ts';
import { RAMP_FLOOR, rampFactor, rampTick } from './slow-start.ts';

export interface HealthManagerDeps {
  hub: EventHub;
  clock: Clock;
  logger: Logger;
  random?: () => number;
  /**
   * The check itself, from the composition root (the proxy's node:http probe); tests inject
   * one that fails, hangs or throws on demand.
   */
  probe: Probe;
  /** Told about every active check result (the monitor's `fulcrum_health_checks_total`). */
  onCheck?: (pool: string, backend: string, ok: boolean) => void;
}

export interface BackendHealthView {
  name: string;
  address: string;
  status: HostStatus;
  /** Why the backend is in that state (the last transition's reason). */
  reason: string;
  configuredWeight: number;
  effectiveWeight: number;
  inFlight: number;
  requests: number;
  failures: number;
  /** Active check results in a row. */
  consecutive: { successes: number; failures: number };
  /** Passive detection streaks. */
  outlier: { consecutiveErrors: number; consecutiveLocalFailures: number };
  lastCheck: { at: number; ok: boolean; detail: string } | null;
  ejections: number;
  ejectedForMs: number;
  flaps: number;
  /** Time left of a flap-dampening hold. */
  heldForMs: number;
  lameDuck: boolean;
  /** An operator's runtime drain (`fulcrum drain`), null when none. */
  drain: RuntimeDrain | null;
  latencyEwmaMs: number;
}

export interface PoolHealthView {
  name: string;
  policy: string;
  panic: boolean;
  panicThreshold: number;
  available: number;
  total: number;
  backends: BackendHealthView[];
}

/** Without active checks nothing can tell that a lame duck is back, so the drain lasts this long. */
export const LAME_DUCK_HOLD_MS = 30_000;

interface HostEntry {
  readonly host: HostState;
  /** A staged entry until its apply commits, then the running pool's. */
  pool: PoolEntry;
  checker: ActiveChecker | undefined;
  ejectTimer: TimerHandle | undefined;
  holdTimer: TimerHandle | undefined;
  lameTimer: TimerHandle | undefined;
  /** In rotation as of the last update (the manager's own view, for slow start). */
  inRotation: boolean;
  /** Belongs to a pool's first activation: no slow start on its first entry into rotation. */
  initial: boolean;
  /** Resolves the warm-up wait on the first check result. */
  warmed: (() => void) | undefined;
  /** Passing checks without the lame-duck header since the backend was last flagged. */
  lameClear: number;
}

interface PoolEntry {
  readonly name: string;
  options: PoolHealthOptions;
  probe: ProbeOptions | undefined;
  schedule: CheckSchedule;
  readonly hosts: Map<HostState, HostEntry>;
  /** The current snapshot's PoolState last; the previous one is refreshed too until the proxy swapped. */
  states: PoolState[];
  panic: boolean;
  readonly observer: HostObserver;
  sweepTimer: TimerHandle | undefined;
  rampTimer: TimerHandle | undefined;
  /** Staged by prepare(): holds the apply's new hosts, merged into `target` (if any) on commit. */
  staged: boolean;
  target: PoolEntry | undefined;
  /** On a running entry: the PoolState of an apply being prepared, refreshed before the running ones. */
  pending: PoolState | undefined;
}

/** What prepare() staged for one snapshot; hand it to commit() or discard(). */
export interface HealthPreparation {
  readonly snapshot: Snapshot;
}

interface Preparation extends HealthPreparation {
  /** Pool name → staged entry. */
  readonly staged: Map<string, PoolEntry>;
}

/** The backend config a committed snapshot gives a host (kept off running hosts until then). */
function adoptBackendConfig(h: HostState, b: BackendOptions | undefined): void {
  if (b === undefined) return;
  h.configuredWeight = b.weight;
  h.maxRequests = b.maxRequests;
  h.drain = b.drain;
}

export class HealthManager {
  readonly #hub: EventHub;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #probe: Probe;
  readonly #onCheckResult: HealthManagerDeps['onCheck'];
  readonly #pools = new Map<string, PoolEntry>();
  /** The timer ending each refusal back-off (see #refused). */
  readonly #refusalTimers = new Map<HostState, TimerHandle>();
  /** Prepared and not yet committed or discarded (stop() discards them). */
  readonly #open = new Set<Preparation>();

  constructor(deps: HealthManagerDeps) {
    this.#hub = deps.hub;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#random = deps.random ?? Math.random;
    this.#probe = deps.probe;
    this.#onCheckResult = deps.onCheck;
  }

  /**
   * Adopt a snapshot at once: prepare then commit (tests and callers without a proxy swap).
   * Resolves when every NEW host of a pool with active checks has had its first check (warm)
   * or warmTimeoutMs passed (default: the longest check timeout plus one second).
   */
  async activate(snapshot: Snapshot, options: { warmTimeoutMs?: number } = {}): Promise<void> {
    this.commit(await this.prepare(snapshot, options));
  }

  /**
   * First phase of an apply: stage what `snapshot` adds (new pools, new hosts with their
   * checkers) and warm it, without touching a running host, check or pool — so a refused
   * apply, discarded, leaves the running balancer exactly as it was. The running pools' new
   * PoolStates are kept fresh from here on, so the proxy may swap to `snapshot` before commit.
   */
  async prepare(snapshot: Snapshot, options: { warmTimeoutMs?: number } = {}): Promise<HealthPreparation> {
    const now = this.#clock.now();
    const staged = new Map<string, PoolEntry>();
    const prep: Preparation = { snapshot, staged };
    this.#open.add(prep);
    const warm: Promise<void>[] = [];
    let longestTimeout = 0;
    for (const [name, pr] of snapshot.pools) {
      const running = this.#pools.get(name);
      const st = this.#newPoolEntry(name, pr.health, running);
      st.states = [pr.state];
      this.#configurePool(st, pr.health);
      staged.set(name, st);
      if (running !== undefined) running.pending = pr.state;
      const hc = pr.health.checks;
      if (hc !== undefined) longestTimeout = Math.max(longestTimeout, hc.probe.timeout);
      for (const h of pr.state.hosts) {
        if (running?.hosts.has(h) === true) continue;
        h.observer = st.observer;
        h.lameDuckHeader = pr.health.lameDuckHeader;
        const he = this.#addHost(st, h, running === undefined);
        if (hc !== undefined) warm.push(new Promise<void>((resolve) => (he.warmed = resolve)));
        this.#reconcileHost(he, now, 'added by config');
      }
      this.#commit(st);
    }
    if (warm.length === 0) return prep;
    const timeoutMs = options.warmTimeoutMs ?? longestTimeout + 1000;
    let timer: TimerHandle | undefined;
    await Promise.race([
      Promise.all(warm),
      new Promise<void>((resolve) => {
        timer = this.#clock.setTimeout(resolve, timeoutMs);
        timer.unref?.();
      }),
    ]);
    if (timer !== undefined) this.#clock.clearTimeout(timer);
    return prep;
  }

  /**
   * Second phase, after the proxy swapped and the store committed: the running pools take
   * the new config (backend weights, drain, checks), adopt the staged hosts, and drop the
   * hosts and pools the snapshot no longer has.
   */
  commit(preparation: HealthPreparation): void {
    const { snapshot, staged } = preparation as Preparation;
    if (!this.#open.delete(preparation as Preparation)) return;
    const now = this.#clock.now();
    for (const [name, st] of staged) {
      const pr = snapshot.pools.get(name);
      if (pr === undefined) continue;
      // The outgoing state keeps the weights it balanced by before its hosts take the new ones.
      const previous = st.target?.states[st.target.states.length - 1];
      if (previous !== undefined && previous !== pr.state) previous.retire();
      pr.state.hosts.forEach((h, i) => adoptBackendConfig(h, pr.health.backends[i]));
      let pe = st.target;
      if (pe === undefined) {
        pe = st;
        this.#pools.set(name, st);
      } else {
        pe.pending = undefined;
        this.#configurePool(pe, pr.health);
        pe.states = previous === undefined || previous === pr.state ? [pr.state] : [previous, pr.state];
        const keep = new Set(pr.state.hosts);
        for (const [h, he] of pe.hosts) if (!keep.has(h)) this.#dropHost(he);
        for (const [h, he] of st.hosts) {
          he.pool = pe;
          pe.hosts.set(h, he);
        }
        this.#stopPoolTimers(st);
      }
      pe.staged = false;
      for (const h of pr.state.hosts) {
        h.observer = pe.observer;
        h.lameDuckHeader = pr.health.lameDuckHeader;
        const he = pe.hosts.get(h);
        if (he !== undefined) this.#reconcileHost(he, now, 'config applied');
        if (h.rampFactor < 1) this.#ensureRamp(pe);
      }
      this.#startSweep(pe);
      this.#commit(pe);
    }
    for (const [name, pe] of this.#pools) if (!snapshot.pools.has(name)) this.#dropPool(pe);
  }

  /** A refused apply: stop what prepare() staged; the running pools are refreshed as they were. */
  discard(preparation: HealthPreparation): void {
    if (!this.#open.delete(preparation as Preparation)) return;
    for (const st of (preparation as Preparation).staged.values()) {
      for (const he of [...st.hosts.values()]) this.#dropHost(he);
      this.#stopPoolTimers(st);
      const running = st.target;
      if (running === undefined) continue;
      running.pending = undefined;
      // Building the snapshot's PoolState numbered the shared hosts in its own order.
      running.states[running.states.length - 1]?.hosts.forEach((h, i) => (h.index = i));
      this.#commit(running);
    }
  }

  stop(): void {
    for (const prep of [...this.#open]) this.discard(prep);
    for (const pe of this.#pools.values()) this.#dropPool(pe);
  }

  describe(snapshot: Snapshot): PoolHealthView[] {
    const now = this.#clock.now();
    const out: PoolHealthView[] = [];
    for (const [name, pr] of snapshot.pools) {
      const st = pr.state;
      out.push({
        name,
        policy: pr.health.policy,
        panic: st.panic,
        panicThreshold: pr.health.panicThreshold,
        available: st.hosts.filter((h) => h.available).length,
        total: st.hosts.length,
        backends: st.hosts.map((h) => ({
          name: h.name,
          address: h.address,
          status: h.status,
          reason: h.statusReason,
          configuredWeight: h.configuredWeight,
          effectiveWeight: h.effectiveWeight,
          inFlight: h.inFlight,
          requests: h.requests,
          failures: h.failures,
          consecutive: { successes: h.checkSuccesses, failures: h.checkFailures },
          outlier: {
            consecutiveErrors: h.consecutiveErrors,
            consecutiveLocalFailures: h.consecutiveLocalFailures,
          },
          lastCheck: h.lastCheck === null ? null : { ...h.lastCheck },
          ejections: h.ejections,
          ejectedForMs: Math.max(0, Math.round(Math.max(h.ejectedUntil, h.refusedUntil) - now)),
          flaps: h.flaps,
          heldForMs: Math.max(0, Math.round(h.heldUntil - now)),
          lameDuck: h.lameDuck,
          drain: h.runtimeDrain ?? null,
          latencyEwmaMs: h.latencyEwmaMs,
        })),
      });
    }
    return out;
  }

  /**
   * Set or clear a runtime drain of the named backend of the running pool and take it out of
   * (or back into) rotation at once. Undefined when no such backend runs.
   */
  setRuntimeDrain(
    pool: string,
    backend: string,
    drain: RuntimeDrain | undefined,
    reason: string,
  ): HostState | undefined {
    const pe = this.#pools.get(pool);
    if (pe === undefined) return undefined;
    for (const he of pe.hosts.values()) {
      if (he.host.name !== backend) continue;
      he.host.runtimeDrain = drain;
      if (this.#update(he, reason, this.#clock.now())) this.#commit(pe);
      return he.host;
    }
    return undefined;
  }

  /** Reasons the balancer is not ready: a pool with no available backend, a pool in panic. Empty = ready. */
  readinessReasons(snapshot: Snapshot): string[] {
    const reasons: string[] = [];
    for (const [name, pr] of snapshot.pools) {
      const st = pr.state;
      const available = st.hosts.filter((h) => h.available).length;
      if (available === 0) {
        const states = st.hosts.map((h) => `${h.name} ${h.status}`).join(', ');
        reasons.push(`pool "${name}" has no available backend (${states})`);
      }
      if (st.panic) {
        reasons.push(
          `pool "${name}" is in panic: ${st.availableCount} of ${st.eligible} backends available, below panicThreshold ${Math.round(pr.health.panicThreshold * 100)}%; balancing across all backends`,
        );
      }
    }
    return reasons;
  }

  // ---- configuration ----

  #newPoolEntry(name: string, options: PoolHealthOptions, target: PoolEntry | undefined): PoolEntry {
    const entry: PoolEntry = {
      name,
      options,
      probe: undefined,
      schedule: { interval: 1000, jitter: 0 },
      hosts: new Map(),
      states: [],
      panic: false,
      observer: {
        outcome: (h, kind) => this.#onOutcome(entry, h, kind),
        lameDuck: (h) => this.#onLameDuck(entry, h),
      },
      sweepTimer: undefined,
      rampTimer: undefined,
      staged: true,
      target,
      pending: undefined,
    };
    return entry;
  }

  #configurePool(pe: PoolEntry, options: PoolHealthOptions): void {
    pe.options = options;
    const hc = options.checks;
    pe.probe = hc?.probe;
    if (hc !== undefined) pe.schedule = { interval: hc.interval, jitter: hc.jitter };
  }

  #addHost(pe: PoolEntry, h: HostState, newPool: boolean): HostEntry {
    const he: HostEntry = {
      host: h,
      pool: pe,
      checker: undefined,
      ejectTimer: undefined,
      holdTimer: undefined,
      lameTimer: undefined,
      inRotation: false,
      initial: newPool,
      warmed: undefined,
      lameClear: 0,
    };
    pe.hosts.set(h, he);
    // A backend new to this pool starts from scratch, even if an old HostState object was kept.
    h.verdict = pe.options.checks?.initialState === 'unknown' ? 'unknown' : 'up';
    h.checkSuccesses = 0;
    h.checkFailures = 0;
    h.lastHealthOk = undefined;
    h.rampFactor = 1;
    return he;
  }

  /** Align one host with its pool's (possibly new) config and derive its status. */
  #reconcileHost(he: HostEntry, now: number, reason: string): void {
    const { host: h, pool: pe } = he;
    if (pe.probe !== undefined && he.checker === undefined) {
      he.checker = new ActiveChecker(h, {
        clock: this.#clock,
        random: this.#random,
        probe: this.#probe,
        options: () => ({ probe: he.pool.probe as ProbeOptions, schedule: he.pool.schedule }),
        onResult: (r) => this.#onCheck(he, r),
        onError: (err) =>
          this.#logger.error({ err, pool: pe.name, backend: h.name }, 'health check handler failed'),
      });
      he.checker.start(0);
    } else if (pe.probe === undefined && he.checker !== undefined) {
      // Checks removed: nothing will judge the backend any more, so it counts as up.
      he.checker.stop();
      he.checker = undefined;
      h.verdict = 'up';
      h.checkSuccesses = 0;
      h.checkFailures = 0;
    }
    if (pe.options.outlier === undefined && h.ejectedUntil !== 0) this.#unEject(he, now);
    if (pe.options.slowStart <= 0) h.rampFactor = 1;
    if (pe.probe !== undefined && he.lameTimer !== undefined) {
      this.#clock.clearTimeout(he.lameTimer);
      he.lameTimer = undefined;
    }
    this.#update(he, reason, now);
  }

  #dropHost(he: HostEntry): void {
    he.checker?.stop();
    for (const t of [he.ejectTimer, he.holdTimer, he.lameTimer])
      if (t !== undefined) this.#clock.clearTimeout(t);
    he.warmed?.();
    if (he.host.observer === he.pool.observer) he.host.observer = undefined;
    he.pool.hosts.delete(he.host);
  }

  #dropPool(pe: PoolEntry): void {
    for (const he of [...pe.hosts.values()]) this.#dropHost(he);
    this.#stopPoolTimers(pe);
    this.#pools.delete(pe.name);
  }

  #stopPoolTimers(pe: PoolEntry): void {
    if (pe.sweepTimer !== undefined) this.#clock.clearTimeout(pe.sweepTimer);
    if (pe.rampTimer !== undefined) this.#clock.clearTimeout(pe.rampTimer);
    pe.sweepTimer = undefined;
    pe.rampTimer = undefined;
  }

  // ---- inputs ----

  #onCheck(he: HostEntry, r: ProbeResult): void {
    const { host: h, pool: pe } = he;
    const hc = pe.options.checks;
    if (hc === undefined || !pe.hosts.has(h)) return;
    const now = this.#clock.now();
    h.lastCheck = { at: this.#clock.wallNow(), ok: r.ok, detail: r.detail };
    this.#onCheckResult?.(pe.name, h.name, r.ok);
    if (r.ok) {
      h.checkSuccesses++;
      h.checkFailures = 0;
    } else {
      h.checkFailures++;
      h.checkSuccesses = 0;
    }
    let reason: string | undefined;
    if (h.verdict === 'unknown') {
      // The very first verdict of a new backend is decided at once, without thresholds.
      h.verdict = r.ok ? 'up' : 'down';
      reason = `first check ${r.ok ? 'passed' : 'failed'} (${r.detail})`;
    } else if (h.verdict === 'up' && !r.ok && h.checkFailures >= hc.unhealthyThreshold) {
      h.verdict = 'down';
      reason = `${h.checkFailures} consecutive failed checks (${r.detail})`;
    } else if (h.verdict === 'down' && r.ok && h.checkSuccesses >= hc.healthyThreshold) {
      h.verdict = 'up';
      reason = `${h.checkSuccesses} consecutive passed checks`;
    }
    if (r.lameDuck) {
      he.lameClear = 0;
      if (!h.lameDuck) {
        h.lameDuck = true;
        reason = 'health check answer carries the lame-duck header';
      }
    } else if (h.lameDuck) {
      // As many clean passes as healthyThreshold, so a backend that flags only its traffic
      // answers (not its health page) is not put back after a single check.
      he.lameClear = r.ok ? he.lameClear + 1 : 0;
      if (he.lameClear >= hc.healthyThreshold) {
        h.lameDuck = false;
        reason = `passed ${he.lameClear} checks without the lame-duck header`;
      }
    }
    if (r.ok && h.ejectedUntil !== 0) {
      this.#unEject(he, now);
      reason ??= 'active check passed: returned from ejection';
    }
    if (r.ok) h.refusals = 0;
    if (r.ok && h.refusedUntil !== 0) {
      this.#endRefusal(h);
      reason ??= 'active check passed: back after a refused connection';
    }
    const warmed = he.warmed;
    he.warmed = undefined;
    if (this.#update(he, reason ?? 'check', now)) this.#commit(pe);
    warmed?.();
  }

  /** On the request path: cheap unless a threshold is crossed. */
  #onOutcome(pe: PoolEntry, h: HostState, kind: OutcomeKind): void {
    if (kind === 'connect-failure' && h.refusedUntil === 0) this.#refused(pe, h);
    const o = pe.options.outlier;
    if (o === undefined || h.ejectedUntil !== 0) return;
    const reason = countOutcome(h, kind, o);
    if (reason === undefined) return;
    const he = pe.hosts.get(h);
    if (he !== undefined) this.#eject(he, reason, this.#clock.now());
  }

  /**
   * A connection to the backend was refused: out of rotation at once (the retry and the requests
   * after it skip it), until a short back-off ends or an active check passes. Whatever the
   * outlier-detection config: a closed port is certain, unlike a streak of errors.
   */
  #refused(pe: PoolEntry, h: HostState): void {
    const he = pe.hosts.get(h);
    if (he === undefined) return;
    const now = this.#clock.now();
    const ms = refusalBackoff(h);
    h.refusals++;
    h.refusedUntil = now + ms;
    const timer = this.#timer(() => {
      if (this.#refusalTimers.get(h) !== timer) return;
      this.#endRefusal(h);
      // The entry's pool now: a staged host joins the running pool when its apply commits.
      const cur = he.pool;
      if (cur.hosts.get(h) === he && this.#update(he, 'connect back-off over', this.#clock.now()))
        this.#commit(cur);
    }, ms);
    this.#refusalTimers.set(h, timer);
    const why = `connect-refused: out of rotation for ${ms}ms or until a check passes (refusal ${h.refusals} in a row)`;
    if (this.#update(he, why, now)) this.#commit(pe);
  }

  #endRefusal(h: HostState): void {
    h.refusedUntil = 0;
    const t = this.#refusalTimers.get(h);
    if (t !== undefined) this.#clock.clearTimeout(t);
    this.#refusalTimers.delete(h);
  }

  #onLameDuck(pe: PoolEntry, h: HostState): void {
    const he = pe.hosts.get(h);
    if (he === undefined) return;
    const now = this.#clock.now();
    he.lameClear = 0;
    if (pe.probe === undefined && he.lameTimer === undefined) {
      he.lameTimer = this.#timer(() => {
        he.lameTimer = undefined;
        h.lameDuck = false;
        if (this.#update(he, 'lame-duck hold ended', this.#clock.now())) this.#commit(pe);
      }, LAME_DUCK_HOLD_MS);
    }
    if (this.#update(he, 'answered with the lame-duck header', now)) this.#commit(pe);
  }

  // ---- outlier ejection ----

  #eject(he: HostEntry, reason: EjectionReason, now: number): boolean {
    const { host: h, pool: pe } = he;
    const o = pe.options.outlier;
    if (o === undefined) return false;
    let ejected = 0;
    for (const x of pe.hosts.keys()) if (x.isEjected(now)) ejected++;
    const cap = maxEjected(pe.hosts.size, o.maxEjectionPercent);
    // Streaks restart either way, so a refused ejection is reconsidered after as many errors again.
    h.consecutiveErrors = 0;
    h.consecutiveLocalFailures = 0;
    if (ejected + 1 > cap) {
      this.#logger.warn(
        { pool: pe.name, backend: h.name, reason, ejected, cap, maxEjectionPercent: o.maxEjectionPercent },
        'outlier not ejected: maxEjectionPercent reached',
      );
      return false;
    }
    const { level, durationMs } = nextEjection(h, now, o, this.#random);
    h.ejectionLevel = level;
    h.ejections++;
    h.ejectedUntil = now + durationMs;
    if (he.ejectTimer !== undefined) this.#clock.clearTimeout(he.ejectTimer);
    he.ejectTimer = this.#timer(() => {
      he.ejectTimer = undefined;
      const t = this.#clock.now();
      this.#unEject(he, t);
      if (this.#update(he, 'ejection time over', t)) this.#commit(pe);
    }, durationMs);
    if (this.#update(he, `${reason}: ejected for ${durationMs}ms (ejection ${h.ejections})`, now))
      this.#commit(pe);
    return true;
  }

  #unEject(he: HostEntry, now: number): void {
    const h = he.host;
    h.ejectedUntil = 0;
    h.lastEjectionEnd = now;
    h.consecutiveErrors = 0;
    h.consecutiveLocalFailures = 0;
    if (he.ejectTimer !== undefined) this.#clock.clearTimeout(he.ejectTimer);
    he.ejectTimer = undefined;
  }

  #startSweep(pe: PoolEntry): void {
    if (pe.sweepTimer !== undefined) this.#clock.clearTimeout(pe.sweepTimer);
    pe.sweepTimer = undefined;
    const o = pe.options.outlier;
    if (o?.successRate === undefined) return;
    const sr = o.successRate;
    pe.sweepTimer = this.#timer(() => {
      pe.sweepTimer = undefined;
      const now = this.#clock.now();
      const hosts = [...pe.hosts.keys()].filter((h) => !h.isEjected(now));
      const outliers = successRateOutliers(hosts, sr);
      for (const h of pe.hosts.keys()) {
        h.windowRequests = 0;
        h.windowSuccesses = 0;
      }
      for (const h of outliers) {
        const he = pe.hosts.get(h);
        if (he !== undefined) this.#eject(he, 'success-rate', now);
      }
      this.#startSweep(pe);
    }, o.interval);
  }

  // ---- status ----

  /**
   * Derive a host's status from its facts, counting flips and starting slow start on the
   * way. Returns true when the status or weight changed (the pool must be refreshed).
   */
  #update(he: HostEntry, reason: string, now: number): boolean {
    const { host: h, pool: pe } = he;
    let why = reason;
    // Flips are changes of the active check verdict; ejections have their own back-off.
    const ok = h.verdict === 'unknown' ? undefined : h.verdict === 'up';
    if (ok !== undefined) {
      if (h.lastHealthOk !== undefined && ok !== h.lastHealthOk) {
        const hold = recordFlip(h, now, pe.options.flap);
        if (hold > 0) {
          h.heldUntil = now + hold;
          if (he.holdTimer !== undefined) this.#clock.clearTimeout(he.holdTimer);
          he.holdTimer = this.#timer(() => {
            he.holdTimer = undefined;
            h.heldUntil = 0;
            h.lastHoldEnd = this.#clock.now();
            if (this.#update(he, 'flap-dampening hold over', this.#clock.now())) this.#commit(pe);
          }, hold);
          why = `${reason}; flapping (${pe.options.flap.flips} flips within ${pe.options.flap.window}ms): held out for ${hold}ms`;
          this.#logger.warn(
            { pool: pe.name, backend: h.name, holdMs: hold, flaps: h.flaps },
            'backend flapping: held out',
          );
        }
      }
      h.lastHealthOk = ok;
    }
    let to = h.deriveStatus(now);
    const inRotation = !h.draining && (to === 'healthy' || to === 'slow-start');
    const slowStart = pe.options.slowStart;
    if (inRotation && !he.inRotation && slowStart > 0 && !he.initial) {
      h.rampStart = now;
      h.rampFactor = RAMP_FLOOR;
      to = h.deriveStatus(now);
      this.#ensureRamp(pe);
    }
    if (inRotation) he.initial = false;
    const weightChanged = he.inRotation !== inRotation;
    he.inRotation = inRotation;
    const from = h.status;
    if (to === from) {
      if (why !== reason) h.statusReason = why; // a hold started while already out
      return weightChanged;
    }
    h.status = to;
    h.statusReason = why;
    const event = {
      pool: pe.name,
      backend: h.name,
      address: h.address,
      from,
      to,
      reason: why,
      at: this.#clock.wallNow(),
    };
    const down = to === 'unhealthy' || to === 'ejected';
    if (down) this.#logger.warn(event, 'backend state changed');
    else this.#logger.info(event, 'backend state changed');
    this.#hub.hostState.emit(event);
    return true;
  }

  #ensureRamp(pe: PoolEntry): void {
    if (pe.rampTimer !== undefined) return;
    pe.rampTimer = this.#timer(() => {
      pe.rampTimer = undefined;
      const now = this.#clock.now();
      let ramping = false;
      for (const he of pe.hosts.values()) {
        const h = he.host;
        if (h.rampFactor >= 1) continue;
        h.rampFactor = rampFactor(now - h.rampStart, pe.options.slowStart);
        this.#update(he, h.rampFactor >= 1 ? 'slow start complete' : 'slow start', now);
        if (h.rampFactor < 1) ramping = true;
      }
      // Weights changed even when no status did.
      this.#commit(pe);
      if (ramping) this.#ensureRamp(pe);
    }, rampTick(pe.options.slowStart));
  }

  /** Refresh the pool's candidate sets and announce panic changes loudly. */
  #commit(pe: PoolEntry): void {
    if (pe.target !== undefined && pe.staged) {
      this.#commit(pe.target);
      return;
    }
    // Hosts are shared: the running states refresh last, so their effective weights stand.
    pe.pending?.refresh();
    for (const s of pe.states) s.refresh();
    const cur = pe.states[pe.states.length - 1];
    if (pe.staged || cur === undefined || cur.panic === pe.panic) return;
    pe.panic = cur.panic;
    const data = {
      pool: pe.name,
      available: cur.availableCount,
      eligible: cur.eligible,
      panicThreshold: pe.options.panicThreshold,
    };
    if (cur.panic) {
      this.#logger.warn(
        data,
        'pool entered panic: too few backends available, balancing across all backends including unhealthy ones',
      );
    } else {
      this.#logger.warn(data, 'pool left panic');
    }
    this.#hub.notices.emit({
      type: cur.panic ? 'pool-panic-entered' : 'pool-panic-left',
      at: this.#clock.wallNow(),
      data,
    });
  }

  #timer(fn: () => void, ms: number): TimerHandle {
    const t = this.#clock.setTimeout(() => {
      try {
        fn();
      } catch (err) {
        this.#logger.error({ err }, 'health timer failed');
      }
    }, ms);
    t.unref?.();
    return t;
  }
}
