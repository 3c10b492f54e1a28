// What changes between two configs, by path, and what it does to traffic: the predicted
// expected share of every backend before → after and, for consistent-hash pools, the
// fraction of keys that move. Pure: plain data in, plain data out (see diff/format-text.ts).
import { formatDuration } from '../core/units.ts';
import { estimateKeysMoved } from './diff/keys-moved.ts';
import { valueKindAt } from './diff/value-kind.ts';
import { formatPath } from './issue.ts';
import { redactUrl, secretKindAt } from './redact.ts';
import type { Config } from './schema.ts';
import { predictShares } from './shares.ts';

export type ChangeKind = 'added' | 'removed' | 'changed';

export interface ConfigChange {
  readonly kind: ChangeKind;
  /** Dotted path: `pools.app.backends[0].weight` (index in the new config, or the old one when removed). */
  readonly path: string;
  /** Normalised values (durations ms, percentages 0..1, sizes bytes); absent on the side that has none. */
  readonly before?: unknown;
  readonly after?: unknown;
  /** The same values written back as config text: `30s`, `50%`, `16KiB`. */
  readonly beforeText?: string;
  readonly afterText?: string;
}

export interface BackendShareChange {
  readonly backend: string;
  /** Expected share 0..1; undefined when the backend is not in that config. */
  readonly before?: number;
  readonly after?: number;
}

export interface PoolShareChange {
  readonly pool: string;
  readonly status: 'added' | 'removed' | 'changed' | 'unchanged';
  readonly backends: BackendShareChange[];
  /** consistent-hash pools present in both configs: fraction 0..1 of keys that change backend. */
  readonly keysMoved?: number;
}

export interface ConfigDiff {
  readonly changed: boolean;
  readonly changes: ConfigChange[];
  /** Every pool of either config, in the order of the new config then removed ones. */
  readonly pools: PoolShareChange[];
}

type Path = (string | number)[];

export function diffConfigs(before: Config | undefined, after: Config): ConfigDiff {
  // Against nothing (a first apply), every top-level section is one added line, not one giant line.
  const changes = configChanges(before ?? {}, after);
  return { changed: changes.length > 0, changes, pools: poolShares(before, after) };
}

/**
 * The changes alone, one per differing path, in the order of `after`'s keys then keys only
 * `before` has; values are compared normalised, so `2s` vs `2000ms` is no change. The drift
 * audit uses this without the share predictions.
 */
export function configChanges(before: unknown, after: unknown): ConfigChange[] {
  const changes: ConfigChange[] = [];
  walk(before, after, [], changes);
  return changes;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Arrays of objects with unique `name`s (backends) are matched by name, so removing one backend isn't a shifted list. */
function namedElements(list: readonly unknown[]): Map<string, number> | undefined {
  const names = new Map<string, number>();
  for (const [i, el] of list.entries()) {
    if (!isObject(el) || typeof el.name !== 'string' || names.has(el.name)) return undefined;
    names.set(el.name, i);
  }
  return names;
}

function walk(a: unknown, b: unknown, path: Path, out: ConfigChange[]): void {
  if (a === undefined && b === undefined) return;
  if (a === undefined) return void out.push(change('added', path, undefined, b));
  if (b === undefined) return void out.push(change('removed', path, a, undefined));
  if (isObject(a) && isObject(b)) {
    for (const key of Object.keys(b)) walk(a[key], b[key], [...path, key], out);
    for (const key of Object.keys(a)) if (!(key in b)) walk(a[key], undefined, [...path, key], out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b) && (a.some(isObject) || b.some(isObject))) {
    const na = namedElements(a);
    const nb = namedElements(b);
    if (na !== undefined && nb !== undefined && a.length > 0 && b.length > 0) {
      for (const [name, j] of nb) {
        const i = na.get(name);
        walk(i === undefined ? undefined : a[i], b[j], [...path, j], out);
      }
      for (const [name, i] of na) if (!nb.has(name)) walk(a[i], undefined, [...path, i], out);
      return;
    }
    const n = Math.max(a.length, b.length);
    for (let i = 0; i < n; i++) walk(a[i], b[i], [...path, i], out);
    return;
  }
  // Leaves, and lists of scalars (methods, retry conditions) compared whole.
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(change('changed', path, a, b));
}

function change(kind: ChangeKind, path: Path, before: unknown, after: unknown): ConfigChange {
  return {
    kind,
    path: formatPath(path),
    ...(before === undefined ? {} : { before: redact(before, path), beforeText: formatValue(before, path) }),
    ...(after === undefined ? {} : { after: redact(after, path), afterText: formatValue(after, path) }),
  };
}

/** Printed instead of secrets: diffs end up in CI logs and review comments. */
export const SENSITIVE = '(sensitive)';

/** Tokens and header values in full; notifier and etcd URLs down to scheme://host:port (redact.ts). */
function sensitive(path: readonly (string | number)[], value: unknown): string | undefined {
  const kind = secretKindAt(path);
  if (kind === undefined) return undefined;
  return kind === 'url' && typeof value === 'string' ? redactUrl(value) : SENSITIVE;
}

function redact(value: unknown, path: readonly (string | number)[]): unknown {
  const hidden = sensitive(path, value);
  if (hidden !== undefined) return hidden;
  if (Array.isArray(value)) return value.map((v, i) => redact(v, [...path, i]));
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, [...path, k])]));
  }
  return value;
}

