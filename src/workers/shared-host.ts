// A backend as a worker thread sees it: its counters live in the shared host table, so every
// worker's picks see the whole process's in-flight requests and latency, and the health the
// main thread publishes. The pool state and the proxy use it exactly like a HostState. Its
// pool's in-flight sum (P_IN_FLIGHT) moves with its own in-flight count, so bounded-load
// consistent-hash reads the whole pool's load in O(1) here too.
import {
  nextLatencyEwma,
  type DataPlaneHost,
  type HostSpec,
  type HostStatus,
  type OutcomeKind,
} from '../data-plane/host-state.ts';
import type { OutcomeRingWriter } from './outcome-ring.ts';
import {
  FLAG_DRAINING,
  HOST_CAPACITY,
  HOST_STRIDE,
  H_EWMA_US,
  H_FLAGS,
  H_IN_FLIGHT,
  H_MAX_REQUESTS,
  H_STATUS,
  POOL_STRIDE,
  P_IN_FLIGHT,
  STATUS_CODES,
  type SharedTables,
} from './shared-tables.ts';

/** The EWMA is kept in whole microseconds in an int32 (up to ~35 minutes). */
const EWMA_MAX_US = 2 ** 31 - 1;

export class SharedHost implements DataPlaneHost {
  index = 0;
  effectiveWeight = 0;
  readonly name: string;
  readonly pool: string;
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  readonly slot: number;
  /** The pool's slot (by pool name) this host counts its requests in, for its whole life. */
  readonly poolSlot: number;
  /** Set by this worker on a lame-duck answer, until the main thread's next publish of the pool. */
  lameDuckSeen = false;

  readonly #cells: Int32Array;
  readonly #base: number;
  readonly #pools: Int32Array;
  readonly #poolAt: number;
  readonly #weights: Float64Array;
  readonly #mine: Int32Array;
  readonly #mineAt: number;
  readonly #bytes: Float64Array;
  readonly #bytesAt: number;
  readonly #ring: OutcomeRingWriter;
  /** admit() took the slot; the requestStarted() that follows in the same turn keeps it. */
  #reserved = false;

  constructor(
    slot: number,
    poolSlot: number,
    spec: HostSpec,
    tables: SharedTables,
    worker: number,
    ring: OutcomeRingWriter,
  ) {
    this.slot = slot;
    this.poolSlot = poolSlot;
    this.name = spec.name;
    this.pool = spec.pool;
    this.address = spec.address;
    this.hostname = spec.hostname;
    this.port = spec.port;
    this.#cells = tables.hosts;
    this.#base = slot * HOST_STRIDE;
    this.#pools = tables.pools;
    this.#poolAt = poolSlot * POOL_STRIDE + P_IN_FLIGHT;
    this.#weights = tables.weights;
    this.#mine = tables.workerInFlight;
    this.#mineAt = worker * HOST_CAPACITY + slot;
    this.#bytes = tables.workerBytes;
    this.#bytesAt = (worker * HOST_CAPACITY + slot) * 2;
    this.#ring = ring;
  }

  get inFlight(): number {
    return Atomics.load(this.#cells, this.#base + H_IN_FLIGHT);
  }

  /** Requests in flight on the whole pool, every worker's, retiring hosts' included. */
  get poolInFlight(): number {
    return Atomics.load(this.#pools, this.#poolAt);
  }

  get latencyEwmaMs(): number {
    return Atomics.load(this.#cells, this.#base + H_EWMA_US) / 1000;
  }

  get maxRequests(): number {
    return Atomics.load(this.#cells, this.#base + H_MAX_REQUESTS);
  }

  get status(): HostStatus {
    return STATUS_CODES[Atomics.load(this.#cells, this.#base + H_STATUS)] ?? 'unknown';
  }

  get draining(): boolean {
    return this.lameDuckSeen || (Atomics.load(this.#cells, this.#base + H_FLAGS) & FLAG_DRAINING) !== 0;
  }

  get available(): boolean {
    if (this.draining) return false;
    const s = this.status;
    return s === 'healthy' || s === 'slow-start';
  }

  get targetWeight(): number {
    return this.draining ? 0 : (this.#weights[this.slot] as number);
  }

  get bytesIn(): number {
    return this.#bytes[this.#bytesAt] as number;
  }

  set bytesIn(v: number) {
    this.#bytes[this.#bytesAt] = v;
  }

  get bytesOut(): number {
    return this.#bytes[this.#bytesAt + 1] as number;
  }

  set bytesOut(v: number) {
    this.#bytes[this.#bytesAt + 1] = v;
  }

  /**
   * Reserve one in-flight slot atomically: below maxRequests across every worker, or none. The
   * pool's sum takes only a reservation that stands: the host's count must be raised to test
   * the cap (and lowered again when over it), the pool's has no cap to test, so a refused
   * attempt never shows in it, not even for a moment, and costs no write to its line.
   */
  admit(): boolean {
    const cells = this.#cells;
    const at = this.#base + H_IN_FLIGHT;
    if (Atomics.add(cells, at, 1) < Atomics.load(cells, this.#base + H_MAX_REQUESTS)) {
      Atomics.add(this.#pools, this.#poolAt, 1);
      this.#reserved = true;
      return true;
    }
    Atomics.sub(cells, at, 1);
    return false;
  }

  requestStarted(): void {
    if (this.#reserved) this.#reserved = false;
    else {
      Atomics.add(this.#cells, this.#base + H_IN_FLIGHT, 1);
      Atomics.add(this.#pools, this.#poolAt, 1);
    }
    Atomics.add(this.#mine, this.#mineAt, 1);
  }

  requestFinished(kind: OutcomeKind, durationMs: number): void {
    const cells = this.#cells;
    Atomics.sub(cells, this.#base + H_IN_FLIGHT, 1);
    Atomics.sub(this.#pools, this.#poolAt, 1);
    Atomics.sub(this.#mine, this.#mineAt, 1);
    const at = this.#base + H_EWMA_US;
    // Lock-free update: retry when another worker changed the EWMA between load and store.
    for (let i = 0; i < 16; i++) {
      const old = Atomics.load(cells, at);
      const next = Math.min(EWMA_MAX_US, Math.round(nextLatencyEwma(old / 1000, kind, durationMs) * 1000));
      if (Atomics.compareExchange(cells, at, old, next) === old) break;
    }
    this.#ring.tryOutcome(this.slot, kind);
  }

  markLameDuck(): void {
    if (this.lameDuckSeen) return;
    this.lameDuckSeen = true;
    this.#ring.lameDuck(this.slot);
  }
}
