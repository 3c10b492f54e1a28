// The embedded store: one SQLite file (node:sqlite, WAL) holding config versions, events
// and audit runs. Commits are rare and must survive kill -9 and power loss, so the
// connection runs synchronous=FULL; every write is one transaction taken with
// BEGIN IMMEDIATE, so two processes sharing the file serialise instead of interleaving,
// and the version check inside the transaction turns a lost race into CONFIG_CONFLICT.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type * as NodeSqlite from 'node:sqlite';
import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
import { FulcrumError, errorMessage, isFulcrumError } from '../core/errors.ts';
import type {
  AuditRunRecord,
  CommitInput,
  ConfigVersion,
  Store,
  StoreEvent,
  VersionSource,
  VersionSummary,
} from './store.ts';
import {
  EVENT_RETENTION,
  auditRetention,
  conflictError,
  listLimit,
  nextVersion,
  storeError,
} from './store.ts';

export interface SqliteStoreOptions {
  /** How long a write waits for another connection's transaction (ms). */
  busyTimeoutMs?: number;
  /** Epoch-ms clock for createdAt (tests pass a fake one). */
  now?: () => number;
  /** How many of the newest events to keep (default EVENT_RETENTION). */
  eventRetention?: number;
  /** Open a file that fails its integrity check anyway (`fulcrum store check` reports on it). */
  skipIntegrityCheck?: boolean;
}

/** At most this many problems are read from an integrity check. */
const INTEGRITY_PROBLEMS = 20;

/**
 * SQLite's own check of the file: `quick_check` (b-tree structure and page linkage, O(size),
 * milliseconds for a store) or the full `integrity_check` (also indexes against tables).
 * Returns the problems found; empty means ok. A file too damaged to read is a problem too.
 */
export function integrityProblems(db: DatabaseSync, full = false): string[] {
  try {
    const rows = db
      .prepare(`PRAGMA ${full ? 'integrity_check' : 'quick_check'}(${INTEGRITY_PROBLEMS})`)
      .all() as Record<string, unknown>[];
    const problems = rows.map((r) => String(Object.values(r)[0]));
    return problems.length === 1 && problems[0] === 'ok' ? [] : problems;
  } catch (err) {
    return [errorMessage(err)];
  }
}

/** SQLite reports damage as SQLITE_CORRUPT ("malformed"); a file that is no database at all (SQLITE_NOTADB) stays STORE_OPEN. */
function isCorruption(err: unknown): boolean {
  return /malformed|corrupt/i.test(errorMessage(err));
}

export function corruptError(file: string, problems: readonly string[]): FulcrumError {
  return new FulcrumError(
    'FULCRUM_ERR_STORE_CORRUPT',
    `store ${file} failed its integrity check (${problems.slice(0, 3).join('; ')}); run \`fulcrum store check --file ${file}\` and see docs/store.md`,
    { file, problems: [...problems] },
  );
}

/**
 * Numbered migrations, applied in order, each in its own transaction and recorded in
 * schema_migrations. Append only: a file written by an older fulcrum is brought forward
 * on open; never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'config versions and events',
    sql: `
      CREATE TABLE config_versions (
        version    INTEGER PRIMARY KEY,
        sha256     TEXT    NOT NULL,
        author     TEXT    NOT NULL,
        message    TEXT    NOT NULL,
        created_at INTEGER NOT NULL,
        source     TEXT    NOT NULL,
        parent     INTEGER,
        text       TEXT    NOT NULL
      );
      CREATE TABLE events (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        at      INTEGER NOT NULL,
        type    TEXT    NOT NULL,
        version INTEGER,
        data    TEXT    NOT NULL
      );
      CREATE INDEX events_by_type ON events (type, id);`,
  },
  {
    version: 2,
    name: 'audit runs',
    sql: `
      CREATE TABLE audit_runs (
        id             TEXT    PRIMARY KEY,
        started_at     INTEGER NOT NULL,
        ended_at       INTEGER NOT NULL,
        status         TEXT    NOT NULL,
        trigger        TEXT    NOT NULL,
        config_version INTEGER,
        checks         TEXT    NOT NULL
      );
      CREATE INDEX audit_runs_by_start ON audit_runs (started_at);`,
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

let sqliteModule: Promise<typeof NodeSqlite> | undefined;

/**
 * Node 24.9 prints "ExperimentalWarning: SQLite is an experimental feature" when
 * node:sqlite is first loaded, which would pollute every CLI command's output. Drop that
 * one warning (and only it) while the module loads; everything else passes through.
 */
