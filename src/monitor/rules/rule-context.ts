// What an alert rule's evaluate() reads: plain data the monitor gathers once per evaluation
// from its windows, the running snapshot and host state. Rules never see rings, timers or
// host objects, so each one is a pure function tested on a hand-written context.
import type { MonitorConfig } from '../../config/schema.ts';
import type { BurnWindow } from '../burn-rate.ts';
import type { Cause, OverloadVerdict } from '../fairness.ts';
import type { PoolStatsView } from '../pool-stats-view.ts';

export interface HostFacts {
  readonly name: string;
  readonly address: string;
  readonly status: string;
  readonly available: boolean;
  readonly drain: boolean;
  readonly configuredWeight: number;
  /** Health state changes within the pool's flapDampening.window. */
  readonly flips: number;
}

/** Errors and requests of the pool over one burn-rate window pair. */
export interface BurnFacts {
  readonly window: BurnWindow;
  readonly shortTotal: number;
  readonly shortErrors: number;
  readonly longTotal: number;
  readonly longErrors: number;
}

/** The causes named for a backend with an unfair or overloaded verdict, most likely first. */
export interface BackendCauses {
  /** For an overfed or starved verdict. */
  readonly fairness?: readonly Cause[];
  /** For an overloaded verdict. */
  readonly overload?: readonly Cause[];
}

export interface PoolFacts {
  readonly name: string;
  readonly policy: string;
  readonly panic: boolean;
  readonly panicThreshold: number;
  readonly flapDampening: { readonly flips: number; readonly window: number };
  /** In the snapshot's host order. */
  readonly hosts: readonly HostFacts[];
  /** Hosts the policy may pick from now. */
  readonly candidates: number;
  readonly stats: PoolStatsView;
  readonly burn: readonly BurnFacts[];
  /** Requests answered 503 FULCRUM_ERR_PROXY_NO_BACKEND within NO_BACKEND_SPAN_MS. */
  readonly noBackend: number;
  /** The pool once had minRequestsPerBackend requests in a window. */
  readonly hadTraffic: boolean;
  /** By backend name. */
  readonly causes: Readonly<Record<string, BackendCauses>>;
  /** The capacity judgement, in host order. */
  readonly overload: readonly OverloadVerdict[];
}

/** One data-plane worker thread over the monitor's window (empty list with `workers: 1`). */
export interface WorkerWindowFacts {
  readonly worker: number;
  /** Requests it finished within the window. */
  readonly requests: number;
  /** Client connections open on it now. */
  readonly connections: number;
}

export interface RuleContext {
  readonly monitor: MonitorConfig;
  /** The running config version as people read it ("3 (applied … by …)"). */
  readonly version: string;
  readonly runningVersion: number;
  readonly pools: readonly PoolFacts[];
  readonly workers: readonly WorkerWindowFacts[];
  readonly lastApply: { readonly ok: boolean; readonly error?: string; readonly at: number } | undefined;
  readonly lastAudit: { readonly ok: boolean; readonly at: number } | undefined;
  readonly audit: {
    readonly schedule: string;
    /** Longest acceptable time without a passing audit; undefined without a schedule. */
    readonly gapMs: number | undefined;
    /** Since the last passing audit (or the monitor's start). */
    readonly sinceLastPassMs: number;
  };
}