const SIZE_UNITS: readonly [string, number][] = [
  ['GiB', 1024 ** 3],
  ['MiB', 1024 ** 2],
  ['KiB', 1024],
];

function formatSize(bytes: number): string {
  for (const [unit, n] of SIZE_UNITS) if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  return `${bytes}B`;
}

/** A normalised value written back as config text, recursively for added/removed subtrees. */
export function formatValue(value: unknown, path: readonly (string | number)[]): string {
  const hidden = sensitive(path, value);
  if (hidden !== undefined) return hidden;
  if (typeof value === 'number') {
    const kind = valueKindAt(path);
    if (kind === 'duration') return formatDuration(value);
    if (kind === 'percent') return `${Number((value * 100).toFixed(4))}%`;
    if (kind === 'size') return formatSize(value);
    return String(value);
  }
  if (typeof value === 'string') return /^[\w./:@${}*-]+$/.test(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v, i) => formatValue(v, [...path, i])).join(', ')}]`;
  if (isObject(value)) {
    const parts = Object.entries(value).map(([k, v]) => `${k}: ${formatValue(v, [...path, k])}`);
    return parts.length === 0 ? '{}' : `{ ${parts.join(', ')} }`;
  }
  return String(value);
}

function poolShares(before: Config | undefined, after: Config): PoolShareChange[] {
  const beforePools = before?.pools ?? {};
  const names = [...Object.keys(after.pools), ...Object.keys(beforePools).filter((n) => !(n in after.pools))];
  return names.map((name) => {
    const a = beforePools[name];
    const b = after.pools[name];
    const sa = a === undefined ? [] : predictShares(a);
    const sb = b === undefined ? [] : predictShares(b);
    const backends: BackendShareChange[] = sb.map((s) => {
      const old = sa.find((x) => x.backend === s.backend);
      return {
        backend: s.backend,
        ...(old === undefined ? {} : { before: old.expectedShare }),
        after: s.expectedShare,
      };
    });
    for (const s of sa) {
      if (!sb.some((x) => x.backend === s.backend))
        backends.push({ backend: s.backend, before: s.expectedShare });
    }
    const keysMoved = b === undefined ? undefined : estimateKeysMoved(a, b);
    const status =
      a === undefined
        ? 'added'
        : b === undefined
          ? 'removed'
          : backends.some((x) => x.before !== x.after) || (keysMoved ?? 0) > 0
            ? 'changed'
            : 'unchanged';
    return { pool: name, status, backends, ...(keysMoved === undefined ? {} : { keysMoved }) };
  });
}
