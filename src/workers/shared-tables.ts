// The balancing state every worker thread shares, in SharedArrayBuffers the main thread
// allocates once at start (sizes follow the config limits, so an apply never has to grow
// them). Each host and each pool owns a slot; a slot's words sit on their own 64-byte cache
// line, so two threads updating two hosts never contend for one line (false sharing).
//
// Who writes what:
// - hosts: in-flight count and latency EWMA — every worker, with Atomics; status, flags,
//   maxRequests and target weight — the main thread (health), under the pool's epoch.
// - pools: epoch (a sequence lock: odd while the main thread writes the pool's hosts) and the
//   ticket counter of the pool's global pick sequence (every worker, Atomics.add).
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

/** Int32 words per pool slot: the epoch and the ticket on two separate cache lines. */
export const POOL_STRIDE = 32;
export const P_EPOCH = 0;
export const P_TICKET = 16;

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
