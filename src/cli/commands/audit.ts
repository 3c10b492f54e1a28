// `fulcrum audit [--admin URL | --config FILE [--against FILE]] [--checks lint,drift,...]
//   [--format text|json|markdown|html] [--output FILE]`
// Against a running balancer it asks for a run now (POST /api/v1/audits) and prints the
// report; offline against a file it runs the checks that need no balancer (lint, drift vs
// --against); --config wins over --admin (the CLI fills --admin with its default).
// Exit 0 pass, 2 failing findings, 1 could not run: fit for CI and cron gates.
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { checkNames, resolveChecks } from '../../audit/check-registry.ts';
import { REPORT_FORMATS, renderReport, type ReportFormat } from '../../audit/report.ts';
import { runChecks, runStatus } from '../../audit/run-checks.ts';
import { loadConfigFile } from '../../config/load.ts';
import { FulcrumError, isFulcrumError } from '../../core/errors.ts';
import type { AuditRunRecord } from '../../store/store.ts';
import { adminCall, DEFAULT_ADMIN } from '../admin-client.ts';
import { formatIssue } from './validate.ts';
import { EXIT, type CliIo } from '../io.ts';

export interface AuditOptions {
  admin?: string;
  token?: string;
  config?: string;
  against?: string;
  /** Comma-separated or repeated names. */
  checks?: string | string[];
  format?: string;
  output?: string;
}

/** The checks that need no running balancer (`live: false`), in registry order. */
function offlineChecks(): string[] {
  return resolveChecks(checkNames())
    .filter((c) => !c.live)
    .map((c) => c.name);
}

function checkList(checks: AuditOptions['checks']): string[] | undefined {
  if (checks === undefined) return undefined;
  const list = (Array.isArray(checks) ? checks : [checks])
    .flatMap((c) => c.split(','))
    .map((c) => c.trim())
    .filter(Boolean);
  return list.length > 0 ? list : undefined;
}

function usage(message: string): FulcrumError {
  return new FulcrumError('FULCRUM_ERR_CLI_USAGE', message);
}

/** Exit code of a finished run: pass 0, failing findings 2, a check that could not run 1. */
export function auditExit(run: AuditRunRecord): number {
  return run.status === 'pass' ? EXIT.OK : run.status === 'fail' ? EXIT.PROBLEMS : EXIT.FAILED;
}

async function offlineRun(opts: AuditOptions, file: string, io: CliIo): Promise<AuditRunRecord | number> {
  const names = checkList(opts.checks) ?? offlineChecks();
  const live = resolveChecks(names).filter((c) => c.live);
  if (live.length > 0) {
    throw usage(
      `check(s) ${live.map((c) => c.name).join(', ')} need a running balancer; use --admin URL (offline: ${offlineChecks().join(', ')})`,
    );
  }
  const loaded = await loadConfigFile(resolve(io.cwd, file), { env: io.env });
  if (!loaded.ok) {
    const unreadable = loaded.issues.some((i) => i.code === 'FULCRUM_ERR_CONFIG_READ');
    for (const i of loaded.issues) {
      if (unreadable) io.err(formatIssue(file, i));
      else io.out(formatIssue(file, i));
    }
    return unreadable ? EXIT.FAILED : EXIT.PROBLEMS;
  }
  let desired: { text: string; origin: string } | undefined;
  if (opts.against !== undefined) {
    try {
      desired = { text: await readFile(resolve(io.cwd, opts.against), 'utf8'), origin: opts.against };
    } catch (err) {
      throw new FulcrumError(
        'FULCRUM_ERR_CONFIG_READ',
        `cannot read --against ${opts.against}: ${(err as Error).message}`,
      );
    }
  }
  const startedAt = Date.now();
  const results = await runChecks(
    resolveChecks(names),
    {
      loaded: { ...loaded.value, source: file },
      snapshot: undefined,
      audit: loaded.value.config.audit,
      desired: async () => desired,
    },
    () => performance.now(),
  );
  return {
    id: randomUUID(),
    startedAt,
    endedAt: Date.now(),
    status: runStatus(results),
    trigger: 'cli',
    checks: results,
  };
}

/** An audit probes every backend and sends hundreds of probes: allow it time. */
const LIVE_AUDIT_TIMEOUT_MS = 120_000;

async function liveRun(opts: AuditOptions, io: CliIo): Promise<AuditRunRecord> {
  const admin = opts.admin ?? DEFAULT_ADMIN;
  const checks = checkList(opts.checks);
  const run = await adminCall<AuditRunRecord>(
    { admin, token: opts.token ?? io.env.FULCRUM_ADMIN_TOKEN },
    'api/v1/audits',
    {
      method: 'POST',
      body: JSON.stringify(checks === undefined ? {} : { checks }),
      headers: { 'content-type': 'application/json' },
      timeoutMs: LIVE_AUDIT_TIMEOUT_MS,
    },
  );
  if (typeof run.id !== 'string' || typeof run.status !== 'string') {
    throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', `the admin API at ${admin} sent no audit run`, {
      admin,
    });
  }
  return run;
}

export async function auditCommand(opts: AuditOptions, io: CliIo): Promise<number> {
  try {
    const format = (opts.format ?? 'text') as ReportFormat;
    if (!REPORT_FORMATS.includes(format))
      throw usage(`--format must be one of ${REPORT_FORMATS.join(', ')} (got "${opts.format}")`);
    if (opts.against !== undefined && opts.config === undefined)
      throw usage('--against compares with a --config FILE (offline audit)');
    const got = opts.config !== undefined ? await offlineRun(opts, opts.config, io) : await liveRun(opts, io);
    if (typeof got === 'number') return got;
    const report = renderReport(got, format);
    if (opts.output !== undefined) {
      await writeFile(resolve(io.cwd, opts.output), report);
      io.out(`audit ${got.id}: ${got.status.toUpperCase()}; report written to ${opts.output}`);
    } else io.out(report);
    return auditExit(got);
  } catch (err) {
    if (isFulcrumError(err)) {
      io.err(`fulcrum audit: ${err.message} (${err.code})`);
      return EXIT.FAILED;
    }
    throw err;
  }
}
