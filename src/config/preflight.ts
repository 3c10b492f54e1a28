// What `start` checks of a valid config before it binds anything, apart from binding itself:
// the admin API is not exposed without a token, and every certificate and key loads. `validate`
// runs the same function, so "validate = apply minus start" holds for these too.
import { FulcrumError, isFulcrumError } from '../core/errors.ts';
import { assertAdminSecure } from './admin-security.ts';
import { formatPath, type ConfigIssue } from './issue.ts';
import type { LoadedConfig } from './load.ts';
import { tlsProblems } from './tls-files.ts';

export function preflightIssues(loaded: LoadedConfig, baseDir: string): ConfigIssue[] {
  const { config } = loaded;
  const issues: ConfigIssue[] = [];
  const at = (path: (string | number)[]): { line?: number } => {
    const line = loaded.lineOf(path);
    return line === undefined ? {} : { line };
  };
  // The same rule every apply enforces (admin-security.ts), reported as an issue here.
  try {
    assertAdminSecure(config);
  } catch (err) {
    if (!isFulcrumError(err) || err.code !== 'FULCRUM_ERR_ADMIN_INSECURE') throw err;
    issues.push({
      path: 'admin.address',
      message: `${err.message}; start refuses it`,
      code: 'FULCRUM_ERR_ADMIN_INSECURE',
      hint: 'set admin.token: ${env:FULCRUM_ADMIN_TOKEN} or bind 127.0.0.1',
      ...at(['admin', 'address']),
    });
  }
  for (const p of tlsProblems(config, baseDir)) {
    issues.push({ path: formatPath(p.path), message: p.message, code: 'FULCRUM_ERR_TLS', ...at(p.path) });
  }
  return issues;
}

/** The error `start` fails with: the first issue's code, every issue in the details. */
export function preflightError(issues: readonly ConfigIssue[], source: string): FulcrumError {
  const first = issues[0] as ConfigIssue;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new FulcrumError(first.code, `${source}: ${first.path}: ${first.message}${more}`, {
    source,
    issues: [...issues],
  });
}
