// Schema validation: runs the zod schema and turns its issues into ConfigIssues whose
// messages read like `pools.app.backends[1].weight: must be ≥ 0`, with "did you mean"
// hints for misspelt keys and enum values.
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.ts';
import { invalidIssuePusher } from './issue.ts';
import type { ConfigIssue } from './issue.ts';
import type { DocPath, Position } from './issue.ts';
import { configSchema } from './schema.ts';
import type { Config } from './schema.ts';
import { allowedKeysAt, allowedValuesAt } from './schema-walk.ts';

export type SchemaResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

export function validateSchema(
  raw: unknown,
  positionOf: (path: DocPath) => Position | undefined,
): SchemaResult {
  const result = configSchema.safeParse(raw, { error: messageFor });
  if (result.success) return { ok: true, config: result.data };
  const issues: ConfigIssue[] = [];
  for (const zi of result.error.issues) convert(zi, [], raw, positionOf, issues);
  return { ok: false, issues };
}

type ZodIssue = z.core.$ZodIssue;
type ZodRawIssue = z.core.$ZodRawIssue;

function convert(
  zi: ZodIssue,
  prefix: DocPath,
  raw: unknown,
  positionOf: (path: DocPath) => Position | undefined,
  out: ConfigIssue[],
): void {
  const path = [...prefix, ...(zi.path as (string | number)[])];
  const push = invalidIssuePusher(out, positionOf);
  switch (zi.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(configSchema, path);
      for (const key of zi.keys) {
        const guess = didYouMean(key, allowed);
        push(
          [...path, key],
          `unknown key "${key}"`,
          guess !== undefined ? `did you mean "${guess}"?` : `allowed keys: ${allowed.join(', ')}`,
        );
      }
      return;
    }
    case 'invalid_union': {
      // Every branch failed on the type alone: say which types are accepted.
      const branches = zi.errors;
      const onlyTypes =
        branches.length > 0 &&
        branches.every((b) => b.length === 1 && b[0]?.code === 'invalid_type' && b[0].path.length === 0);
      if (onlyTypes) {
        const expected = branches.map((b) =>
          describeExpected(String((b[0] as { expected?: string }).expected)),
        );
        push(
          path,
          `must be ${[...new Set(expected)].join(' or ')}, got ${describeValue(valueAt(raw, path))}`,
        );
        return;
      }
      // Otherwise report the branch that came closest (fewest issues; first on a tie).
      let best = branches[0] ?? [];
      for (const b of branches) if (b.length < best.length) best = b;
      if (best.length === 0) push(path, zi.message);
      for (const inner of best) convert(inner, path, raw, positionOf, out);
      return;
    }
    case 'invalid_key': {
      const inner = zi.issues[0]?.message ?? 'invalid name';
      push(path, `invalid name "${String(path[path.length - 1])}": ${inner}`);
      return;
    }
    case 'invalid_value': {
      const input = valueAt(raw, path);
      const guess =
        typeof input === 'string' ? didYouMean(input, allowedValuesAt(configSchema, path)) : undefined;
      push(path, zi.message, guess === undefined ? undefined : `did you mean "${guess}"?`);
      return;
    }
    default:
      push(path, zi.message);
  }
}

/** zod error map: plain messages that read after a path and a colon. */
function messageFor(iss: ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${describeExpected(iss.expected)}, got ${describeValue(iss.input)}`;
    case 'too_small': {
      const min = String(iss.minimum);
      if (iss.origin === 'array') return `must have at least ${min} item${min === '1' ? '' : 's'}`;
      if (iss.origin === 'string')
        return min === '1' ? 'must not be empty' : `must be at least ${min} characters`;
      return iss.inclusive === false ? `must be > ${min}` : `must be ≥ ${min}`;
    }
    case 'too_big': {
      const max = String(iss.maximum);
      if (iss.origin === 'array') return `must have at most ${max} items`;
      if (iss.origin === 'string') return `must be at most ${max} characters`;
      return iss.inclusive === false ? `must be < ${max}` : `must be ≤ ${max}`;
    }
    case 'invalid_format': {
      const prefix = (iss as { prefix?: string }).prefix;
      if (iss.format === 'starts_with' && prefix !== undefined) return `must start with "${prefix}"`;
      if (iss.format === 'url')
        return `must be a URL like http://127.0.0.1:9093/hook (got "${String(iss.input)}")`;
      if (iss.format === 'regex') return `must match ${iss.pattern ?? 'the expected pattern'}`;
      return `must be a valid ${iss.format}`;
    }
    case 'invalid_value':
      if (iss.input === undefined) return 'is required';
      return iss.values.length === 1
        ? `must be ${JSON.stringify(iss.values[0])}`
        : `must be one of: ${iss.values.map((v) => String(v)).join(', ')}`;
    case 'not_multiple_of':
      return `must be a multiple of ${iss.divisor}`;
    default:
      return undefined;
  }
}

function describeExpected(expected: string): string {
  switch (expected) {
    case 'object':
    case 'record':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${expected}`;
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  return String(v);
}

function valueAt(raw: unknown, path: DocPath): unknown {
  let v = raw;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}
