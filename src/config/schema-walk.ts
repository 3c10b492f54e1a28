// Walks the zod config schema as data: which keys are allowed at a path (for "did you
// mean" hints) and every key path it defines (so docs/config.md can be checked for
// completeness). Reads zod's internal `_zod.def`, which zod 4 documents for tooling.
import type { z } from 'zod';

/** The part of zod's `_zod.def` the walkers read. */
export interface SchemaDef {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly valueType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
}

export function defOf(schema: z.ZodType): SchemaDef {
  return (schema as unknown as { _zod: { def: SchemaDef } })._zod.def;
}

/**
 * Strips optional/default/prefault/nullable/readonly wrappers and transforms (pipes), or
 * stops early at the first schema `stopAt` accepts (the diff stops at one carrying a unit).
 */
export function unwrap(schema: z.ZodType, stopAt?: (s: z.ZodType) => boolean): z.ZodType {
  let s = schema;
  for (let i = 0; i < 32; i++) {
    if (stopAt?.(s) === true) return s;
    const def = defOf(s);
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) s = def.in;
    else return s;
  }
  return s;
}

/** Every non-union schema reachable at `path` (a union fans out into its options). */
function schemasAt(root: z.ZodType, path: readonly (string | number)[]): z.ZodType[] {
  let current = flatten(unwrap(root));
  for (const seg of path) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      const def = defOf(s);
      if (def.type === 'object' && def.shape !== undefined && typeof seg === 'string') {
        const child = def.shape[seg];
        if (child !== undefined) next.push(...flatten(unwrap(child)));
      } else if (def.type === 'record' && def.valueType !== undefined) {
        next.push(...flatten(unwrap(def.valueType)));
      } else if (def.type === 'array' && def.element !== undefined) {
        next.push(...flatten(unwrap(def.element)));
      }
    }
    current = next;
  }
  return current;
}

function flatten(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema);
  if (def.type !== 'union' || def.options === undefined) return [schema];
  return def.options.flatMap((o) => flatten(unwrap(o)));
}

/** Keys an object at `path` accepts, or an empty list when no object lives there. */
export function allowedKeysAt(root: z.ZodType, path: readonly (string | number)[]): string[] {
  const keys = new Set<string>();
  for (const s of schemasAt(root, path)) {
    const def = defOf(s);
    if (def.type === 'object' && def.shape !== undefined) for (const k of Object.keys(def.shape)) keys.add(k);
  }
  return [...keys];
}

/** Enum or literal values allowed at `path`, for hints on a misspelt value. */
export function allowedValuesAt(root: z.ZodType, path: readonly (string | number)[]): string[] {
  const values: string[] = [];
  for (const s of schemasAt(root, path)) {
    const def = defOf(s) as SchemaDef & { entries?: Record<string, unknown>; values?: unknown[] };
    if (def.type === 'enum' && def.entries !== undefined) values.push(...Object.keys(def.entries));
    if (def.type === 'literal' && def.values !== undefined) values.push(...def.values.map(String));
  }
  return values;
}

/**
 * Every key path the schema defines, written as docs/config.md writes them:
 * `pools.<name>.backends[].weight`, `monitor.notify[].webhook`.
 */
export function keyPaths(root: z.ZodType): string[] {
  const out = new Set<string>();
  const visit = (schema: z.ZodType, prefix: string, depth: number): void => {
    if (depth > 16) return;
    for (const s of flatten(unwrap(schema))) {
      const def = defOf(s);
      if (def.type === 'object' && def.shape !== undefined) {
        for (const [k, child] of Object.entries(def.shape)) {
          const p = prefix === '' ? k : `${prefix}.${k}`;
          out.add(p);
          visit(child, p, depth + 1);
        }
      } else if (def.type === 'record' && def.valueType !== undefined) {
        visit(def.valueType, `${prefix}.<name>`, depth + 1);
      } else if (def.type === 'array' && def.element !== undefined) {
        visit(def.element, `${prefix}[]`, depth + 1);
      }
    }
  };
  visit(root, '', 0);
  return [...out];
}