function loadSqlite(): Promise<typeof NodeSqlite> {
  sqliteModule ??= (async () => {
    const emitWarning = process.emitWarning;
    process.emitWarning = function (this: unknown, warning: string | Error, ...rest: unknown[]) {
      const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
      const message = typeof warning === 'string' ? warning : warning.message;
      if (type === 'ExperimentalWarning' && message.includes('SQLite')) return;
      return (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
    } as typeof process.emitWarning;
    try {
      return await import('node:sqlite');
    } finally {
      process.emitWarning = emitWarning;
    }
  })();
  return sqliteModule;
}

interface VersionRow {
  version: number;
  sha256: string;
  author: string;
  message: string;
  created_at: number;
  source: string;
  parent: number | null;
  text?: string;
}

interface EventRow {
  id: number;
  at: number;
  type: string;
  version: number | null;
  data: string;
}

interface AuditRow {
  id: string;
  started_at: number;
  ended_at: number;
  status: string;
  trigger: string;
  config_version: number | null;
  checks: string;
}

const SUMMARY_COLUMNS = 'version, sha256, author, message, created_at, source, parent';

function toSummary(r: VersionRow): VersionSummary {
  return {
    version: r.version,
    sha256: r.sha256,
    author: r.author,
    message: r.message,
    createdAt: r.created_at,
    source: r.source as VersionSource,
    ...(r.parent === null ? {} : { parent: r.parent }),
  };
}

function toVersion(r: VersionRow): ConfigVersion {
  return { ...toSummary(r), text: r.text ?? '' };
}

function toEvent(r: EventRow): StoreEvent {
  return {
    id: r.id,
    at: r.at,
    type: r.type,
    ...(r.version === null ? {} : { version: r.version }),
    data: JSON.parse(r.data) as Record<string, unknown>,
  };
}

function toRun(r: AuditRow): AuditRunRecord {
  return {
    id: r.id,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    status: r.status as AuditRunRecord['status'],
    trigger: r.trigger as AuditRunRecord['trigger'],
    ...(r.config_version === null ? {} : { configVersion: r.config_version }),
    checks: JSON.parse(r.checks) as unknown,
  };
}

/** Run `fn` in one IMMEDIATE transaction (the write lock is taken up front). */
function transaction<T>(db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  try {
    const result = fn();
    db.exec('COMMIT');
    return result;
  } catch (err) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // SQLite already rolled back by itself (it does on some errors, e.g. a full disk).
    }
    throw err;
  }
}

function migrate(db: DatabaseSync): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const current = () =>
    (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  const found = current();
  if (found > SCHEMA_VERSION) {
    throw new Error(
      `the file has schema version ${found}, newer than this fulcrum knows (${SCHEMA_VERSION}); upgrade fulcrum`,
    );
  }
  for (const m of MIGRATIONS) {
    if (m.version <= found) continue;
    transaction(db, () => {
      // Another process may have migrated while we waited for the lock.
      if (current() >= m.version) return;
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        m.version,
        m.name,
        Date.now(),
      );
    });
  }
}

