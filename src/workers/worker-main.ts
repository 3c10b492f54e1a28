// A data-plane worker thread: a ProxyServer over SharedHosts, its own SO_REUSEPORT sockets on
// every listener, and nothing else. It learns configs from the main thread (prepare, then
// commit or abort), reads health and weights from shared memory, and writes its outcomes to
// its ring. It never waits on the main thread while serving a request.
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { policyDescriptor } from '../balancer/registry.ts';
import { ticketPolicy } from '../balancer/ticket-policy.ts';
import { EventHub } from '../core/events.ts';
import { startIdleHeapRelease } from '../core/idle-heap.ts';
import { FulcrumError } from '../core/errors.ts';
import type { HostSpec } from '../data-plane/host-state.ts';
import { buildSnapshot, type Snapshot } from '../data-plane/snapshot.ts';
import { ProxyServer, type PreparedSnapshot } from '../proxy/proxy-server.ts';
import { parseFailpoints } from './failpoints.ts';
import type { FromWorker, ToWorker, WorkerInit } from './messages.ts';
import { OutcomeRingWriter } from './outcome-ring.ts';
import { SharedHost } from './shared-host.ts';
import {
  LISTENER_CAPACITY,
  POOL_STRIDE,
  P_EPOCH,
  P_TICKET,
  SharedTables,
  WORKER_STATS_STRIDE,
  W_CONNECTIONS_ACCEPTED,
  W_CONNECTIONS_OPEN,
  W_REQUESTS,
  W_RING_DROPPED,
} from './shared-tables.ts';

const port = parentPort;
if (port === null) throw new Error('worker-main.ts runs as a worker thread');
const init = workerData as WorkerInit;
const me = init.index;
const tables = new SharedTables(init.buffers);
const ring = new OutcomeRingWriter(init.ring);
const failpoints = parseFailpoints(init.failpoints);
const crashAfter =
  failpoints.crash?.worker === me && init.incarnation === 0 ? failpoints.crash.requests : Infinity;

const send = (m: FromWorker): void => port.postMessage(m);
const logger = pino(
  { level: init.logLevel, base: { service: 'fulcrum', worker: me } },
  { write: (line: string) => send({ type: 'log', line }) },
);

const stats = tables.workerStats;
const statsAt = me * WORKER_STATS_STRIDE;
const hub = new EventHub();
let served = 0;
hub.requests.subscribe((o) => {
  ring.request(o);
  stats[statsAt + W_REQUESTS] = (stats[statsAt + W_REQUESTS] as number) + 1;
  if (++served >= crashAfter) {
    // The failpoint: an uncaught error ends this thread like a defect would.
    setImmediate(() => {
      throw new Error(`failpoint worker-crash: worker ${me} after ${served} requests`);
    });
  }
});

let current: Snapshot<SharedHost> | undefined;
let publishQueued = false;
let ticketKeys: Readonly<Record<string, Uint8Array>> = {};
const hosts = new Map<number, SharedHost>();
/** Prepared snapshots waiting for their commit or abort, by message id, with the slots they use. */
const prepared = new Map<
  number,
  {
    snapshot: Snapshot<SharedHost>;
    handle: PreparedSnapshot;
    message: Extract<ToWorker, { type: 'prepare' }>;
  }
>();
/** Pool slots of the current snapshot, by pool name, and listener slots by listener name. */
let poolSlots = new Map<string, number>();
let listenerSlots: Readonly<Record<string, number>> = {};

const proxy = new ProxyServer({
  hub,
  logger,
  explainToken: () => current?.config.admin.token,
  auditSecret: () => init.auditSecret,
  // The main thread checked that no other process holds the address; the threads share it.
  shareAddresses: true,
  // Counts go out at once (coalesced per turn), so /metrics never lags a connection behind.
  onConnectionsChanged: () => {
    if (publishQueued) return;
    publishQueued = true;
    queueMicrotask(() => {
      publishQueued = false;
      publishStats();
    });
  },
  ticketKeys: (name) => {
    const k = ticketKeys[name];
    return k === undefined ? undefined : Buffer.from(k);
  },
});
// Each thread has its own heap: a worker gives its load's garbage back once its traffic stops.
startIdleHeapRelease({ served: () => served, inProgress: () => proxy.inProgress() });

