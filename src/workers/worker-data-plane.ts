// The data plane over N worker threads, seen from the main thread: it does what ProxyServer
// does for one thread (activate a snapshot, report bound addresses and connections, shut
// down), by preparing the snapshot on every worker and then committing it on every worker.
// It owns the shared tables: it publishes health and weights into them on every pool refresh,
// hands the workers' outcomes from their rings to the hub and to the main thread's hosts, and
// replaces a worker that dies.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { FulcrumError, isErrorCode } from '../core/errors.ts';
import type { EventHub, RequestOutcome } from '../core/events.ts';
import { parseAddress } from '../core/units.ts';
import type { HostState, OutcomeKind } from '../data-plane/host-state.ts';
import type { PoolState } from '../data-plane/pool-state.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import { heldElsewhere } from '../proxy/listener.ts';
import type { DataPlaneServer, HandoverListener } from '../proxy/proxy-server.ts';
import type { FromWorker, PoolSlots, ToWorker, WorkerInit } from './messages.ts';
import { allocateRing, OutcomeRingReader, type OutcomeSink } from './outcome-ring.ts';
import {
  FLAG_DRAINING,
  HOST_CAPACITY,
  HOST_STRIDE,
  H_EWMA_US,
  H_FLAGS,
  H_IN_FLIGHT,
  H_MAX_REQUESTS,
  H_STATUS,
  LISTENER_CAPACITY,
  POOL_CAPACITY,
  POOL_STRIDE,
  P_EPOCH,
  P_IN_FLIGHT,
  giveBackInFlight,
  SharedTables,
  statusCode,
  WORKER_STATS_STRIDE,
  W_CONNECTIONS_ACCEPTED,
  W_CONNECTIONS_OPEN,
  W_REQUESTS,
  W_RING_DROPPED,
} from './shared-tables.ts';
import { SlotAllocator } from './slot-allocator.ts';

/** Ring per worker: ~40,000 request records of typical size before one is dropped. */
const RING_BYTES = 1 << 23;
/** Outcomes reach the monitor this often; host views (in-flight, EWMA, bytes) too, or every 10th time. */
const DRAIN_MS = 20;
const SYNC_EVERY = 10;
/** Host slots × workers past which the copy runs only every SYNC_EVERY-th drain. */
const SYNC_EVERY_ABOVE = 8192;
/** A worker that does not answer a control message in this long is treated as lost. */
const CALL_TIMEOUT_MS = 30_000;
/** Back-off before starting a replacement again when the last one failed to come up. */
const RESTART_BACKOFF_MS = 1000;

export interface WorkerDataPlaneOptions {
  workers: number;
  hub: EventHub;
  logger: Logger;
  /** Where a worker's log lines go (the main log writer). */
  writeLog: (line: string) => void;
  logLevel: string;
  auditSecret: string;
  /** Bind addresses other processes hold too (`--share-address`). */
  shareAddresses?: boolean;
  /** FULCRUM_FAILPOINTS for the workers (src/workers/failpoints.ts). */
  failpoints?: string | undefined;
}

export interface WorkerStats {
  readonly worker: number;
  readonly alive: boolean;
  readonly connections: number;
  readonly accepted: number;
  readonly requests: number;
  readonly restarts: number;
  readonly ringDropped: number;
}

interface Pending {
  resolve(): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
}

class WorkerHandle {
  readonly index: number;
  readonly worker: Worker;
  readonly ready: Promise<void>;
  readonly pending = new Map<number, Pending>();
  alive = true;

