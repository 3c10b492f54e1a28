// Every audit check by name. A new check is one file in checks/ and one registerCheck call
// (here for built-ins); the runner only ever looks checks up by name.
import { FulcrumError } from '../core/errors.ts';
import { distributionCheck } from './checks/distribution.ts';
import { driftCheck } from './checks/drift.ts';
import { healthCheck } from './checks/health.ts';
import { lintCheck } from './checks/lint.ts';
import type { AuditCheck } from './types.ts';

const checks = new Map<string, AuditCheck>();

export function registerCheck(check: AuditCheck): void {
  checks.set(check.name, check);
}

export function checkNames(): string[] {
  return [...checks.keys()];
}

/** Resolves names to checks; an unknown name is an error rather than a silently skipped check. */
export function resolveChecks(names: readonly string[]): AuditCheck[] {
  const unknown = names.filter((n) => !checks.has(n));
  if (unknown.length > 0) {
    throw new FulcrumError(
      'FULCRUM_ERR_AUDIT_UNKNOWN_CHECK',
      `unknown audit check ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${checkNames().join(', ')}`,
      { unknown, known: checkNames() },
    );
  }
  return names.map((n) => checks.get(n) as AuditCheck);
}

for (const c of [lintCheck, driftCheck, healthCheck, distributionCheck]) registerCheck(c);