function prepare(m: Extract<ToWorker, { type: 'prepare' }>): Promise<PreparedSnapshot> {
  const pf = failpoints.prepareFails;
  if (pf !== undefined && pf.worker === me && m.version >= pf.version) {
    throw new FulcrumError(
      'FULCRUM_ERR_WORKER_PREPARE',
      `failpoint worker-prepare-fails: worker ${me} refuses version ${m.version}`,
    );
  }
  const slotOf = new Map<string, number>();
  for (const [pool, ps] of Object.entries(m.pools)) {
    const backends = m.config.pools[pool]?.backends ?? [];
    ps.hosts.forEach((slot, i) => {
      const b = backends[i];
      if (b !== undefined) slotOf.set(`${pool}\u0000${b.name}\u0000${b.address}`, slot);
    });
  }
  const source = {
    acquire(spec: HostSpec): SharedHost {
      const slot = slotOf.get(`${spec.pool}\u0000${spec.name}\u0000${spec.address}`);
      const poolSlot = m.pools[spec.pool]?.slot;
      if (slot === undefined || poolSlot === undefined) {
        throw new Error(`no slot for ${spec.pool}/${spec.address}`);
      }
      let h = hosts.get(slot);
      // A slot is one backend identity (pool, name, address) for as long as it is in use, and
      // counts in one pool slot: the main thread frees a pool's slot only with its hosts' slots.
      if (h === undefined || h.address !== spec.address || h.name !== spec.name || h.poolSlot !== poolSlot) {
        h = new SharedHost(slot, poolSlot, spec, tables, me, ring);
        hosts.set(slot, h);
      }
      return h;
    },
    get: () => undefined,
  };
  const snapshot = buildSnapshot<SharedHost>(m.config, m.version, source, {
    policy: (pool, pc) => {
      const d = policyDescriptor(pc.policy);
      const slot = m.pools[pool]?.slot;
      if (!d.deterministic || slot === undefined) return undefined;
      const at = slot * POOL_STRIDE + P_TICKET;
      const cells = tables.pools;
      return ticketPolicy<SharedHost>(d.name, d.usesWeights, () => Atomics.add(cells, at, 1));
    },
  });
  ticketKeys = { ...ticketKeys, ...m.ticketKeys };
  return proxy.prepare(snapshot).then((handle) => {
    prepared.set(m.id, { snapshot, handle, message: m });
    return handle;
  });
}

function commit(id: number): void {
  const p = prepared.get(id);
  if (p === undefined) return;
  prepared.delete(id);
  p.handle.commit();
  current = p.snapshot;
  poolSlots = new Map(Object.entries(p.message.pools).map(([name, ps]) => [name, ps.slot]));
  listenerSlots = p.message.listenerSlots;
  const inUse = new Set<number>();
  for (const pool of current.pools.values()) for (const h of pool.state.hosts) inUse.add(h.slot);
  for (const slot of hosts.keys()) if (!inUse.has(slot)) hosts.delete(slot);
}

/**
 * Re-read the pools the main thread published (health, weights), under each pool's epoch: a
 * sequence lock, odd while the main thread writes. A pool caught mid-write is read again on the
 * next turn rather than left stale.
 */
function refresh(slots: readonly number[]): void {
  if (current === undefined) return;
  const wanted = new Set(slots);
  const again: number[] = [];
  for (const pool of current.pools.values()) {
    const slot = poolSlots.get(pool.name);
    if (slot === undefined || !wanted.has(slot)) continue;
    const at = slot * POOL_STRIDE + P_EPOCH;
    const before = Atomics.load(tables.pools, at);
    if ((before & 1) === 0) {
      for (const h of pool.state.hosts) h.lameDuckSeen = false;
      pool.state.refresh();
      if (Atomics.load(tables.pools, at) === before) continue;
    }
    again.push(slot);
  }
  if (again.length > 0) setImmediate(() => refresh(again));
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'prepare':
      Promise.resolve()
        .then(() => prepare(m))
        .then(
          () => send({ type: 'done', id: m.id }),
          (err: unknown) => {
            send({
              type: 'failed',
              id: m.id,
              code: err instanceof FulcrumError ? err.code : undefined,
              message: err instanceof Error ? err.message : String(err),
              details: err instanceof FulcrumError ? err.details : undefined,
            });
          },
        );
      return;
    case 'commit':
      commit(m.id);
      send({ type: 'done', id: m.id });
      return;
    case 'abort':
      prepared.get(m.id)?.handle.abort();
      prepared.delete(m.id);
      send({ type: 'done', id: m.id });
      return;
    case 'refresh':
      refresh(m.pools);
      return;
    case 'shutdown':
      clearInterval(statsTimer);
      void proxy.shutdown(m.graceMs).then(() => {
        publishStats();
        send({ type: 'done', id: m.id });
      });
      return;
  }
});

/** Published accepted counts per listener slot, to add only what is new (counters survive a replacement). */
const acceptedSeen = new Map<string, number>();
let acceptedTotalSeen = 0;

function publishStats(): void {
  let open = 0;
  let accepted = 0;
  const ls = tables.listenerStats;
  for (const s of proxy.connectionStats()) {
    open += s.open;
    accepted += s.accepted;
    const slot = listenerSlots[s.listener];
    if (slot === undefined) continue;
    const at = (me * LISTENER_CAPACITY + slot) * 2;
    ls[at] = s.open;
    const seen = acceptedSeen.get(s.listener) ?? 0;
    ls[at + 1] = (ls[at + 1] as number) + (s.accepted - seen);
    acceptedSeen.set(s.listener, s.accepted);
  }
  stats[statsAt + W_CONNECTIONS_OPEN] = open;
  stats[statsAt + W_CONNECTIONS_ACCEPTED] =
    (stats[statsAt + W_CONNECTIONS_ACCEPTED] as number) + (accepted - acceptedTotalSeen);
  acceptedTotalSeen = accepted;
  stats[statsAt + W_RING_DROPPED] = ring.dropped;
}

const statsTimer = setInterval(publishStats, 100);
statsTimer.unref();
send({ type: 'ready' });
