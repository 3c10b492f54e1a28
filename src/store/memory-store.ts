// The store in memory: for tests of other modules and `fulcrum start --memory-store`.
// Same contract as the SQLite and etcd stores (one shared suite checks all three); values
// are copied in and out so callers can never mutate what is stored.
import type {
  AuditRunRecord,
  CommitInput,
  ConfigVersion,
  Store,
  StoreEvent,
  VersionSummary,
} from './store.ts';
import {
  EVENT_RETENTION,
  auditRetention,
  conflictError,
  listLimit,
  nextVersion,
  versionSummary,
} from './store.ts';

export interface MemoryStoreOptions {
  /** Epoch-ms clock for createdAt (tests pass a fake one). */
  now?: () => number;
  /** How many of the newest events to keep (default EVENT_RETENTION). */
  eventRetention?: number;
}

/** Async like the other stores' openers, so callers can swap one for another. */
export async function openMemoryStore(options: MemoryStoreOptions = {}): Promise<Store> {
  const now = options.now ?? Date.now;
  const eventRetention = options.eventRetention ?? EVENT_RETENTION;
  const versions: ConfigVersion[] = [];
  const events: StoreEvent[] = [];
  // Insertion order breaks startedAt ties, like SQLite's rowid.
  const runs = new Map<string, { seq: number; run: AuditRunRecord }>();
  let eventSeq = 0;
  let runSeq = 0;

  const newestRuns = () =>
    [...runs.values()].sort((a, b) => b.run.startedAt - a.run.startedAt || b.seq - a.seq).map((e) => e.run);

  return {
    kind: 'memory',
    async latestVersion() {
      const v = versions.at(-1);
      return v && { ...v };
    },
    async getVersion(version) {
      const v = versions[version - 1];
      return v && { ...v };
    },
    async listVersions(o = {}) {
      const end =
        o.before === undefined ? versions.length : Math.min(versions.length, Math.max(0, o.before - 1));
      const out: VersionSummary[] = [];
      for (let i = end - 1; i >= 0 && out.length < listLimit(o.limit); i--)
        out.push(versionSummary(versions[i] as ConfigVersion));
      return out;
    },
    async commitVersion(input: CommitInput) {
      const latest = versions.length === 0 ? null : versions.length;
      if (input.expectedLatest !== latest) throw conflictError(input.expectedLatest, latest);
      const v = nextVersion(input, latest, now());
      versions.push(v);
      return { ...v };
    },
    async appendEvent(event) {
      const e: StoreEvent = { ...structuredClone(event), id: ++eventSeq };
      events.push(e);
      if (events.length > eventRetention) events.splice(0, events.length - eventRetention);
      return structuredClone(e);
    },
    async listEvents(o = {}) {
      const out: StoreEvent[] = [];
      const limit = listLimit(o.limit);
      for (let i = events.length - 1; i >= 0 && out.length < limit; i--) {
        const e = events[i] as StoreEvent;
        if (o.type === undefined || e.type === o.type) out.push(structuredClone(e));
      }
      return out;
    },
    async saveAuditRun(run, retention) {
      // A re-saved run keeps its place, like an SQLite upsert keeps its rowid.
      runs.set(run.id, { seq: runs.get(run.id)?.seq ?? ++runSeq, run: structuredClone(run) });
      for (const old of newestRuns().slice(auditRetention(retention))) runs.delete(old.id);
    },
    async listAuditRuns(o = {}) {
      return newestRuns()
        .slice(0, listLimit(o.limit))
        .map((r) => structuredClone(r));
    },
    async getAuditRun(id) {
      const e = runs.get(id);
      return e && structuredClone(e.run);
    },
    async close() {},
  };
}
