// How every verb ends on an error: the code and message, then the issues or lint findings
// the error carries, one per line, and the exit code that fits.
import { FulcrumError, errorMessage, isFulcrumError } from '../core/errors.ts';
import { EXIT, type CliIo } from './io.ts';

/** Print an error with its code; exit 1 (could not run) or 2 (ran and found problems). */
export function reportError(err: unknown, io: CliIo): number {
  const fe = isFulcrumError(err) ? err : new FulcrumError('FULCRUM_ERR_CONFIG_APPLY', errorMessage(err));
  io.err(`${fe.code}: ${fe.message}`);
  const issues = fe.details?.['issues'];
  if (Array.isArray(issues)) {
    for (const i of issues as { path: string; message: string; line?: number }[]) {
      io.err(`  ${i.line === undefined ? '' : `line ${i.line}: `}${i.path}: ${i.message}`);
    }
  }
  const findings = fe.details?.['findings'];
  if (Array.isArray(findings)) {
    for (const f of findings as { ruleId: string; path: string; message: string; line?: number }[]) {
      io.err(`  ${f.line === undefined ? '' : `line ${f.line}: `}${f.path}: ${f.message} [${f.ruleId}]`);
    }
  }
  const problems = new Set([
    'FULCRUM_ERR_CONFIG_INVALID',
    'FULCRUM_ERR_CONFIG_LINT',
    'FULCRUM_ERR_CONFIG_PARSE',
    'FULCRUM_ERR_CONFIG_ENV',
    'FULCRUM_ERR_CONFIG_CONFLICT',
  ]);
  return problems.has(fe.code) ? EXIT.PROBLEMS : EXIT.FAILED;
}
