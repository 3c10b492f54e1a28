// One problem found in a configuration, wherever it was found (parse, env, schema, semantics).
import type { ErrorCode } from '../core/errors.ts';

/** A path into the config document: keys and list indexes. */
export type DocPath = readonly (string | number)[];

export interface Position {
  line: number;
  column: number;
}

export interface ConfigIssue {
  /** Dotted path as formatPath() writes it: `pools.app.backends[1].weight` ('' = the whole document). */
  path: string;
  message: string;
  code: ErrorCode;
  line?: number;
  column?: number;
  hint?: string;
}

/** ['pools', 'app', 'backends', 1, 'weight'] → 'pools.app.backends[1].weight'. */
export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    // Keys that would make the dotted form ambiguous are quoted, like jq does.
    else if (/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(seg) && !seg.includes('.'))
      out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** A `push(path, message, hint?)` that adds CONFIG_INVALID issues to `out`, placed where `positionOf` finds the path. */
export function invalidIssuePusher(
  out: ConfigIssue[],
  positionOf: (path: DocPath) => Position | undefined,
): (path: DocPath, message: string, hint?: string) => void {
  return (path, message, hint) => {
    const pos = positionOf(path);
    out.push({
      path: formatPath(path),
      message,
      code: 'FULCRUM_ERR_CONFIG_INVALID',
      ...(pos === undefined ? {} : { line: pos.line, column: pos.column }),
      ...(hint === undefined ? {} : { hint }),
    });
  };
}

/** Sorts by line (issues without a line last), keeping the found order among equals. */
export function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort(
      (a, b) =>
        (a.issue.line ?? Infinity) - (b.issue.line ?? Infinity) ||
        (a.issue.column ?? 0) - (b.issue.column ?? 0) ||
        a.i - b.i,
    )
    .map((x) => x.issue);
}
