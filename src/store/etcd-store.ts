// The cluster store: the same contract on etcd, so a fleet of balancers shares one config
// history and each can follow the latest version (watchVersions).
//
// Layout under the prefix (default /fulcrum/):
//   latest                 the newest version number, as decimal text
//   versions/<12 digits>   one ConfigVersion as JSON (zero-padded so key order = number order)
//   events/<12 digits>     one StoreEvent as JSON; events-seq holds the last id
//   audits/<run id>        one AuditRunRecord as JSON
//   fleet/<name>/...       membership, load reports and canaries of a fleet (src/fleet)
// A commit is one etcd transaction: "if latest's mod revision is still the one I read,
// write versions/N+1 and latest=N+1". A racing writer fails the compare and gets
// CONFIG_CONFLICT, exactly like the SQLite store's check inside BEGIN IMMEDIATE.
import { Etcd3 } from 'etcd3';
import type { IKeyValue, IOperation, Namespace } from 'etcd3';
import { FulcrumError, errorMessage, isFulcrumError } from '../core/errors.ts';
import type { AuditRunRecord, CommitInput, ConfigVersion, Store, StoreEvent } from './store.ts';
import {
  EVENT_RETENTION,
  auditRetention,
  conflictError,
  listLimit,
  nextVersion,
  storeError,
  versionSummary,
} from './store.ts';

export interface EtcdStoreOptions {
  endpoints: string[];
  /** Key prefix; every key of this store lives under it. */
  prefix?: string;
  /** Deadline for each etcd call and for the first connection (ms). */
  timeoutMs?: number;
  /** Epoch-ms clock for createdAt (tests pass a fake one). */
  now?: () => number;
  /**
   * How many of the newest events to keep (default EVENT_RETENTION). Each append deletes
   * the one event that falls out, so keep this the same for the life of a prefix.
   */
  eventRetention?: number;
}

export interface EtcdStore extends Store {
  readonly kind: 'etcd';
  /**
   * Call `onVersion` for every version committed from now on (or since `fromRevision`, an
   * etcd revision, inclusive), by any process, in order, with the revision that committed it.
   * The watch resumes from its last revision when the connection comes back.
   * Resolves once the watch is established; the returned function stops it.
   */
  watchVersions(
    onVersion: (version: ConfigVersion, revision: number) => void,
    options?: { fromRevision?: number },
  ): Promise<() => Promise<void>>;
  /** The client scoped to the prefix, for the fleet's keys (`fleet/<name>/...`, src/fleet). */
  readonly namespace: Namespace;
}

const DIGITS = 12;
const pad = (n: number): string => String(n).padStart(DIGITS, '0');
const versionKey = (n: number): string => `versions/${pad(n)}`;
const eventKey = (n: number): string => `events/${pad(n)}`;
/** Optimistic loops (event ids) give up after this many lost races. */
const MAX_CAS_ATTEMPTS = 50;

