// SQLite-specific behaviour beyond the shared contract: migrations, two connections and
// two processes on one file, lock timeouts, open errors, and a clean CLI stderr.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { MIGRATIONS, SCHEMA_VERSION, openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';
import { sha256 } from './store.ts';

const NODE = join(process.cwd(), 'node_modules/.bin/node');
const COMMIT_LOOP = join(import.meta.dirname, '../testing/store/commit-loop.ts');

let dir: string;
let file: string;
const opened: Store[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-sqlite-'));
  file = join(dir, 'state.db');
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function open(path = file, options?: Parameters<typeof openSqliteStore>[1]): Promise<Store> {
  const s = await openSqliteStore(path, options);
  opened.push(s);
  return s;
}

async function errorOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isFulcrumError(err)) return { code: err.code, message: err.message };
    return { code: 'not a FulcrumError', message: String(err) };
  }
  return { code: 'resolved', message: '' };
}

function runNode(
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child timed out: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('openSqliteStore', () => {
  it('creates the directory and a WAL-mode file at the current schema version', async () => {
    const nested = join(dir, 'a', 'b', 'state.db');
    const s = await open(nested);
    await s.commitVersion({ text: 't', author: 'a', message: '', source: 'file', expectedLatest: null });
    const raw = new DatabaseSync(nested, { readOnly: true });
    try {
      expect(raw.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' });
      const applied = raw.prepare('SELECT version FROM schema_migrations ORDER BY version').all();
      expect(applied.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
    } finally {
      raw.close();
    }
  });

  it('migrates a file written at schema v1 and keeps its versions', async () => {
    const v1 = MIGRATIONS[0];
    if (v1 === undefined) throw new Error('no migration 1');
    const raw = new DatabaseSync(file);
    raw.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    raw.exec(v1.sql);
    raw.prepare('INSERT INTO schema_migrations VALUES (1, ?, 0)').run(v1.name);
    raw
      .prepare('INSERT INTO config_versions VALUES (1, ?, ?, ?, ?, ?, NULL, ?)')
      .run(sha256('old'), 'ops', 'from v1', 42, 'file', 'old');
    raw.close();

    const s = await open();
    expect(await s.latestVersion()).toEqual({
      version: 1,
      sha256: sha256('old'),
      author: 'ops',
      message: 'from v1',
      createdAt: 42,
      source: 'file',
      text: 'old',
    });
    // Migration 2 added audit runs.
    await s.saveAuditRun(
      { id: 'a', startedAt: 1, endedAt: 2, status: 'pass', trigger: 'cli', checks: [] },
      5,
    );
    expect((await s.listAuditRuns()).map((r) => r.id)).toEqual(['a']);
    await s.commitVersion({ text: 'new', author: 'ops', message: '', source: 'api', expectedLatest: 1 });
    const check = new DatabaseSync(file, { readOnly: true });
    try {
      expect(
        check
          .prepare('SELECT version FROM schema_migrations ORDER BY version')
          .all()
          .map((r) => r.version),
      ).toEqual([1, 2]);
    } finally {
      check.close();
    }
  });

  it('refuses a file from a newer fulcrum, a non-database file and an unusable path with STORE_OPEN', async () => {
    const raw = new DatabaseSync(file);
    raw.exec(
      'CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
    );
    raw.prepare('INSERT INTO schema_migrations VALUES (?, ?, 0)').run(SCHEMA_VERSION + 1, 'future');
    raw.close();
    const newer = await errorOf(open());
    expect(newer.code).toBe('FULCRUM_ERR_STORE_OPEN');
    expect(newer.message).toMatch(/newer than this fulcrum/);

    const garbage = join(dir, 'garbage.db');
    writeFileSync(
      garbage,
      'this is not an SQLite database, just text long enough to have a header'.repeat(20),
    );
    expect((await errorOf(open(garbage))).code).toBe('FULCRUM_ERR_STORE_OPEN');

    const blocker = join(dir, 'a-file');
    writeFileSync(blocker, '');
    expect((await errorOf(open(join(blocker, 'state.db')))).code).toBe('FULCRUM_ERR_STORE_OPEN');
  });

  it('answers reads from a closed or broken store with STORE_READ', async () => {
    const s = await openSqliteStore(file);
    await s.close();
    expect((await errorOf(s.latestVersion())).code).toBe('FULCRUM_ERR_STORE_READ');
    expect((await errorOf(s.listEvents())).code).toBe('FULCRUM_ERR_STORE_READ');
    expect(
      (
        await errorOf(
          s.commitVersion({ text: 'x', author: 'a', message: '', source: 'api', expectedLatest: null }),
        )
      ).code,
    ).toBe('FULCRUM_ERR_STORE_WRITE');
  });

  it('makes the second of two connections applying on the same base get CONFIG_CONFLICT', async () => {
    const a = await open();
    const b = await open();
    const baseA = await a.latestVersion();
    const baseB = await b.latestVersion();
    await a.commitVersion({
      text: 'from a',
      author: 'a',
      message: '',
      source: 'api',
      expectedLatest: baseA?.version ?? null,
    });
    const lost = await errorOf(
      b.commitVersion({
        text: 'from b',
        author: 'b',
        message: '',
        source: 'api',
        expectedLatest: baseB?.version ?? null,
      }),
    );
    expect(lost.code).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
    expect((await b.latestVersion())?.text).toBe('from a');
    expect((await b.listVersions()).map((v) => v.version)).toEqual([1]);
  });

  it('fails a write with STORE_WRITE when another connection holds the lock past the busy timeout, storing nothing', async () => {
    const s = await open(file, { busyTimeoutMs: 50 });
    await s.commitVersion({ text: 'one', author: 'a', message: '', source: 'api', expectedLatest: null });
    const holder = new DatabaseSync(file);
    try {
      holder.exec('BEGIN IMMEDIATE');
      const blocked = await errorOf(
        s.commitVersion({ text: 'two', author: 'a', message: '', source: 'api', expectedLatest: 1 }),
      );
      expect(blocked.code).toBe('FULCRUM_ERR_STORE_WRITE');
      expect((await errorOf(s.appendEvent({ at: 1, type: 'x', data: {} }))).code).toBe(
        'FULCRUM_ERR_STORE_WRITE',
      );
      holder.exec('ROLLBACK');
    } finally {
      holder.close();
    }
    expect((await s.listVersions()).map((v) => v.version)).toEqual([1]);
    // The connection is usable again once the lock is gone.
    expect(
      (await s.commitVersion({ text: 'two', author: 'a', message: '', source: 'api', expectedLatest: 1 }))
        .version,
    ).toBe(2);
  });

  it('serialises two processes committing to one file: contiguous versions, none lost', async () => {
    const perChild = 25;
    const [left, right] = await Promise.all([
      runNode([COMMIT_LOOP, file, 'left', String(perChild)]),
      runNode([COMMIT_LOOP, file, 'right', String(perChild)]),
    ]);
    expect(left.code, left.stderr).toBe(0);
    expect(right.code, right.stderr).toBe(0);
    const reported = [...left.stdout.trim().split('\n'), ...right.stdout.trim().split('\n')].map((l) =>
      l.split(' '),
    );
    expect(reported).toHaveLength(2 * perChild);
    const s = await open();
    const all = await s.listVersions({ limit: 1000 });
    expect(all.map((v) => v.version)).toEqual(
      Array.from({ length: 2 * perChild }, (_, i) => 2 * perChild - i),
    );
    for (const [version, digest] of reported) {
      expect(all.find((v) => v.version === Number(version))?.sha256).toBe(digest);
    }
    expect(new Set(all.map((v) => v.author))).toEqual(new Set(['left', 'right']));
  });

  it('prints nothing on stderr when a process opens the store (no ExperimentalWarning)', async () => {
    const script = `
      const { openSqliteStore } = await import(${JSON.stringify(join(import.meta.dirname, 'sqlite-store.ts'))});
      const s = await openSqliteStore(${JSON.stringify(file)});
      await s.commitVersion({ text: 'x', author: 'a', message: '', source: 'file', expectedLatest: null });
      await s.close();
      process.emitWarning('still reported', 'ExperimentalWarning');
    `;
    const out = await runNode(['--input-type=module', '-e', script]);
    expect(out.code, out.stderr).toBe(0);
    // Only the test's own warning is left: the SQLite one is filtered, others are not.
    expect(out.stderr).not.toMatch(/SQLite/);
    expect(out.stderr).toMatch(/ExperimentalWarning: still reported/);
  });
});
