// The store keeps what must outlive a process: every applied config version (the history
// that rollback reads), notable control-plane events, and audit run results.
// Async throughout so the same interface fits SQLite (sync underneath), memory and etcd.
import { createHash } from 'node:crypto';
import { FulcrumError, errorMessage } from '../core/errors.ts';

export type VersionSource = 'file' | 'api' | 'rollback' | 'guard' | 'watch' | 'etcd';

export interface ConfigVersion {
  version: number;
  sha256: string;
  author: string;
  message: string;
  /** Epoch ms. */
  createdAt: number;
  source: VersionSource;
  text: string;
  /** Version this one was rolled back from / restores, if any. */
  parent?: number | undefined;
}

export type VersionSummary = Omit<ConfigVersion, 'text'>;

export interface StoreEvent {
  id: number;
  at: number;
  /** 'apply-failed' | 'guard-rollback' | 'rollback' | ... */
  type: string;
  version?: number | undefined;
  data: Record<string, unknown>;
}

export interface AuditRunRecord {
  id: string;
  startedAt: number;
  endedAt: number;
  status: 'pass' | 'fail' | 'error';
  trigger: 'schedule' | 'api' | 'cli';
  configVersion?: number | undefined;
  /** JSON; the audit module defines its shape. */
  checks: unknown;
}

export interface CommitInput {
  text: string;
  author: string;
  message: string;
  source: VersionSource;
  /** The version the caller based its change on (null = empty store). */
  expectedLatest: number | null;
  parent?: number | undefined;
}

export interface Store {
  readonly kind: 'sqlite' | 'etcd' | 'memory';
  latestVersion(): Promise<ConfigVersion | undefined>;
  getVersion(version: number): Promise<ConfigVersion | undefined>;
  /** Newest first. `before` keeps versions with a smaller number. */
  listVersions(options?: { limit?: number; before?: number }): Promise<VersionSummary[]>;
  /**
   * Append a version. If the latest version is not `expectedLatest`, reject with
   * FULCRUM_ERR_CONFIG_CONFLICT (optimistic concurrency, like an ETag). Atomic: either the
   * whole version is stored or nothing.
   */
  commitVersion(input: CommitInput): Promise<ConfigVersion>;
  appendEvent(event: Omit<StoreEvent, 'id'>): Promise<StoreEvent>;
  /** Newest first. */
  listEvents(options?: { limit?: number; type?: string }): Promise<StoreEvent[]>;
  /** Saves (or replaces, by id) a run and keeps only the newest `retention` runs. */
  saveAuditRun(run: AuditRunRecord, retention: number): Promise<void>;
  /** Newest first (by startedAt). */
  listAuditRuns(options?: { limit?: number }): Promise<AuditRunRecord[]>;
  getAuditRun(id: string): Promise<AuditRunRecord | undefined>;
  /**
   * The store's own integrity check (SQLite: `PRAGMA quick_check` on a fresh connection). After
   * a failed check, writes are refused with FULCRUM_ERR_STORE_CORRUPT. Stores without one omit it.
   */
  checkIntegrity?(): Promise<{ ok: boolean; problems: string[] }>;
  close(): Promise<void>;
}

/** Hex sha256 of the UTF-8 text: the identity of a config version's content. */
export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The version a commit stores after `latest` (null = empty history). Every implementation
 * builds it here so the stored fields, and the absence of `parent` when none was given,
 * are the same whichever store holds them.
 */
export function nextVersion(input: CommitInput, latest: number | null, createdAt: number): ConfigVersion {
  return {
    version: (latest ?? 0) + 1,
    sha256: sha256(input.text),
    author: input.author,
    message: input.message,
    createdAt,
    source: input.source,
    text: input.text,
    ...(input.parent === undefined ? {} : { parent: input.parent }),
  };
}

/** A version without its text (a new object: the caller may keep it). */
export function versionSummary({ text: _text, ...rest }: ConfigVersion): VersionSummary {
  return rest;
}

/** Default page size for list calls without a limit. */
export const DEFAULT_LIST_LIMIT = 100;

/** A positive integer limit, or the default. */
export function listLimit(limit: number | undefined): number {
  return limit !== undefined && Number.isInteger(limit) && limit > 0 ? limit : DEFAULT_LIST_LIMIT;
}

/** The optimistic-concurrency refusal every implementation throws. */
export function conflictError(expected: number | null, actual: number | null): FulcrumError {
  return new FulcrumError(
    'FULCRUM_ERR_CONFIG_CONFLICT',
    `config version conflict: change was based on ${expected === null ? 'an empty history' : `version ${expected}`}, but the latest is ${actual === null ? 'none' : `version ${actual}`}`,
    { expected, actual },
  );
}

/** A failed read or write of the backing storage (`details` says which storage). */
export function storeError(
  kind: 'read' | 'write',
  what: string,
  err: unknown,
  details: Record<string, unknown>,
): FulcrumError {
  return new FulcrumError(
    kind === 'read' ? 'FULCRUM_ERR_STORE_READ' : 'FULCRUM_ERR_STORE_WRITE',
    `store ${kind} failed (${what}): ${errorMessage(err)}`,
    details,
    { cause: err },
  );
}

/** Audit retention below one would drop the run just saved; keep at least that one. */
export function auditRetention(retention: number): number {
  return Math.max(1, Math.floor(retention));
}

/** Events are a log, not the history: the newest this many are kept. */
export const EVENT_RETENTION = 10_000;
