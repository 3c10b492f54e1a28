// The audit runner: runs the configured checks on a cron schedule (croner) or on demand
// (`POST /api/v1/audits`, `fulcrum audit`), keeps each run in the store with retention,
// tells the monitor (runs total, last success, AuditFailing / AuditsNotRunning) and emits an
// 'audit-finished' notice. Runs never overlap: an on-demand run waits for the one in
// progress, and a scheduled tick that finds a run in progress is skipped and counted as
// missed. It is never in the request path.
import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import type pino from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import type { AuditConfig } from '../config/schema.ts';
import type { Clock } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PoolHealthView } from '../health/health-manager.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import type { AuditRunRecord, Store } from '../store/store.ts';
import { resolveChecks } from './check-registry.ts';
import { runChecks, runStatus } from './run-checks.ts';
import type { CheckResult, DesiredSource } from './types.ts';
import { countFindings } from './report.ts';

export interface AuditDeps {
  store: Store;
  hub: EventHub;
  logger: pino.Logger;
  clock: Clock;
  getSnapshot: () => Snapshot | undefined;
  /** The running config. */
  getLoaded: () => LoadedConfig | undefined;
  /** The desired source of truth: the file the balancer was started from (re-read each run), else the store's latest version. */
  desired: () => Promise<DesiredSource | undefined>;
  /** HealthManager.describe */
  describeHealth: (snapshot: Snapshot) => readonly PoolHealthView[];
  proxyAddress: (listener: string) => { host: string; port: number } | undefined;
  auditSecret: string;
  /** Monitor.recordAudit */
  recordAudit?: (r: { ok: boolean; at: number }) => void;
}

export type AuditTrigger = AuditRunRecord['trigger'];

/** The `checks` field of a stored run, as this module writes it. */
export type AuditRunChecks = CheckResult[];

export interface AuditStats {
  /** The cron pattern in force; '' = scheduled audits are off. */
  schedule: string;
  /** Wall-clock ms of the next scheduled run, if any. */
  nextRunAt: number | undefined;
  runs: number;
  /** Scheduled ticks skipped because a run was still in progress. */
  missed: number;
  running: boolean;
  lastRun: { id: string; status: AuditRunRecord['status']; endedAt: number } | undefined;
  /** Why the schedule could not be started (bad cron pattern). */
  scheduleError: string | undefined;
}

/** Undefined when croner accepts the pattern, else its complaint. Empty = off, which is valid. */
export function validateSchedule(pattern: string): string | undefined {
  if (pattern.trim() === '') return undefined;
  try {
    new Cron(pattern, { paused: true }).stop();
    return undefined;
  } catch (err) {
    return errorMessage(err);
  }
}

export class AuditRunner {
  readonly #deps: AuditDeps;
  #cron: Cron | undefined;
  #pattern = '';
  #queue: Promise<unknown> = Promise.resolve();
  #running = 0;
  #runs = 0;
  #missed = 0;
  #lastRun: AuditStats['lastRun'];
  #scheduleError: string | undefined;

  constructor(deps: AuditDeps) {
    this.#deps = deps;
  }

  /** (Re)start the cron schedule from config.audit. An empty schedule turns scheduled audits off. */
  schedule(audit: AuditConfig): void {
    if (audit.schedule === this.#pattern && (this.#cron !== undefined || audit.schedule === '')) return;
    this.#cron?.stop();
    this.#cron = undefined;
    this.#pattern = audit.schedule;
    this.#scheduleError = undefined;
    if (audit.schedule.trim() === '') return;
    try {
      // protect: croner itself never starts a tick while the previous tick's promise is pending.
      this.#cron = new Cron(
        audit.schedule,
        { protect: () => this.#skipped(), catch: true, unref: true },
        () => this.#tick(),
      );
    } catch (err) {
      this.#scheduleError = errorMessage(err);
      this.#deps.logger.error(
        { schedule: audit.schedule, err },
        'audit schedule not started: bad cron pattern',
      );
    }
  }

