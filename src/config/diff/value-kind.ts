// Which unit a config value at a path is written in (duration, percentage, size), read from
// the schema's own `.meta` descriptions, so the diff prints `30s`, not `30000`.
import { z } from 'zod';
import { configSchema } from '../schema.ts';

export type ValueKind = 'duration' | 'percent' | 'size' | 'plain';

interface Def {
  readonly type: string;
  readonly shape?: Record<string, z.ZodType>;
  readonly valueType?: z.ZodType;
  readonly element?: z.ZodType;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly options?: readonly z.ZodType[];
}

const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

function kindOf(schema: z.ZodType): ValueKind | undefined {
  const description = z.globalRegistry.get(schema)?.description ?? '';
  if (description.startsWith('duration:')) return 'duration';
  if (description.startsWith('percentage:')) return 'percent';
  if (description.startsWith('size:')) return 'size';
  return undefined;
}

/** Unwraps optional/default/prefault and pipes; stops early at a schema that carries a unit. */
function unwrap(schema: z.ZodType): { schema: z.ZodType; kind: ValueKind | undefined } {
  let s = schema;
  for (let i = 0; i < 32; i++) {
    const kind = kindOf(s);
    if (kind !== undefined) return { schema: s, kind };
    const def = defOf(s);
    if (def.innerType !== undefined) s = def.innerType;
    else if (def.type === 'pipe' && def.in !== undefined) s = def.in;
    else break;
  }
  return { schema: s, kind: undefined };
}

const cache = new Map<string, ValueKind>();

export function valueKindAt(path: readonly (string | number)[]): ValueKind {
  // Record keys and array indices don't change the unit: normalise them out of the cache key.
  const key = path.map((p) => (typeof p === 'number' ? '#' : p)).join('\u0000');
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let current: z.ZodType[] = [configSchema];
  let kind: ValueKind = 'plain';
  for (const [i, seg] of path.entries()) {
    const next: z.ZodType[] = [];
    for (const s of current) {
      const { schema } = unwrap(s);
      const def = defOf(schema);
      const options = def.type === 'union' && def.options !== undefined ? def.options : [schema];
      for (const o of options) {
        const od = defOf(unwrap(o).schema);
        if (od.type === 'object' && od.shape !== undefined && typeof seg === 'string') {
          const child = od.shape[seg];
          if (child !== undefined) next.push(child);
        } else if (od.type === 'record' && od.valueType !== undefined) next.push(od.valueType);
        else if (od.type === 'array' && od.element !== undefined) next.push(od.element);
      }
    }
    current = next;
    if (i === path.length - 1) {
      kind = current.map((s) => unwrap(s).kind).find((k) => k !== undefined) ?? 'plain';
    }
  }
  cache.set(key, kind);
  return kind;
}
