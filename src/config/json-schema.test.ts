import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema, renderJsonSchema } from './json-schema.ts';

const checkedIn = new URL('../../schema/fulcrum.schema.json', import.meta.url);

describe('schema/fulcrum.schema.json', () => {
  it('is what scripts/gen-schema.ts generates from the zod schema (run `node scripts/gen-schema.ts`)', () => {
    expect(readFileSync(checkedIn, 'utf8')).toBe(renderJsonSchema());
  });

  it('describes the input language: durations as strings, defaults shown, unknown keys refused', () => {
    const schema = configJsonSchema() as {
      required: string[];
      additionalProperties: boolean;
      properties: Record<string, { default?: unknown; properties?: Record<string, { default?: unknown }> }>;
    };
    expect(schema.required).toEqual(['version', 'listeners', 'pools']);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.monitor?.properties?.window?.default).toBe('60s');
    expect(schema.properties.admin?.properties?.address?.default).toBe('127.0.0.1:9901');
  });
});