  constructor(index: number, worker: Worker) {
    this.index = index;
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker): void => {
        if (m.type !== 'ready') return;
        worker.off('message', onMessage);
        worker.off('exit', onExit);
        resolve();
      };
      const onExit = (code: number): void =>
        reject(
          new FulcrumError('FULCRUM_ERR_WORKER_LOST', `worker ${index} exited (${code}) before it was ready`),
        );
      worker.on('message', onMessage);
      worker.once('exit', onExit);
    });
  }

  call(m: ToWorker & { id: number }): Promise<void> {
    if (!this.alive) {
      return Promise.reject(
        new FulcrumError('FULCRUM_ERR_WORKER_LOST', `worker ${this.index} is not running`),
      );
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(m.id);
        reject(new FulcrumError('FULCRUM_ERR_WORKER_LOST', `worker ${this.index} did not answer ${m.type}`));
      }, CALL_TIMEOUT_MS);
      this.pending.set(m.id, { resolve, reject, timer });
      this.worker.postMessage(m);
    });
  }

  settle(m: FromWorker): void {
    if (m.type !== 'done' && m.type !== 'failed') return;
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.type === 'done') p.resolve();
    else {
      const code = m.code !== undefined && isErrorCode(m.code) ? m.code : 'FULCRUM_ERR_WORKER_PREPARE';
      p.reject(
        new FulcrumError(code, `worker ${this.index}: ${m.message}`, { ...m.details, worker: this.index }),
      );
    }
  }

  lost(code: number): void {
    this.alive = false;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new FulcrumError('FULCRUM_ERR_WORKER_LOST', `worker ${this.index} exited (${code})`));
      this.pending.delete(id);
    }
  }
}

export class WorkerDataPlane implements DataPlaneServer, OutcomeSink {
  readonly tables: SharedTables;
  readonly #o: WorkerDataPlaneOptions;
  readonly #handles: (WorkerHandle | undefined)[];
  readonly #rings: OutcomeRingReader[];
  readonly #ringBuffers: SharedArrayBuffer[];
  readonly #restarts: number[];
  readonly #hostSlots: SlotAllocator<HostState>;
  /** By pool name, so a pool's in-flight sum (P_IN_FLIGHT) goes on across applies. */
  readonly #poolSlots: SlotAllocator<string>;
  /**
   * The pool slot each host slot counts in, to give a dead worker's requests back to the sum
   * they were added to. Written with the host slot (the same pool slot for as long as the host
   * slot is held) and kept after it is freed, while a retiring host finishes its requests; it
   * changes only when the slot is reused, once nothing is in flight on it.
   */
  readonly #poolOfHost = new Int32Array(HOST_CAPACITY);
  readonly #listenerSlots = new SlotAllocator<string>(LISTENER_CAPACITY);
  /** The main thread's host in each slot (the health manager's objects). */
  readonly #hostBySlot: (HostState | undefined)[] = new Array<HostState | undefined>(HOST_CAPACITY);
  /** Port-0 listener addresses made concrete, by listener name and configured address. */
  readonly #resolved = new Map<string, string>();
  readonly #ticketKeys = new Map<string, Buffer>();
  #current: { snapshot: Snapshot; message: Extract<ToWorker, { type: 'prepare' }> } | undefined;
  #ids = 0;
  #ticks = 0;
  /** Hosts of the running snapshot (what one sync copies). */
  #hostCount = 0;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  readonly #refreshQueue = new Set<number>();
  readonly #timer: NodeJS.Timeout;

