import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../src/core/errors.ts';
import { renderErrorsDoc } from '../scripts/gen-errors-doc.ts';

describe('docs/errors.md', () => {
  it('is generated from src/core/errors.ts (run `node scripts/gen-errors-doc.ts`)', () => {
    expect(readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8')).toBe(renderErrorsDoc());
  });

  it('uses the FULCRUM_ERR_<AREA>_<WHAT> scheme for every code', () => {
    for (const code of Object.keys(ERRORS)) expect(code).toMatch(/^FULCRUM_ERR_[A-Z]+(_[A-Z0-9]+)*$/);
  });

  it('gives every code an HTTP status and a doc line', () => {
    for (const spec of Object.values(ERRORS)) {
      expect(spec.status).toBeGreaterThanOrEqual(400);
      expect(spec.doc.length).toBeGreaterThan(10);
    }
  });
});
