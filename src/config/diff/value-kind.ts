// Which unit a config value at a path is written in (duration, percentage, size), read from
// the schema's own `.meta` descriptions, so the diff prints `30s`, not `30000`.
import { z } from 'zod';
import { configSchema } from '../schema.ts';
import { defOf, unwrap } from '../schema-walk.ts';

export type ValueKind = 'duration' | 'percent' | 'size' | 'plain';

function kindOf(schema: z.ZodType): ValueKind | undefined {
  const description = z.globalRegistry.get(schema)?.description ?? '';
  if (description.startsWith('duration:')) return 'duration';
  if (description.startsWith('percentage:')) return 'percent';
  if (description.startsWith('size:')) return 'size';
  return undefined;
}

/** Where unwrapping stops: a wrapper may carry the unit (`.meta`) its inner schema lacks. */
const carriesUnit = (s: z.ZodType): boolean => kindOf(s) !== undefined;

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
      const schema = unwrap(s, carriesUnit);
      const def = defOf(schema);
      const options = def.type === 'union' && def.options !== undefined ? def.options : [schema];
      for (const o of options) {
        const od = defOf(unwrap(o, carriesUnit));
        if (od.type === 'object' && od.shape !== undefined && typeof seg === 'string') {
          const child = od.shape[seg];
          if (child !== undefined) next.push(child);
        } else if (od.type === 'record' && od.valueType !== undefined) next.push(od.valueType);
        else if (od.type === 'array' && od.element !== undefined) next.push(od.element);
      }
    }
    current = next;
    if (i === path.length - 1) {
      kind = current.map((s) => kindOf(unwrap(s, carriesUnit))).find((k) => k !== undefined) ?? 'plain';
    }
  }
  cache.set(key, kind);
  return kind;
}
