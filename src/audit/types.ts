// The audit vocabulary: a check is a named async function over what the audit can see of
// the running balancer; it returns findings (same shape as lint findings) and details.
import type pino from 'pino';
import type { AuditConfig } from '../config/schema.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { PoolHealthView } from '../health/health-manager.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';

export type FindingSeverity = 'error' | 'warning' | 'info';

export interface AuditFinding {
  readonly ruleId: string;
  readonly severity: FindingSeverity;
  readonly message: string;
  readonly remediation: string;
  /** Config path (`pools.app.backends[1].weight`) or subject (`pools.app/app-2`) when there is one. */
  readonly path?: string;
  /** Machine-readable evidence (a diff, probe counts...). */
  readonly data?: unknown;
}

/** pass: ran, nothing failing; fail: an error finding; error: could not run; skipped: nothing to check. */
export type CheckStatus = 'pass' | 'fail' | 'error' | 'skipped';

export interface CheckResult {
  readonly name: string;
  readonly status: CheckStatus;
  readonly durationMs: number;
  readonly findings: readonly AuditFinding[];
  /** Why the check was skipped or could not run. */
  readonly reason?: string;
  /** Set when the check could not run (status `error`): always FULCRUM_ERR_AUDIT_FAILED. */
  readonly code?: 'FULCRUM_ERR_AUDIT_FAILED';
  /** One line each of what was checked, for the reports (e.g. chi-square and p of each pool). */
  readonly notes?: readonly string[];
  /** Check-specific figures (per-pool distribution tables, probe results...). */
  readonly details?: unknown;
}

/** What a check can see. Live runs have a snapshot; offline runs (`fulcrum audit --config`) do not. */
/** What the running config is checked against; `env` resolves its `${env:}` references. */
export interface DesiredSource {
  text: string;
  origin: string;
  env?: Record<string, string | undefined>;
}

export interface CheckContext {
  /** The running config (or the file being audited offline). */
  readonly loaded: LoadedConfig;
  readonly snapshot: Snapshot | undefined;
  readonly audit: AuditConfig;
  /** The desired source of truth; undefined = none known (drift is skipped). */
  desired(): Promise<DesiredSource | undefined>;
  describeHealth?: ((snapshot: Snapshot) => readonly PoolHealthView[]) | undefined;
  proxyAddress?: ((listener: string) => { host: string; port: number } | undefined) | undefined;
  readonly auditSecret?: string | undefined;
  readonly logger?: pino.Logger | undefined;
}

export interface CheckOutcome {
  findings: AuditFinding[];
  notes?: string[];
  details?: unknown;
  /** Set when there was nothing to check (the check counts as skipped, not passed). */
  skipped?: string;
}

export interface AuditCheck {
  readonly name: string;
  /** One line for `--help` and docs/audits.md. */
  readonly description: string;
  /** Needs a running balancer (snapshot, listeners); offline audits skip such checks. */
  readonly live: boolean;
  run(ctx: CheckContext): Promise<CheckOutcome>;
}
