// Writes schema/fulcrum.schema.json from the zod config schema.
// Usage: node scripts/gen-schema.ts   (src/config/json-schema.test.ts fails when it is stale)
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderJsonSchema } from '../src/config/json-schema.ts';

const target = fileURLToPath(new URL('../schema/fulcrum.schema.json', import.meta.url));
writeFileSync(target, renderJsonSchema());
console.log(`wrote ${target}`);
