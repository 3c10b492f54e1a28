// The balancing state every worker thread shares, in SharedArrayBuffers the main thread
// allocates once at start (sizes follow the config limits, so an apply never has to grow
// them). Each host and each pool owns a slot; a slot's words sit on their own 64-byte cache
// line, so two threads updating two hosts never contend for one line (false sharing).
//
// Who writes what:
// - hosts: in-flight count and latency EWMA — every worker, with Atomics; status, flags,
//   maxRequests and target weight — the main thread (health), under the pool's epoch.
// - pools: epoch (a sequence lock: odd while the main thread writes the pool's hosts), the
//   ticket counter of the pool's global pick sequence and the pool's in-flight sum (every
//   worker, Atomics; the main thread only to give back a dead worker's requests).
// - per worker: its own in-flight per host (so a dead worker's requests can be given back),
//   its byte counters per host, its connection and request counts. One writer each.
import { LIMITS } from '../config/schema.ts';
import type { HostStatus } from '../data-plane/host-state.ts';

/** Int32 words per host slot: one cache line. */
export const HOST_STRIDE = 16;
export const H_IN_FLIGHT = 0;
export const H_EWMA_US = 1;
export const H_STATUS = 2;
export const H_FLAGS = 3;
export const H_MAX_REQUESTS = 4;
export const FLAG_DRAINING = 1;

/** Int32 words per pool slot: the epoch on one cache line, the ticket and the in-flight sum on the next. */
export const POOL_STRIDE = 32;
export const P_EPOCH = 0;
export const P_TICKET = 16;
/**
 * Requests in flight on every host of the pool, from every worker: what bounded-load
 * consistent-hash reads per pick instead of adding up the pool's hosts (the one-thread
 * `PoolLoad`). A SharedHost moves it with H_IN_FLIGHT on every reservation that stands.
 *
 * It shares the ticket's line, not the epoch's: both are written by every worker on the request
 * path (a deterministic pool draws a ticket and then reserves, in one turn, so one line moves
 * between cores instead of two), while the epoch stays read-mostly for the sequence lock the
 * workers take on a refresh. A consistent-hash pool never draws tickets: the line is its own.
 *
 * Pool slots are keyed by pool name (WorkerDataPlane's allocator): every apply that keeps the
 * name keeps the slot, so the sum goes on across applies, and a SharedHost binds its pool's slot
 * when it is built, so a retiring host (an old snapshot's, finishing its requests) keeps counting
 * in the sum of its pool's name, as on one thread. A pool that leaves the config frees its slot;
 * added back, it gets another one, starting from its new hosts alone (as the one-thread registry
 * starts a new PoolLoad), and a freed slot is reused only once its sum is 0.
 */
export const P_IN_FLIGHT = 17;

/** Float64 words per worker in the stats table. */
export const WORKER_STATS_STRIDE = 8;
export const W_CONNECTIONS_OPEN = 0;
export const W_CONNECTIONS_ACCEPTED = 1;
export const W_REQUESTS = 2;
export const W_RING_DROPPED = 3;

/** Old and new hosts coexist while an apply runs, and removed ones until their requests end. */
export const HOST_CAPACITY = 2 * LIMITS.backendsTotal + 1024;
export const POOL_CAPACITY = 2 * LIMITS.pools + 48;
export const LISTENER_CAPACITY = 4 * LIMITS.listeners;

export const STATUS_CODES: readonly HostStatus[] = [
  'unknown',
  'healthy',
  'unhealthy',
  'ejected',
  'slow-start',
  'draining',
];
const STATUS_INDEX = new Map(STATUS_CODES.map((s, i) => [s, i]));

export function statusCode(status: HostStatus): number {
  return STATUS_INDEX.get(status) ?? 0;
}

/** The buffers, as posted to a worker (SharedArrayBuffers are shared, not copied). */
export interface SharedBuffers {
  readonly workers: number;
  readonly hosts: SharedArrayBuffer;
  readonly weights: SharedArrayBuffer;
  readonly pools: SharedArrayBuffer;
  readonly workerInFlight: SharedArrayBuffer;
  readonly workerBytes: SharedArrayBuffer;
  readonly workerStats: SharedArrayBuffer;
  readonly listenerStats: SharedArrayBuffer;
}

/** Typed views over SharedBuffers, on either side. */
export class SharedTables {
  readonly buffers: SharedBuffers;
  readonly workers: number;
  readonly hosts: Int32Array;
  /** Target weight per host slot (configured × ramp; 0 when draining). */
  readonly weights: Float64Array;
  readonly pools: Int32Array;
  /** [worker × HOST_CAPACITY + slot]: requests this worker has in flight on the host. */
  readonly workerInFlight: Int32Array;
  /** [(worker × HOST_CAPACITY + slot) × 2 + 0|1]: client bytes in and out of the host's answers. */
  readonly workerBytes: Float64Array;
  readonly workerStats: Float64Array;
  /** [(worker × LISTENER_CAPACITY + slot) × 2 + 0|1]: open and accepted connections. */
  readonly listenerStats: Float64Array;

  static allocate(workers: number): SharedTables {
    return new SharedTables({
      workers,
      hosts: new SharedArrayBuffer(HOST_CAPACITY * HOST_STRIDE * 4),
      weights: new SharedArrayBuffer(HOST_CAPACITY * 8),
      pools: new SharedArrayBuffer(POOL_CAPACITY * POOL_STRIDE * 4),
      workerInFlight: new SharedArrayBuffer(workers * HOST_CAPACITY * 4),
      workerBytes: new SharedArrayBuffer(workers * HOST_CAPACITY * 2 * 8),
      workerStats: new SharedArrayBuffer(workers * WORKER_STATS_STRIDE * 8),
      listenerStats: new SharedArrayBuffer(workers * LISTENER_CAPACITY * 2 * 8),
    });
  }

  constructor(buffers: SharedBuffers) {
    this.buffers = buffers;
    this.workers = buffers.workers;
    this.hosts = new Int32Array(buffers.hosts);
    this.weights = new Float64Array(buffers.weights);
    this.pools = new Int32Array(buffers.pools);
    this.workerInFlight = new Int32Array(buffers.workerInFlight);
    this.workerBytes = new Float64Array(buffers.workerBytes);
    this.workerStats = new Float64Array(buffers.workerStats);
    this.listenerStats = new Float64Array(buffers.listenerStats);
  }
}

/**
 * Give back what a dead worker had in flight, from its own count per host slot: the host's
 * in-flight and its pool's sum drop by the same amount (`poolOf[hostSlot]`: the pool slot the
 * main thread gave with the host slot), and the worker's counts start again from 0 for its
 * replacement. The main thread calls it once the thread has exited: nothing writes them then.
 */
export function giveBackInFlight(tables: SharedTables, worker: number, poolOf: Int32Array): void {
  const mine = tables.workerInFlight;
  const hosts = tables.hosts;
  const pools = tables.pools;
  const base = worker * HOST_CAPACITY;
  for (let slot = 0; slot < HOST_CAPACITY; slot++) {
    const n = Atomics.exchange(mine, base + slot, 0);
    if (n === 0) continue;
    Atomics.sub(hosts, slot * HOST_STRIDE + H_IN_FLIGHT, n);
    Atomics.sub(pools, (poolOf[slot] as number) * POOL_STRIDE + P_IN_FLIGHT, n);
  }
}