  stats(): AuditStats {
    const next = this.#cron?.nextRun();
    return {
      schedule: this.#pattern,
      nextRunAt: next ? next.getTime() : undefined,
      runs: this.#runs,
      missed: this.#missed,
      running: this.#running > 0,
      lastRun: this.#lastRun,
      scheduleError: this.#scheduleError,
    };
  }

  /** Run now (after any run in progress). `checks` defaults to config.audit.checks; unknown names reject. */
  runNow(trigger: AuditTrigger, checks?: string[]): Promise<AuditRunRecord> {
    const names = checks ?? this.#deps.getLoaded()?.config.audit.checks ?? [];
    let resolved;
    try {
      resolved = resolveChecks(names);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#running++;
    const run = this.#queue.then(() => this.#execute(trigger, resolved));
    this.#queue = run.catch(() => undefined);
    return run.finally(() => this.#running--);
  }

  stop(): void {
    this.#cron?.stop();
    this.#cron = undefined;
    this.#pattern = '';
  }

  #skipped(): void {
    this.#missed++;
    this.#deps.logger.warn(
      { missed: this.#missed },
      'scheduled audit skipped: previous run still in progress',
    );
  }

  async #tick(): Promise<void> {
    if (this.#running > 0) {
      this.#skipped();
      return;
    }
    try {
      await this.runNow('schedule');
    } catch (err) {
      this.#deps.logger.error({ err }, 'scheduled audit could not run');
    }
  }

  async #execute(trigger: AuditTrigger, checks: ReturnType<typeof resolveChecks>): Promise<AuditRunRecord> {
    const d = this.#deps;
    const id = randomUUID();
    const startedAt = d.clock.wallNow();
    const loaded = d.getLoaded();
    const snapshot = d.getSnapshot();
    let results: CheckResult[];
    if (loaded === undefined) {
      results = checks.map((c) => ({
        name: c.name,
        status: 'error',
        durationMs: 0,
        findings: [],
        reason: 'no running config',
        code: 'FULCRUM_ERR_AUDIT_FAILED',
      }));
    } else {
      results = await runChecks(
        checks,
        {
          loaded,
          snapshot,
          audit: loaded.config.audit,
          desired: d.desired,
          describeHealth: d.describeHealth,
          proxyAddress: d.proxyAddress,
          auditSecret: d.auditSecret,
          logger: d.logger,
        },
        () => d.clock.now(),
      );
    }
    const record: AuditRunRecord = {
      id,
      startedAt,
      endedAt: d.clock.wallNow(),
      status: runStatus(results),
      trigger,
      configVersion: snapshot?.version,
      checks: results satisfies AuditRunChecks,
    };
    this.#runs++;
    this.#lastRun = { id, status: record.status, endedAt: record.endedAt };
    try {
      await d.store.saveAuditRun(record, loaded?.config.audit.retention ?? 200);
    } catch (err) {
      d.logger.error({ err, audit: id }, 'audit run not saved to the store');
    }
    d.recordAudit?.({ ok: record.status === 'pass', at: record.endedAt });
    const counts = countFindings(results);
    d.hub.notices.emit({
      type: 'audit-finished',
      at: record.endedAt,
      data: {
        id,
        status: record.status,
        trigger,
        findings: counts,
        checks: results.map((r) => ({ name: r.name, status: r.status })),
      },
    });
    const log = {
      audit: id,
      status: record.status,
      trigger,
      findings: counts,
      ms: record.endedAt - startedAt,
    };
    if (record.status === 'pass') d.logger.info(log, 'audit passed');
    else if (record.status === 'fail') d.logger.warn(log, 'audit failed');
    else d.logger.warn({ ...log, code: 'FULCRUM_ERR_AUDIT_FAILED' }, 'audit could not run every check');
    return record;
  }
}
