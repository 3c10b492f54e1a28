// The import-boundary rule (scripts/lint/import-boundaries.ts) rejects a forbidden direction and a
// cycle, shown on small trees written here; and the project's own lint config applies it to src/.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { afterEach, describe, expect, it } from 'vitest';
import { importBoundaries, resetImportGraph } from '../scripts/lint/import-boundaries.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  resetImportGraph();
});

async function lintTree(files: Record<string, string>, layers: Record<string, string[]>): Promise<string[]> {
  const cwd = mkdtempSync(join(tmpdir(), 'fulcrum-boundaries-'));
  dirs.push(cwd);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(cwd, path)), { recursive: true });
    writeFileSync(join(cwd, path), text);
  }
  resetImportGraph();
  const eslint = new ESLint({
    cwd,
    overrideConfigFile: true,
    overrideConfig: [
      {
        files: ['**/*.ts'],
        languageOptions: { parser: tseslint.parser },
        plugins: { fulcrum: { rules: { 'import-boundaries': importBoundaries } } },
        rules: { 'fulcrum/import-boundaries': ['error', { layers }] },
      },
    ],
  });
  const results = await eslint.lintFiles(['src/**/*.ts']);
  return results
    .flatMap((r) => r.messages.map((m) => `${r.filePath.slice(cwd.length + 1)}: ${m.message}`))
    .sort();
}

describe('fulcrum/import-boundaries', () => {
  const layers = { core: [], proxy: ['core'] };

  it('accepts imports that follow the layers', async () => {
    const found = await lintTree(
      {
        'src/core/clock.ts': 'export const now = () => 1;\n',
        'src/proxy/server.ts': "import { now } from '../core/clock.ts';\nexport const t = now();\n",
        'src/main.ts': "import { t } from './proxy/server.ts';\nexport const x = t;\n",
      },
      layers,
    );
    expect(found).toEqual([]);
  });

  it('rejects a forbidden direction, a folder missing from the table, and root imports from below', async () => {
    const found = await lintTree(
      {
        'src/core/clock.ts': "import { t } from '../proxy/server.ts';\nexport const now = () => t;\n",
        'src/proxy/server.ts': 'export const t = 1;\n',
        'src/extra/x.ts': "import { t } from '../proxy/server.ts';\nexport const x = t;\n",
        'src/main.ts': 'export const root = 1;\n',
        'src/proxy/uses-root.ts': "import { root } from '../main.ts';\nexport const y = root;\n",
      },
      layers,
    );
    expect(found).toEqual([
      'src/core/clock.ts: core/ may not import from proxy/ (allowed: none); see docs/architecture.md',
      'src/extra/x.ts: extra/ is not in the layer table of fulcrum/import-boundaries',
      'src/proxy/uses-root.ts: proxy/ may not import from (root)/ (allowed: core); see docs/architecture.md',
    ]);
  });

  it('rejects an import cycle between files, type-only imports included', async () => {
    const found = await lintTree(
      {
        'src/core/a.ts': "import type { B } from './b.ts';\nexport type A = { b?: B };\n",
        'src/core/b.ts': "import { c } from './c.ts';\nexport type B = number;\nexport const b = c;\n",
        'src/core/c.ts': "import type { A } from './a.ts';\nexport const c: A = {};\n",
        'src/core/d.ts': "import { b } from './b.ts';\nexport const d = b;\n",
      },
      layers,
    );
    expect(found).toEqual([
      'src/core/a.ts: import cycle: core/a.ts imports core/b.ts, which leads back to it',
      'src/core/b.ts: import cycle: core/b.ts imports core/c.ts, which leads back to it',
      'src/core/c.ts: import cycle: core/c.ts imports core/a.ts, which leads back to it',
    ]);
  });

  it('is on for src/ in the project lint config, and src/ passes it', async () => {
    // A JavaScript module without types: read through a plain specifier.
    const configPath = '../eslint.config.js';
    const { default: config } = (await import(configPath)) as {
      default: { rules?: Record<string, unknown> }[];
    };
    const entry = config.find((c) => c.rules?.['fulcrum/import-boundaries'] !== undefined);
    expect(entry?.rules?.['fulcrum/import-boundaries']).toMatchObject([
      'error',
      { layers: expect.any(Object) },
    ]);
    resetImportGraph();
    const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });
    const results = await eslint.lintFiles(['src/**/*.ts']);
    const boundary = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === 'fulcrum/import-boundaries')
        .map((m) => `${r.filePath}: ${m.message}`),
    );
    expect(boundary).toEqual([]);
  }, 120_000);
});
