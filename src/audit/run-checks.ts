// Runs a list of checks over one context and folds them into a run status. Shared by the
// scheduled runner and the offline `fulcrum audit --config`. A check that throws is an
// `error` result; it never stops the others.
import type { AuditRunRecord } from '../store/store.ts';
import type { AuditCheck, CheckContext, CheckResult } from './types.ts';
import { errorMessage } from '../core/errors.ts';

export async function runChecks(
  checks: readonly AuditCheck[],
  ctx: CheckContext,
  now: () => number,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  // One after another: the distribution probes should not compete with the health probes.
  for (const check of checks) {
    const t0 = now();
    try {
      const o = await check.run(ctx);
      const failing = o.findings.some((f) => f.severity === 'error');
      results.push({
        name: check.name,
        status: failing ? 'fail' : o.skipped !== undefined ? 'skipped' : 'pass',
        durationMs: Math.round(now() - t0),
        findings: o.findings,
        ...(o.skipped === undefined ? {} : { reason: o.skipped }),
        ...(o.notes === undefined ? {} : { notes: o.notes }),
        ...(o.details === undefined ? {} : { details: o.details }),
      });
    } catch (err) {
      const message = errorMessage(err);
      ctx.logger?.warn({ err, check: check.name }, 'audit check could not run');
      results.push({
        name: check.name,
        status: 'error',
        durationMs: Math.round(now() - t0),
        findings: [],
        reason: message,
        code: 'FULCRUM_ERR_AUDIT_FAILED',
      });
    }
  }
  return results;
}

/** fail when any finding is an error; else error when a check could not run; else pass. */
export function runStatus(results: readonly CheckResult[]): AuditRunRecord['status'] {
  if (results.some((r) => r.findings.some((f) => f.severity === 'error'))) return 'fail';
  if (results.some((r) => r.status === 'error')) return 'error';
  return 'pass';
}