/** Open (creating the directory and file if needed) and migrate the store at `file`. */
export async function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Promise<Store> {
  const now = options.now ?? Date.now;
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const eventRetention = options.eventRetention ?? EVENT_RETENTION;
  const openError = (err: unknown): FulcrumError =>
    new FulcrumError(
      'FULCRUM_ERR_STORE_OPEN',
      `cannot open store ${file}: ${errorMessage(err)}`,
      { file },
      { cause: err },
    );
  let db: DatabaseSync;
  let Database: typeof DatabaseSync;
  try {
    Database = (await loadSqlite()).DatabaseSync;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file, { timeout: busyTimeoutMs });
  } catch (err) {
    throw isCorruption(err) ? corruptError(file, [errorMessage(err)]) : openError(err);
  }
  try {
    // Also set by the constructor's timeout option, which Node before 22.16 ignores.
    db.exec(`PRAGMA busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
    db.exec('PRAGMA journal_mode = WAL');
    db.exec('PRAGMA synchronous = FULL');
    // Before any migration writes into a damaged file.
    const problems = options.skipIntegrityCheck === true ? [] : integrityProblems(db);
    if (problems.length > 0) throw corruptError(file, problems);
    migrate(db);
  } catch (err) {
    db.close();
    if (isFulcrumError(err)) throw err;
    throw isCorruption(err) ? corruptError(file, [errorMessage(err)]) : openError(err);
  }

  const q = {
    latest: db.prepare('SELECT * FROM config_versions ORDER BY version DESC LIMIT 1'),
    maxVersion: db.prepare('SELECT max(version) AS v FROM config_versions'),
    get: db.prepare('SELECT * FROM config_versions WHERE version = ?'),
    list: db.prepare(
      `SELECT ${SUMMARY_COLUMNS} FROM config_versions WHERE version < ? ORDER BY version DESC LIMIT ?`,
    ),
    insertVersion: db.prepare(
      'INSERT INTO config_versions (version, sha256, author, message, created_at, source, parent, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    insertEvent: db.prepare('INSERT INTO events (at, type, version, data) VALUES (?, ?, ?, ?) RETURNING id'),
    trimEvents: db.prepare('DELETE FROM events WHERE id <= ?'),
    listEvents: db.prepare('SELECT * FROM events ORDER BY id DESC LIMIT ?'),
    listEventsOfType: db.prepare('SELECT * FROM events WHERE type = ? ORDER BY id DESC LIMIT ?'),
    upsertRun: db.prepare(
      `INSERT INTO audit_runs (id, started_at, ended_at, status, trigger, config_version, checks) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, ended_at = excluded.ended_at, status = excluded.status,
         trigger = excluded.trigger, config_version = excluded.config_version, checks = excluded.checks`,
    ),
    // Newest first; rowid breaks ties between runs started in the same millisecond.
    listRuns: db.prepare('SELECT * FROM audit_runs ORDER BY started_at DESC, rowid DESC LIMIT ?'),
    trimRuns: db.prepare(
      'DELETE FROM audit_runs WHERE rowid IN (SELECT rowid FROM audit_runs ORDER BY started_at DESC, rowid DESC LIMIT -1 OFFSET ?)',
    ),
    getRun: db.prepare('SELECT * FROM audit_runs WHERE id = ?'),
  };

  let closed = false;
  /** Problems a check found while running: no more writes into the damaged file. */
  let corrupt: string[] | undefined;
  /** Writes: a FulcrumError passes through (conflict), anything else is a STORE_WRITE. */
  const write = <T>(what: string, fn: () => T): T => {
    if (corrupt !== undefined) throw corruptError(file, corrupt);
    try {
      return transaction(db, fn);
    } catch (err) {
      if (isFulcrumError(err)) throw err;
      if (isCorruption(err)) {
        corrupt = [errorMessage(err)];
        throw corruptError(file, corrupt);
      }
      throw storeError('write', what, err, { file });
    }
  };

  const read = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (err) {
      throw storeError('read', what, err, { file });
    }
  };

  return {
    kind: 'sqlite',
    async latestVersion() {
      const r = read('latest version', () => q.latest.get()) as VersionRow | undefined;
      return r && toVersion(r);
    },
    async getVersion(version) {
      const r = read('get version', () => q.get.get(version)) as VersionRow | undefined;
      return r && toVersion(r);
    },
    async listVersions(o = {}) {
      const before = o.before ?? Number.MAX_SAFE_INTEGER;
      const rows = read('list versions', () =>
        q.list.all(before, listLimit(o.limit)),
      ) as unknown as VersionRow[];
      return rows.map(toSummary);
    },
    async commitVersion(input: CommitInput) {
      return write('commit version', () => {
        const latest = (q.maxVersion.get() as { v: number | null }).v;
        if (latest !== input.expectedLatest) throw conflictError(input.expectedLatest, latest);
        const v = nextVersion(input, latest, now());
        q.insertVersion.run(
          v.version,
          v.sha256,
          v.author,
          v.message,
          v.createdAt,
          v.source,
          v.parent ?? null,
          v.text,
        );
        return v;
      });
    },
    async appendEvent(event) {
      return write('append event', () => {
        const params: SQLInputValue[] = [
          event.at,
          event.type,
          event.version ?? null,
          JSON.stringify(event.data),
        ];
        const { id } = q.insertEvent.get(...params) as { id: number };
        if (id > eventRetention) q.trimEvents.run(id - eventRetention);
        return { ...event, id };
      });
    },
    async listEvents(o = {}) {
      const limit = listLimit(o.limit);
      const rows = read('list events', () =>
        o.type === undefined ? q.listEvents.all(limit) : q.listEventsOfType.all(o.type, limit),
      ) as unknown as EventRow[];
      return rows.map(toEvent);
    },
    async saveAuditRun(run, retention) {
      write('save audit run', () => {
        q.upsertRun.run(
          run.id,
          run.startedAt,
          run.endedAt,
          run.status,
          run.trigger,
          run.configVersion ?? null,
          JSON.stringify(run.checks ?? null),
        );
        q.trimRuns.run(auditRetention(retention));
      });
    },
    async listAuditRuns(o = {}) {
      return (read('list audit runs', () => q.listRuns.all(listLimit(o.limit))) as unknown as AuditRow[]).map(
        toRun,
      );
    },
    async getAuditRun(id) {
      const r = read('get audit run', () => q.getRun.get(id)) as AuditRow | undefined;
      return r && toRun(r);
    },
    async checkIntegrity() {
      if (file === ':memory:') return { ok: true, problems: [] };
      // A connection of its own, so pages cached by the serving one cannot hide damage on disk.
      let probe: DatabaseSync | undefined;
      let problems: string[];
      try {
        probe = new Database(file, { timeout: busyTimeoutMs });
        problems = integrityProblems(probe);
      } catch (err) {
        problems = [errorMessage(err)];
      } finally {
        probe?.close();
      }
      if (problems.length > 0) corrupt = problems;
      return { ok: problems.length === 0, problems };
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
