// Bounded input (issue 11): a size cap checked before parsing, and caps on counts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import {
  MAX_CONFIG_BYTES,
  configIssuesError,
  loadConfigFile,
  loadConfigText,
  readConfigFile,
} from './load.ts';
import type { LoadResult } from './load.ts';
import { LIMITS } from './schema.ts';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function backends(n: number, host = '127.0.0.1'): string {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`      - { name: b${i}, address: "${host}:${1 + (i % 60000)}" }`);
  return lines.join('\n');
}

/** A million backends in about 60 MiB: the text that ran `validate` out of memory. */
function huge(): string {
  const head =
    'version: 1\nlisteners:\n  web: { address: 127.0.0.1:8080, routes: [{ pool: app }] }\npools:\n  app:\n    backends:\n';
  const line = '      - { name: backend-0000000, address: "10.0.0.1:8080", weight: 1 }\n';
  return head + line.repeat(Math.ceil((60 * 1024 * 1024) / line.length));
}

function codes(r: LoadResult): string[] {
  return r.ok ? [] : r.issues.map((i) => i.code);
}

function messages(r: LoadResult): string {
  return r.ok ? '' : r.issues.map((i) => `${i.path}: ${i.message}`).join('\n');
}

describe('config size limit', () => {
  it('refuses a 60 MiB text before parsing it, with FULCRUM_ERR_CONFIG_TOO_LARGE', () => {
    // Parsing this took 112 s and ran out of memory; refused, it returns within the test timeout.
    const text = huge();
    expect(text.length).toBeGreaterThan(60 * 1024 * 1024);
    const r = loadConfigText(text, { source: 'big.yaml' });
    expect(codes(r)).toEqual(['FULCRUM_ERR_CONFIG_TOO_LARGE']);
    expect(configIssuesError(r.ok ? [] : r.issues, 'big.yaml').code).toBe('FULCRUM_ERR_CONFIG_TOO_LARGE');
    expect(messages(r)).toContain('2 MiB');
  });

  it('counts bytes, not characters', () => {
    const text = `# ${'é'.repeat(MAX_CONFIG_BYTES / 2)}\nversion: 1\n`;
    expect(text.length).toBeLessThan(MAX_CONFIG_BYTES);
    expect(codes(loadConfigText(text))).toEqual(['FULCRUM_ERR_CONFIG_TOO_LARGE']);
  });

  it('refuses a 60 MiB file by its size, before reading it (validate, lint, diff, apply, start)', async () => {
    const file = join(dir, 'big.yaml');
    writeFileSync(file, huge());
    const err = await readConfigFile(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFulcrumError(err) && err.code).toBe('FULCRUM_ERR_CONFIG_TOO_LARGE');
    expect(codes(await loadConfigFile(file))).toEqual(['FULCRUM_ERR_CONFIG_TOO_LARGE']);
  });

  it('still reads a file under the limit, and names a missing one FULCRUM_ERR_CONFIG_READ', async () => {
    const file = join(dir, 'small.yaml');
    writeFileSync(file, 'version: 1\n');
    expect(await readConfigFile(file)).toBe('version: 1\n');
    const err = await readConfigFile(join(dir, 'nope.yaml')).catch((e: unknown) => e);
    expect(isFulcrumError(err) && err.code).toBe('FULCRUM_ERR_CONFIG_READ');
  });
});

describe('count limits', { timeout: 30_000 }, () => {
  const pool = (name: string, n: number, host?: string) =>
    `  ${name}:\n    backends:\n${backends(n, host)}\n`;
  const doc = (pools: string, listeners = '  web: { address: 127.0.0.1:8080, routes: [{ pool: app }] }\n') =>
    `version: 1\nlisteners:\n${listeners}pools:\n${pools}`;

  it('accepts 10,000 backends in one pool', () => {
    const r = loadConfigText(doc(pool('app', LIMITS.backendsPerPool)));
    expect(messages(r)).toBe('');
  });

  it('refuses more than 10,000 backends in a pool', () => {
    const r = loadConfigText(doc(pool('app', LIMITS.backendsPerPool + 1)));
    expect(codes(r)).toContain('FULCRUM_ERR_CONFIG_INVALID');
    expect(messages(r)).toContain('pools.app.backends: must have at most 10000 items');
  });

  it('refuses more than 10,000 backends in all', () => {
    const r = loadConfigText(doc(pool('app', 6000) + pool('other', 6000, '127.0.0.2')));
    expect(messages(r)).toContain('pools: 12000 backends in all; at most 10000 are allowed');
  });

  it('refuses too many listeners, routes and pools', () => {
    const listeners = Array.from(
      { length: LIMITS.listeners + 1 },
      (_, i) => `  l${i}: { address: "127.0.0.1:${8000 + i}", routes: [{ pool: app }] }\n`,
    ).join('');
    expect(messages(loadConfigText(doc(pool('app', 2), listeners)))).toContain(
      `listeners: must have at most ${LIMITS.listeners} listeners`,
    );
    const routes = `  web:\n    address: 127.0.0.1:8080\n    routes:\n${'      - { pool: app }\n'.repeat(LIMITS.routesPerListener + 1)}`;
    expect(messages(loadConfigText(doc(pool('app', 2), routes)))).toContain(
      `listeners.web.routes: must have at most ${LIMITS.routesPerListener} items`,
    );
    const pools = Array.from({ length: LIMITS.pools + 1 }, (_, i) => pool(i === 0 ? 'app' : `p${i}`, 1)).join(
      '',
    );
    expect(messages(loadConfigText(doc(pools)))).toContain(`pools: must have at most ${LIMITS.pools} pools`);
  });
});