function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Connect to etcd and check it answers; failure is FULCRUM_ERR_STORE_OPEN. */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<EtcdStore> {
  const prefix = options.prefix ?? '/fulcrum/';
  const timeoutMs = options.timeoutMs ?? 5000;
  const now = options.now ?? Date.now;
  const eventRetention = options.eventRetention ?? EVENT_RETENTION;
  const client = new Etcd3({
    hosts: options.endpoints,
    dialTimeout: timeoutMs,
    // Unary calls get a deadline so an unreachable cluster fails a write instead of hanging it.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
  });
  const ns: Namespace = client.namespace(prefix);
  try {
    await withDeadline(ns.get('latest').exec(), timeoutMs, 'etcd');
  } catch (err) {
    client.close();
    throw new FulcrumError(
      'FULCRUM_ERR_STORE_OPEN',
      `cannot open etcd store at ${options.endpoints.join(', ')}: ${errorMessage(err)}`,
      { endpoints: options.endpoints, prefix },
      { cause: err },
    );
  }

  // A FulcrumError (a conflict) passes through; anything else is a STORE_READ / STORE_WRITE.
  const writeError = (what: string, err: unknown): FulcrumError =>
    isFulcrumError(err) ? err : storeError('write', what, err, { endpoints: options.endpoints });
  const read = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw isFulcrumError(err) ? err : storeError('read', what, err, { endpoints: options.endpoints });
    }
  };

  const readLatest = async (): Promise<{ version: number | null; kv: IKeyValue | undefined }> => {
    const kv = (await ns.get('latest').exec()).kvs[0];
    return { version: kv ? Number(kv.value.toString()) : null, kv };
  };

  const getVersion = async (version: number): Promise<ConfigVersion | undefined> => {
    if (!Number.isInteger(version) || version < 1) return undefined;
    return ((await ns.get(versionKey(version)).json()) ?? undefined) as ConfigVersion | undefined;
  };

  /** All audit runs, newest first; create revision (fixed on re-save) breaks startedAt ties. */
  const allRuns = async (): Promise<AuditRunRecord[]> => {
    const { kvs } = await ns.getAll().prefix('audits/').exec();
    return kvs
      .map((kv) => ({
        rev: Number(kv.create_revision),
        run: JSON.parse(kv.value.toString()) as AuditRunRecord,
      }))
      .sort((a, b) => b.run.startedAt - a.run.startedAt || b.rev - a.rev)
      .map((e) => e.run);
  };

  const watchers = new Set<() => Promise<void>>();

  const store: EtcdStore = {
    kind: 'etcd',
    latestVersion: () =>
      read('latest version', async () => {
        const { version } = await readLatest();
        return version === null ? undefined : getVersion(version);
      }),
    getVersion: (version) => read('get version', () => getVersion(version)),
    listVersions: (o = {}) =>
      read('list versions', async () => {
        const end =
          o.before === undefined ? 'versions0' /* '0' sorts after '/' */ : versionKey(Math.max(1, o.before));
        const values = await ns
          .getAll()
          .inRange({ start: versionKey(1), end })
          .sort('Key', 'Descend')
          .limit(listLimit(o.limit))
          .strings();
        return Object.values(values)
          .map((text) => versionSummary(JSON.parse(text) as ConfigVersion))
          .sort((a, b) => b.version - a.version);
      }),
    async commitVersion(input: CommitInput) {
      try {
        const { version: latest, kv } = await readLatest();
        if (latest !== input.expectedLatest) throw conflictError(input.expectedLatest, latest);
        const v = nextVersion(input, latest, now());
        // A missing key has mod revision 0, so the first commit compares against 0.
        const res = await ns
          .if('latest', 'Mod', '==', kv ? String(kv.mod_revision) : 0)
          .then(
            ns.put(versionKey(v.version)).value(JSON.stringify(v)),
            ns.put('latest').value(String(v.version)),
          )
          .commit();
        if (!res.succeeded) throw conflictError(input.expectedLatest, (await readLatest()).version);
        return v;
      } catch (err) {
        throw writeError('commit version', err);
      }
    },
    async appendEvent(event) {
      try {
        for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
          const kv = (await ns.get('events-seq').exec()).kvs[0];
          const id = (kv ? Number(kv.value.toString()) : 0) + 1;
          const stored: StoreEvent = { ...event, id };
          const ops: IOperation[] = [
            ns.put('events-seq').value(String(id)),
            ns.put(eventKey(id)).value(JSON.stringify(stored)),
          ];
          // The event falling out of the retention window goes in the same transaction.
          if (id > eventRetention) ops.push(ns.delete().key(eventKey(id - eventRetention)));
          const res = await ns
            .if('events-seq', 'Mod', '==', kv ? String(kv.mod_revision) : 0)
            .then(...ops)
            .commit();
          if (res.succeeded) return stored;
        }
        throw new Error(`lost ${MAX_CAS_ATTEMPTS} races for the next event id`);
      } catch (err) {
        throw writeError('append event', err);
      }
    },
    listEvents: (o = {}) =>
      read('list events', async () => {
        const limit = listLimit(o.limit);
        if (o.type === undefined) {
          const values = await ns.getAll().prefix('events/').sort('Key', 'Descend').limit(limit).strings();
          return Object.values(values)
            .map((text) => JSON.parse(text) as StoreEvent)
            .sort((a, b) => b.id - a.id);
        }
        // No secondary index in etcd: filter the (retention-bounded) log.
        const values = await ns.getAll().prefix('events/').strings();
        return Object.values(values)
          .map((text) => JSON.parse(text) as StoreEvent)
          .filter((e) => e.type === o.type)
          .sort((a, b) => b.id - a.id)
          .slice(0, limit);
      }),
    async saveAuditRun(run, retention) {
      try {
        await ns.put(`audits/${run.id}`).value(JSON.stringify(run));
        const stale = (await allRuns()).slice(auditRetention(retention));
        for (const old of stale) await ns.delete().key(`audits/${old.id}`);
      } catch (err) {
        throw writeError('save audit run', err);
      }
    },
    listAuditRuns: (o = {}) =>
      read('list audit runs', async () => (await allRuns()).slice(0, listLimit(o.limit))),
    getAuditRun: (id) =>
      read(
        'get audit run',
        async () => ((await ns.get(`audits/${id}`).json()) ?? undefined) as AuditRunRecord | undefined,
      ),
    namespace: ns,
    async watchVersions(onVersion, o = {}) {
      const builder = ns.watch().key('latest');
      if (o.fromRevision !== undefined) builder.startRevision(String(o.fromRevision));
      const watcher = await builder.create();
      // Deliver in commit order even though each delivery awaits a read.
      let chain = Promise.resolve();
      watcher.on('put', (kv) => {
        const n = Number(kv.value.toString());
        const revision = Number(kv.mod_revision);
        chain = chain
          .then(() => getVersion(n))
          .then((v) => v && onVersion(v, revision))
          // A failed read or a throwing callback must not stop delivery of later versions.
          .catch(() => undefined);
      });
      const stop = async () => {
        watchers.delete(stop);
        await watcher.cancel();
      };
      watchers.add(stop);
      return stop;
    },
    async close() {
      await Promise.all([...watchers].map((stop) => stop()));
      client.close();
    },
  };
  return store;
}
