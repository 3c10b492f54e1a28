// JSON Schema for editors (YAML language server, VS Code), generated from the zod schema
// so the two can never disagree. schema/fulcrum.schema.json is this output, checked in;
// regenerate with `node scripts/gen-schema.ts`.
import { z } from 'zod';
import { configSchema } from './schema.ts';

export const JSON_SCHEMA_ID = 'https://github.com/fulcrum-lb/fulcrum/schema/fulcrum.schema.json';

/** The JSON Schema of what a user may write (input side: `2s`, `50%`, defaults optional). */
export function configJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(configSchema, {
    io: 'input',
    target: 'draft-2020-12',
    // Transforms (durations, percentages) are described by their input type.
    unrepresentable: 'any',
    // zod writes `startsWith` as a non-standard format next to an equivalent pattern;
    // editors warn about unknown formats, so keep only the pattern.
    override: (ctx) => {
      if (ctx.jsonSchema.format === 'starts_with') delete ctx.jsonSchema.format;
    },
  }) as Record<string, unknown>;
  const { $schema, ...rest } = generated;
  return {
    $schema,
    $id: JSON_SCHEMA_ID,
    title: 'fulcrum configuration v1',
    description:
      'fulcrum load balancer configuration; see docs/config.md for every key, its default and why.',
    ...rest,
  };
}

/** The exact text of schema/fulcrum.schema.json. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
