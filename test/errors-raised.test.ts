// Every documented error code must be raised by some code path: a code that nothing raises is
// a promise in docs/errors.md that fulcrum does not keep. This reads the shipped sources (not
// tests) and requires each code to appear outside src/core/errors.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../src/core/errors.ts';

const SRC = new URL('../src/', import.meta.url).pathname;
// The bin checks the Node version itself, before it can import anything from src/.
const BIN = new URL('../bin/', import.meta.url).pathname;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|js)$/.test(name) && !/\.test\.ts$/.test(name) && !path.endsWith('core/errors.ts'))
      out.push(path);
  }
  return out;
}

describe('error codes', () => {
  it('every code in src/core/errors.ts is raised somewhere in src/ or bin/', () => {
    const text = [...sources(SRC), ...sources(BIN)].map((p) => readFileSync(p, 'utf8')).join('\n');
    const unused = Object.keys(ERRORS).filter((code) => !text.includes(code));
    expect(unused).toEqual([]);
  });
});