  constructor(options: WorkerDataPlaneOptions) {
    this.#o = options;
    this.tables = SharedTables.allocate(options.workers);
    const hosts = this.tables.hosts;
    this.#hostSlots = new SlotAllocator<HostState>(
      HOST_CAPACITY,
      (slot) => Atomics.load(hosts, slot * HOST_STRIDE + H_IN_FLIGHT) === 0,
    );
    // A freed pool slot waits for its retiring hosts too: their last decrements must not land
    // on the sum of the pool that gets the slot next.
    const pools = this.tables.pools;
    this.#poolSlots = new SlotAllocator<string>(
      POOL_CAPACITY,
      (slot) => Atomics.load(pools, slot * POOL_STRIDE + P_IN_FLIGHT) === 0,
    );
    this.#handles = new Array<WorkerHandle | undefined>(options.workers);
    this.#ringBuffers = Array.from({ length: options.workers }, () => allocateRing(RING_BYTES));
    this.#rings = this.#ringBuffers.map((b) => new OutcomeRingReader(b));
    this.#restarts = new Array<number>(options.workers).fill(0);
    this.#timer = setInterval(() => this.#tick(), DRAIN_MS);
    this.#timer.unref();
  }

  /** Start every worker and wait until each is ready. */
  async start(): Promise<void> {
    if (process.platform !== 'linux') {
      throw new FulcrumError(
        'FULCRUM_ERR_WORKERS_UNSUPPORTED',
        `workers: ${this.#o.workers} needs SO_REUSEPORT with kernel load balancing (Linux); this is ${process.platform}`,
      );
    }
    await Promise.all(Array.from({ length: this.#o.workers }, (_, i) => this.#spawn(i).ready));
  }

  // --- DataPlaneServer ------------------------------------------------------------------

  async activate(snapshot: Snapshot): Promise<void> {
    if (this.#closing) throw new FulcrumError('FULCRUM_ERR_LISTEN', 'the proxy is shutting down');
    const reservations: net.Server[] = [];
    try {
      const config = await this.#resolveListeners(snapshot.config, reservations);
      const pools: Record<string, PoolSlots> = {};
      for (const [name, p] of snapshot.pools) {
        const poolSlot = this.#poolSlots.assign(name);
        const slots = p.state.hosts.map((h) => {
          const slot = this.#hostSlots.assign(h);
          this.#hostBySlot[slot] = h;
          this.#poolOfHost[slot] = poolSlot;
          this.#writeHost(slot, h);
          return slot;
        });
        pools[name] = { slot: poolSlot, hosts: slots };
      }
      const listenerSlots: Record<string, number> = {};
      const ticketKeys: Record<string, Uint8Array> = {};
      for (const [name, lc] of Object.entries(config.listeners)) {
        listenerSlots[name] = this.#listenerSlots.assign(name);
        if (lc.tls === undefined) continue;
        const key = `${name}\u0000${lc.address}`;
        let keys = this.#ticketKeys.get(key);
        if (keys === undefined) this.#ticketKeys.set(key, (keys = randomBytes(48)));
        ticketKeys[name] = keys;
      }
      const message = {
        type: 'prepare' as const,
        id: ++this.#ids,
        version: snapshot.version,
        config,
        pools,
        listenerSlots,
        ticketKeys,
      };
      await this.#prepareAndCommit(this.#live(), message);
      const previous = this.#current?.snapshot;
      this.#current = { snapshot, message };
      this.#hostCount = [...snapshot.pools.values()].reduce((n, p) => n + p.state.hosts.length, 0);
      for (const [name, p] of snapshot.pools) p.state.onRefresh = () => this.#publishPool(name, p.state);
      if (previous !== undefined) for (const p of previous.pools.values()) p.state.onRefresh = undefined;
      for (const [name, p] of snapshot.pools) this.#publishPool(name, p.state);
      this.#retainSlots(snapshot);
    } finally {
      for (const r of reservations) r.close();
    }
  }

  boundAddress(listener: string): { host: string; port: number } | undefined {
    const cur = this.#current;
    const lc = cur?.message.config.listeners[listener];
    if (lc === undefined) return undefined;
    const hp = parseAddress(lc.address);
    return hp === undefined ? undefined : { host: hp.host, port: hp.port };
  }

  connectionStats(): { listener: string; open: number; accepted: number }[] {
    const out: { listener: string; open: number; accepted: number }[] = [];
    const ls = this.tables.listenerStats;
    for (const name of Object.keys(this.#current?.message.listenerSlots ?? {})) {
      const slot = this.#listenerSlots.get(name);
      if (slot === undefined) continue;
      let open = 0;
      let accepted = 0;
      for (let w = 0; w < this.#o.workers; w++) {
        const at = (w * LISTENER_CAPACITY + slot) * 2;
        open += ls[at] as number;
        accepted += ls[at + 1] as number;
      }
      out.push({ listener: name, open, accepted });
    }
    return out;
  }

  /** Per-worker connections and requests, for metrics, status and the skew judgement. */
  workerStats(): WorkerStats[] {
    const s = this.tables.workerStats;
    return this.#handles.map((h, worker) => {
      const at = worker * WORKER_STATS_STRIDE;
      return {
        worker,
        alive: h?.alive === true,
        connections: s[at + W_CONNECTIONS_OPEN] as number,
        accepted: s[at + W_CONNECTIONS_ACCEPTED] as number,
        requests: s[at + W_REQUESTS] as number,
        restarts: this.#restarts[worker] as number,
        ringDropped: s[at + W_RING_DROPPED] as number,
      };
    });
  }

  /** Sockets live in the worker threads and cannot be handed to another process. */
  handoverListeners(): HandoverListener[] {
    return [];
  }

  shutdown(graceMs: number): Promise<void> {
    this.#shutdown ??= this.#drainAll(graceMs);
    return this.#shutdown;
  }

  // --- OutcomeSink (main thread, from the rings) ------------------------------------------

  tryOutcome(slot: number, kind: OutcomeKind): void {
    const h = this.#hostBySlot[slot];
    if (h === undefined) return;
    h.requests++;
    h.recordOutcome(kind);
  }

  lameDuck(slot: number): void {
    this.#hostBySlot[slot]?.markLameDuck();
  }

  request(outcome: RequestOutcome): void {
    this.#o.hub.requests.emit(outcome);
  }

  // --- internals ------------------------------------------------------------------------

  #live(): WorkerHandle[] {
    return this.#handles.filter((h): h is WorkerHandle => h !== undefined && h.alive);
  }

  /** Prepare on every worker; commit on every worker only if all prepared, else abort all. */
  async #prepareAndCommit(
    handles: readonly WorkerHandle[],
    message: Extract<ToWorker, { type: 'prepare' }>,
  ): Promise<void> {
    const results = await Promise.allSettled(handles.map((h) => h.call(message)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.allSettled(handles.map((h) => h.call({ type: 'abort', id: message.id })));
      throw failed.reason;
    }
    await Promise.all(handles.map((h) => h.call({ type: 'commit', id: message.id })));
  }

  #spawn(index: number): WorkerHandle {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    const init: WorkerInit = {
      index,
      incarnation: this.#restarts[index] as number,
      buffers: this.tables.buffers,
      ring: this.#ringBuffers[index] as SharedArrayBuffer,
      logLevel: this.#o.logLevel,
      auditSecret: this.#o.auditSecret,
      failpoints: this.#o.failpoints,
    };
    const worker = new Worker(new URL(`./worker-main${ext}`, import.meta.url), {
      workerData: init,
      name: `fulcrum-worker-${index}`,
    });
    const handle = new WorkerHandle(index, worker);
    this.#handles[index] = handle;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'log') this.#o.writeLog(m.line);
      else handle.settle(m);
    });
    worker.on('error', (err) => this.#o.logger.error({ err, worker: index }, 'worker failed'));
    worker.on('exit', (code) => this.#onExit(handle, code));
    return handle;
  }

  #onExit(handle: WorkerHandle, code: number): void {
    handle.lost(code);
    const index = handle.index;
    if (this.#handles[index] !== handle) return;
    // Its requests died with it: give their in-flight slots back, count what it left in its ring.
    this.#rings[index]?.drain(this);
    giveBackInFlight(this.tables, index, this.#poolOfHost);
    const ls = this.tables.listenerStats;
    for (let slot = 0; slot < LISTENER_CAPACITY; slot++) ls[(index * LISTENER_CAPACITY + slot) * 2] = 0;
    this.tables.workerStats[index * WORKER_STATS_STRIDE + W_CONNECTIONS_OPEN] = 0;
    if (this.#closing) return;
    this.#o.logger.error({ worker: index, code }, 'worker exited; starting a replacement');
    this.#o.hub.notices.emit({ type: 'worker-replaced', at: Date.now(), data: { worker: index, code } });
    this.#restarts[index] = (this.#restarts[index] as number) + 1;
    void this.#replace(index);
  }

  async #replace(index: number): Promise<void> {
    for (;;) {
      if (this.#closing) return;
      const handle = this.#spawn(index);
      try {
        await handle.ready;
        const cur = this.#current;
        if (cur !== undefined) await this.#prepareAndCommit([handle], { ...cur.message, id: ++this.#ids });
        return;
      } catch (err) {
        this.#o.logger.error({ err, worker: index }, 'replacement worker did not start');
        await handle.worker.terminate();
        await new Promise((r) => setTimeout(r, RESTART_BACKOFF_MS).unref());
      }
    }
  }

  /**
   * Listener addresses as the workers bind them: a port-0 address gets a concrete port the
   * main thread reserves (bound with SO_REUSEPORT until every worker bound it), the same one on
   * every apply. An address another process holds is refused, as one thread refuses it.
   */
  async #resolveListeners(config: Config, reservations: net.Server[]): Promise<Config> {
    const listeners: Config['listeners'] = {};
    const held = new Set<number>();
    for (const name of Object.keys(this.#current?.message.config.listeners ?? {})) {
      const a = this.boundAddress(name);
      if (a !== undefined) held.add(a.port);
    }
    for (const [name, lc] of Object.entries(config.listeners)) {
      const hp = parseAddress(lc.address);
      if (hp === undefined)
        throw new FulcrumError('FULCRUM_ERR_LISTEN', `listeners.${name}: bad address ${lc.address}`);
      const key = `${name}\u0000${lc.address}`;
      let address = this.#resolved.get(key);
      if (address === undefined) {
        if (
          hp.port !== 0 &&
          this.#o.shareAddresses !== true &&
          !held.has(hp.port) &&
          (await heldElsewhere(hp.host, hp.port))
        ) {
          throw new FulcrumError(
            'FULCRUM_ERR_LISTEN_IN_USE',
            `listeners.${name}: another process listens on ${lc.address}; to overlap on purpose start with --share-address`,
            { listener: name, address: lc.address },
          );
        }
        if (hp.port === 0) {
          const server = await reserve(hp.host, name, lc.address);
          reservations.push(server);
          const port = (server.address() as net.AddressInfo).port;
          address = hp.host.includes(':') ? `[${hp.host}]:${port}` : `${hp.host}:${port}`;
          this.#resolved.set(key, address);
        } else address = lc.address;
      }
      listeners[name] = { ...lc, address };
    }
    return { ...config, listeners };
  }

  /** Write one host's health, weight and cap into its slot (under its pool's epoch when publishing). */
  #writeHost(slot: number, h: HostState): void {
    const cells = this.tables.hosts;
    const at = slot * HOST_STRIDE;
    Atomics.store(cells, at + H_STATUS, statusCode(h.status));
    Atomics.store(cells, at + H_FLAGS, h.draining ? FLAG_DRAINING : 0);
    Atomics.store(cells, at + H_MAX_REQUESTS, Math.min(h.maxRequests, 2 ** 31 - 1));
    this.tables.weights[slot] = h.targetWeight;
  }

  /** A pool's health or weights changed (its PoolState refreshed): publish, then tell the workers. */
  #publishPool(name: string, state: PoolState): void {
    const ps = this.#poolSlots.get(name);
    if (ps === undefined) return;
    const pools = this.tables.pools;
    const at = ps * POOL_STRIDE + P_EPOCH;
    Atomics.add(pools, at, 1);
    for (const h of state.hosts) {
      const slot = this.#hostSlots.get(h);
      if (slot !== undefined) this.#writeHost(slot, h);
    }
    Atomics.add(pools, at, 1);
    if (this.#refreshQueue.size === 0) queueMicrotask(() => this.#flushRefresh());
    this.#refreshQueue.add(ps);
  }

  #flushRefresh(): void {
    const pools = [...this.#refreshQueue];
    this.#refreshQueue.clear();
    for (const h of this.#live()) h.worker.postMessage({ type: 'refresh', pools } satisfies ToWorker);
  }

  #retainSlots(snapshot: Snapshot): void {
    const hosts = new Set<HostState>();
    for (const p of snapshot.pools.values()) for (const h of p.state.hosts) hosts.add(h);
    for (const slot of this.#hostSlots.retain(hosts)) this.#hostBySlot[slot] = undefined;
    this.#poolSlots.retain(new Set(snapshot.pools.keys()));
  }

  #tick(): void {
    for (const r of this.#rings) r.drain(this);
    const every = this.#hostCount * this.#o.workers > SYNC_EVERY_ABOVE ? SYNC_EVERY : 1;
    if (++this.#ticks % every === 0) this.syncHosts();
  }

  /**
   * Copy the shared counters into the main thread's hosts, which the views and metrics read:
   * every drain for a small table, every SYNC_EVERY-th for a large one, and before a scrape.
   */
  syncHosts(): void {
    const cur = this.#current;
    if (cur === undefined) return;
    const cells = this.tables.hosts;
    const bytes = this.tables.workerBytes;
    const pools = this.tables.pools;
    for (const p of cur.snapshot.pools.values()) {
      const ps = this.#poolSlots.get(p.name);
      if (ps === undefined) continue;
      // The hosts' PoolLoad gets the pool's word with their in-flight counts, so a HostState's
      // poolInFlight agrees with them on the main thread as on one thread.
      const poolInFlight = Atomics.load(pools, ps * POOL_STRIDE + P_IN_FLIGHT);
      for (const h of p.state.hosts) {
        const slot = this.#hostSlots.get(h);
        if (slot === undefined) continue;
        h.inFlight = Atomics.load(cells, slot * HOST_STRIDE + H_IN_FLIGHT);
        h.poolLoad.inFlight = poolInFlight;
        h.latencyEwmaMs = Atomics.load(cells, slot * HOST_STRIDE + H_EWMA_US) / 1000;
        let bin = 0;
        let bout = 0;
        for (let w = 0; w < this.#o.workers; w++) {
          const at = (w * HOST_CAPACITY + slot) * 2;
          bin += bytes[at] as number;
          bout += bytes[at + 1] as number;
        }
        h.bytesIn = bin;
        h.bytesOut = bout;
      }
    }
  }

  async #drainAll(graceMs: number): Promise<void> {
    this.#closing = true;
    const handles = this.#live();
    await Promise.allSettled(
      handles.map((h) =>
        Promise.race([
          h.call({ type: 'shutdown', id: ++this.#ids, graceMs }),
          new Promise((r) => setTimeout(r, graceMs + 5000).unref()),
        ]),
      ),
    );
    await Promise.allSettled(handles.map((h) => h.worker.terminate()));
    clearInterval(this.#timer);
    this.#tick();
    this.syncHosts();
  }
}

/** Hold a port for the workers: bound with SO_REUSEPORT so their sockets can join it. */
function reserve(host: string, listener: string, address: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err) =>
      reject(
        new FulcrumError(
          'FULCRUM_ERR_LISTEN',
          `listeners.${listener}: cannot bind ${address}: ${err.message}`,
          {
            listener,
            address,
          },
        ),
      ),
    );
    server.listen({ host, port: 0, reusePort: true }, () => resolve(server));
  });
}
