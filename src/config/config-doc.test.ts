// docs/config.md is written by hand; this keeps it honest: every key path of the schema
// has a row, and each row's default is the schema's.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configJsonSchema } from './json-schema.ts';
import { configSchema } from './schema.ts';
import { keyPaths } from './schema-walk.ts';

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  required?: string[];
  default?: unknown;
}

interface KeyFacts {
  default?: unknown;
  required: boolean;
  /** A nested object with its own keys (documented key by key below it). */
  section: boolean;
}

/** Key path (docs spelling) → default and required-ness, from the input-side JSON Schema. */
function factsByPath(): Map<string, KeyFacts> {
  const out = new Map<string, KeyFacts>();
  const visit = (s: JsonSchema, prefix: string): void => {
    for (const branch of s.anyOf ?? [s]) {
      for (const [key, child] of Object.entries(branch.properties ?? {})) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        const prev = out.get(path);
        out.set(path, {
          ...('default' in child ? { default: child.default } : {}),
          required: (prev?.required ?? false) || (branch.required ?? []).includes(key),
          section: child.properties !== undefined,
        });
        visit(child, path);
      }
      if (typeof branch.additionalProperties === 'object')
        visit(branch.additionalProperties, `${prefix}.<name>`);
      if (branch.items !== undefined) visit(branch.items, `${prefix}[]`);
    }
  };
  visit(configJsonSchema() as JsonSchema, '');
  return out;
}

/** The default as docs/config.md writes it inside backticks. */
function written(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(String).join(', ')}]`;
  if (value !== null && typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
const rows = new Map<string, string[]>();
for (const line of doc.split('\n')) {
  const m = /^\|\s*`([^`]+)`\s*\|/.exec(line);
  // Cells split on unescaped pipes; `\|` inside a cell is an escaped one.
  if (m)
    rows.set(
      m[1] as string,
      line.split(/(?<!\\)\|/).map((c) => c.trim()),
    );
}

describe('docs/config.md', () => {
  const paths = keyPaths(configSchema);
  const facts = factsByPath();

  it('the schema walk and the JSON Schema agree on the key paths', () => {
    expect([...facts.keys()].sort()).toEqual([...paths].sort());
  });

  it.each(paths)('documents %s with its default', (path) => {
    const row = rows.get(path);
    expect(row, `no row for \`${path}\` in docs/config.md`).toBeDefined();
    const cell = row?.[3] ?? '';
    const f = facts.get(path);
    if (f?.section && 'default' in f) {
      expect(cell).toBe('see below');
    } else if (f !== undefined && 'default' in f) {
      expect(cell).toBe(`\`${written(f.default)}\``);
    } else if (f?.required) {
      expect(cell).toBe('required');
    } else {
      expect(cell).toBe('unset');
    }
  });

  it('documents no key the schema does not have', () => {
    const known = new Set(paths);
    expect([...rows.keys()].filter((p) => !known.has(p) && /^[a-z]/.test(p) && p.includes('.'))).toEqual([]);
  });
});

describe('examples/full.yaml', () => {
  it('sets every key of the schema', () => {
    const known = new Set(keyPaths(configSchema));
    const seen = new Set<string>();
    const visit = (value: unknown, prefix: string): void => {
      if (Array.isArray(value)) {
        for (const item of value) visit(item, `${prefix}[]`);
        return;
      }
      if (value === null || typeof value !== 'object') return;
      for (const [key, child] of Object.entries(value)) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        if (known.has(path)) {
          seen.add(path);
          visit(child, path);
        } else if ([...known].some((k) => k.startsWith(`${prefix}.<name>.`))) {
          // A named entry of a map (a listener, a pool); other maps (headers) hold no keys.
          visit(child, `${prefix}.<name>`);
        }
      }
    };
    visit(parse(readFileSync(new URL('../../examples/full.yaml', import.meta.url), 'utf8')), '');
    expect([...known].filter((k) => !seen.has(k))).toEqual([]);
  });
});
