// `fulcrum validate FILE`: schema and semantic checks, and every check `start` makes before
// binding (admin exposure, TLS files), offline.
// Exit 0 valid, 1 could not run (unreadable file), 2 invalid.
import { dirname, resolve } from 'node:path';
import type { ConfigIssue } from '../../config/load.ts';
import { loadConfigFile } from '../../config/load.ts';
import { preflightIssues } from '../../config/preflight.ts';
import { EXIT } from '../io.ts';
import type { CliIo } from '../io.ts';

export interface ValidateOptions {
  format: 'text' | 'json';
}

export async function validateCommand(file: string, opts: ValidateOptions, io: CliIo): Promise<number> {
  const path = resolve(io.cwd, file);
  const loaded = await loadConfigFile(path, { env: io.env });
  // What start checks before binding (admin exposure, certificates) counts as invalid too.
  const preflight = loaded.ok ? preflightIssues(loaded.value, dirname(path)) : [];
  const result = preflight.length > 0 ? { ok: false as const, issues: preflight } : loaded;
  const issues = result.ok ? [] : result.issues;
  const unreadable = issues.some((i) => i.code === 'FULCRUM_ERR_CONFIG_READ');
  const exit = result.ok ? EXIT.OK : unreadable ? EXIT.FAILED : EXIT.PROBLEMS;

  if (opts.format === 'json') {
    io.out(JSON.stringify({ valid: result.ok, file, issues }, null, 2));
    return exit;
  }
  if (result.ok) {
    const c = result.value.config;
    const backends = Object.values(c.pools).reduce((n, p) => n + p.backends.length, 0);
    io.out(
      `${file}: valid (${count(Object.keys(c.listeners).length, 'listener')}, ` +
        `${count(Object.keys(c.pools).length, 'pool')}, ${count(backends, 'backend')})`,
    );
    return exit;
  }
  // Problems go to stdout: they are the command's output, not a failure to run it.
  const write = (line: string): void => (unreadable ? io.err(line) : io.out(line));
  for (const issue of issues) write(formatIssue(file, issue));
  if (!unreadable) write(`${file}: invalid, ${count(issues.length, 'problem')}`);
  return exit;
}

/** `FILE:LINE:COL: path: message (CODE) hint`, the shape editors and CI annotate from. */
export function formatIssue(file: string, issue: ConfigIssue): string {
  const where = issue.line === undefined ? file : `${file}:${issue.line}:${issue.column ?? 1}`;
  const path = issue.path === '' ? '' : `${issue.path}: `;
  const hint = issue.hint === undefined ? '' : ` ${issue.hint}`;
  return `${where}: ${path}${issue.message} (${issue.code})${hint}`;
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
