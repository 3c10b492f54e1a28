// What `start` checks of a valid config before it binds anything, apart from binding itself:
// the admin API is not exposed without a token, and every certificate and key loads. `validate`
// runs the same function, so "validate = apply minus start" holds for these too.
import { isLoopbackHost, parseAddress } from '../core/units.ts';
import { FulcrumError } from '../core/errors.ts';
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
  const hp = parseAddress(config.admin.address);
  if (hp !== undefined && !isLoopbackHost(hp.host) && config.admin.token === undefined) {
    issues.push({
      path: 'admin.address',
      message: `admin API on ${config.admin.address} (not loopback) without admin.token: start refuses to expose it`,
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
