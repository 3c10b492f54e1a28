// The data plane: HTTP/1.1 listeners (plain or TLS) that route each request to a pool and
// forward it to a backend. Listeners survive reloads when their address is unchanged (new
// certificate files are swapped in place); each request runs to its end on the snapshot it
// started with.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EventHub } from '../core/events.ts';
import { FulcrumError } from '../core/errors.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { DataPlaneHost } from '../data-plane/host-state.ts';
import type { ListenerRuntime, DataPlaneSnapshot } from '../data-plane/snapshot.ts';
import { rawErrorResponse } from './answers.ts';
import { CanarySlice } from './canary-slice.ts';
import type { ClientConnection } from './client-connection.ts';
import { Exchange, type ExchangeCore, type PoolCounters } from './exchange.ts';
import type { RequestHead } from './http1.ts';
import { Listener, type InheritedSockets, type ListenerHost } from './listener.ts';
import { tunnel } from './tunnel.ts';
import { WireUpstream } from './upstream.ts';

export interface ProxyDeps {
  hub: EventHub;
  logger: Logger;
  /** Admin token; a request carrying `x-fulcrum-explain: <token>` gets an `x-fulcrum-explain` response header. */
  explainToken?: () => string | undefined;
  /** Audit secret; a request carrying `x-fulcrum-audit: <secret>` gets `x-fulcrum-backend: <backend name>`. */
  auditSecret?: () => string | undefined;
  /** Listening sockets handed over by the process this one replaces, by listener address (taken once). */
  inherited?: (address: string) => InheritedSockets | undefined;
  /** Bind addresses other processes hold too (SO_REUSEPORT overlap on purpose). */
  shareAddresses?: boolean;
  /**
   * TLS session ticket keys of a new listener (workers: the same keys on every thread, so a
   * client resumes whichever thread accepts it); undefined = fresh random keys.
   */
  ticketKeys?: (listener: string, address: string) => Buffer | undefined;
  /** Told after a client connection was accepted or closed (workers publish their counts from here). */
  onConnectionsChanged?: () => void;
}

/**
 * What the composition root asks of the data plane, on one thread (ProxyServer) or over worker
 * threads (WorkerDataPlane).
 */
export interface DataPlaneServer {
  activate(snapshot: DataPlaneSnapshot): Promise<void>;
  boundAddress(listener: string): { host: string; port: number } | undefined;
  connectionStats(): { listener: string; open: number; accepted: number }[];
  handoverListeners(): HandoverListener[];
  shutdown(graceMs: number, options?: { handover?: boolean }): Promise<void>;
}

/** A snapshot bound but not yet current (ProxyServer.prepare). */
export interface PreparedSnapshot {
  commit(): void;
  abort(): void;
}

/** One listener's sockets, as a handover passes them to the replacing process. */
export interface HandoverListener {
  readonly address: string;
  readonly servers: readonly Server[];
  readonly ticketKeys: Buffer | undefined;
}

/** In a handover drain, a connection idle this long is closed (busy ones close after their answer). */
const HANDOVER_IDLE_CLOSE_MS = 500;

/** How long a listener removed by a reload may keep serving its running requests. */
const REMOVED_LISTENER_GRACE_MS = 30_000;

function secretMatches(given: string, secret: string | undefined): boolean {
  if (secret === undefined || secret === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ProxyServer implements ExchangeCore, ListenerHost, DataPlaneServer {
  readonly hub: EventHub;
  readonly upstream: WireUpstream;
  readonly #deps: ProxyDeps;
  readonly #logger: Logger;
  /** Current listeners by name. */
  #listeners = new Map<string, Listener>();
  readonly #counters = new Map<string, PoolCounters>();
  readonly #tunnels = new Set<Socket>();
  #inFlight = 0;
  /** Listeners still open: the current ones and those retiring after a reload. */
  readonly #live = new Set<Listener>();
  /** Connections accepted per listener name, across re-binds (fulcrum_listener_connections_accepted_total). */
  readonly #accepted = new Map<string, number>();
  #onIdle: (() => void) | undefined;
  #shuttingDown = false;
  #shutdown: Promise<void> | undefined;
  readonly #idPrefix = randomBytes(4).toString('hex');
  #idCounter = 0;
  /** A traffic-slice canary: the share of new requests that start on its snapshot. */
  #canary: CanarySlice | undefined;

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
    this.hub = deps.hub;
    this.#logger = deps.logger;
    this.upstream = new WireUpstream();
  }

  // --- ExchangeCore ---------------------------------------------------------------------

  /** Requests being exchanged and tunnels open: traffic that has not finished yet. */
  inProgress(): number {
    let n = this.#tunnels.size;
    for (const c of this.#counters.values()) n += c.active;
    return n;
  }

  counters(pool: string): PoolCounters {
    let c = this.#counters.get(pool);
    if (c === undefined) {
      c = { active: 0, retrying: 0 };
      this.#counters.set(pool, c);
    }
    return c;
  }

  explainAllowed(value: string): boolean {
    return secretMatches(value, this.#deps.explainToken?.());
  }

  auditAllowed(value: string): boolean {
    return secretMatches(value, this.#deps.auditSecret?.());
  }

  nextRequestId(): string {
    // Unique per process run without a crypto call per request.
    return `${this.#idPrefix}-${(++this.#idCounter).toString(36)}`;
  }

  exchangeDone(): void {
    this.#inFlight--;
    this.#checkIdle();
  }

  // --- ListenerHost ---------------------------------------------------------------------

  onRequest(listener: Listener, conn: ClientConnection, head: RequestHead): void {
    this.#inFlight++;
    const ex = new Exchange(this, listener, conn, head);
    conn.exchange = ex;
    try {
      const canary = this.#canary;
      const router = canary !== undefined && canary.take() ? canary.router(listener.name) : undefined;
      if (router === undefined) ex.start(listener.snapshot, listener.runtime.router);
      else {
        ex.slice = 'canary';
        ex.start((canary as CanarySlice).snapshot, router);
      }
    } catch (err) {
      // A defect must cost one request, not the process (this runs inside a socket callback).
      this.#logger.error({ err, requestId: ex.requestId }, 'proxy: request failed unexpectedly');
      conn.destroy();
    }
  }

  onUpgrade(listener: Listener, conn: ClientConnection, head: RequestHead, rest: Buffer): void {
    const socket = conn.socket;
    if (listener.closing) {
      socket.end(rawErrorResponse('FULCRUM_ERR_PROXY_SHUTTING_DOWN'));
      return;
    }
    tunnel(
      {
        hub: this.hub,
        listener: listener.name,
        proto: listener.proto,
        snapshot: listener.snapshot,
        router: listener.runtime.router,
        tunnels: this.#tunnels,
        requestId: this.nextRequestId(),
        logger: this.#logger,
      },
      head,
      conn.remoteAddress,
      socket,
      rest,
    );
  }

  onConnectionClosed(): void {
    this.#deps.onConnectionsChanged?.();
    this.#checkIdle();
  }

  onConnectionAccepted(listener: string): void {
    this.#accepted.set(listener, (this.#accepted.get(listener) ?? 0) + 1);
    this.#deps.onConnectionsChanged?.();
  }

  // --- public API -----------------------------------------------------------------------

  /**
   * Make `snapshot` current. New listeners are bound before returning, unchanged ones kept,
   * removed ones closed gracefully. On a bind failure the previous snapshot stays current.
   */
  async activate(snapshot: DataPlaneSnapshot): Promise<void> {
    (await this.prepare(snapshot)).commit();
  }

  /**
   * The first half of activate(): bind the listeners `snapshot` adds and load its TLS files,
   * while the previous snapshot stays current. commit() makes it current (it cannot fail);
   * abort() closes what was bound. Workers prepare on every thread before any commits.
   */
  async prepare(snapshot: DataPlaneSnapshot): Promise<PreparedSnapshot> {
    if (this.#shuttingDown) throw new FulcrumError('FULCRUM_ERR_LISTEN', 'the proxy is shutting down');
    const byKey = new Map<string, Listener>();
    for (const l of this.#listeners.values()) {
      byKey.set(l.key, l);
      byKey.set(l.boundKey, l);
    }

    const next = new Map<string, Listener>();
    const added: Listener[] = [];
    const kept = new Set<Listener>();
    const tlsSwaps: (() => void)[] = [];
    const undo = (): void => {
      for (const l of added) {
        this.#live.delete(l);
        void l.close();
      }
    };
    try {
      for (const [name, runtime] of snapshot.listeners) {
        const key = listenerKey(runtime.config);
        const old = byKey.get(key);
        if (old !== undefined && !kept.has(old)) {
          const swap = old.prepareTls(runtime);
          if (swap !== undefined) tlsSwaps.push(swap);
          kept.add(old);
          next.set(name, old);
          continue;
        }
        const address = runtime.config.address;
        const inherited = this.#deps.inherited?.(address);
        const ticketKeys = inherited?.ticketKeys ?? this.#deps.ticketKeys?.(name, address);
        const listener = new Listener(name, runtime, key, snapshot, this, ticketKeys);
        added.push(listener);
        await listener.listen(address, {
          ...(inherited === undefined ? {} : { inherited }),
          // A reload re-binding an address this process holds overlaps with itself on purpose.
          share: this.#deps.shareAddresses === true || this.#holdsPort(address),
        });
        this.#live.add(listener);
        listener.boundKey = boundKey(listener);
        next.set(name, listener);
      }
    } catch (err) {
      undo();
      throw err;
    }
    let settled = false;
    return {
      commit: () => {
        if (settled) return;
        settled = true;
        this.#commit(snapshot, next, kept, tlsSwaps);
      },
      abort: () => {
        if (settled) return;
        settled = true;
        undo();
      },
    };
  }

  #commit(
    snapshot: DataPlaneSnapshot,
    next: Map<string, Listener>,
    kept: ReadonlySet<Listener>,
    tlsSwaps: readonly (() => void)[],
  ): void {
    // Swap: from here on new requests (and handshakes) see the new snapshot.
    for (const swap of tlsSwaps) swap();
    for (const [name, listener] of next) {
      listener.name = name;
      listener.configure(snapshot.listeners.get(name) as ListenerRuntime, snapshot);
    }
    const previous = this.#listeners;
    this.#listeners = next;
    for (const l of previous.values()) if (!kept.has(l)) this.#retire(l, REMOVED_LISTENER_GRACE_MS);

    const targets = new Set<DataPlaneHost>();
    for (const pool of snapshot.pools.values()) for (const h of pool.state.hosts) targets.add(h);
    this.upstream.retain(targets);
  }

  /**
   * Start a traffic-slice canary: from now on `fraction` of new requests (upgrades aside: a
   * tunnel would outlive a rollback) are routed and balanced on `snapshot`, the rest on the
   * running one; each request ends on the snapshot it started with. The canary must have the
   * running listeners, bound the same way: a share of requests cannot bind a port
   * (FULCRUM_ERR_CANARY_LISTENERS). Listener-level settings (timeouts, limits, certificates)
   * stay the running ones until endCanary(true).
   */
  activateCanary(snapshot: DataPlaneSnapshot, fraction: number): void {
    if (this.#shuttingDown) throw new FulcrumError('FULCRUM_ERR_LISTEN', 'the proxy is shutting down');
    if (this.#canary !== undefined)
      throw new FulcrumError(
        'FULCRUM_ERR_CANARY_RUNNING',
        `a canary of version ${this.#canary.snapshot.version} is running`,
      );
    const changes: string[] = [];
    for (const [name, runtime] of snapshot.listeners) {
      const running = this.#listeners.get(name);
      const key = listenerKey(runtime.config);
      if (running === undefined) changes.push(`adds listener ${name}`);
      else if (running.key !== key && running.boundKey !== key) changes.push(`re-binds listener ${name}`);
    }
    for (const name of this.#listeners.keys())
      if (!snapshot.listeners.has(name)) changes.push(`removes listener ${name}`);
    if (changes.length > 0) {
      throw new FulcrumError(
        'FULCRUM_ERR_CANARY_LISTENERS',
        `a canary cannot change listeners (a share of requests cannot bind a port): the config ${changes.join(', ')}; apply it without --canary`,
        { changes },
      );
    }
    this.#canary = new CanarySlice(snapshot, fraction);
  }

  /**
   * End the canary: promote (its snapshot becomes the whole traffic, through activate) or roll
   * back (the running snapshot takes every new request again). Requests running on the other
   * snapshot finish there.
   */
  async endCanary(promote: boolean): Promise<void> {
    const c = this.#canary;
    if (c === undefined) return;
    if (promote) {
      await this.activate(c.snapshot);
      this.#canary = undefined;
      return;
    }
    this.#canary = undefined;
    const targets = new Set<DataPlaneHost>();
    for (const l of this.#listeners.values())
      for (const pool of l.snapshot.pools.values()) for (const h of pool.state.hosts) targets.add(h);
    this.upstream.retain(targets);
  }

  /** Open and accepted client connections per listener name (retiring listeners included). */
  connectionStats(): { listener: string; open: number; accepted: number }[] {
    const open = new Map<string, number>();
    for (const l of this.#live) open.set(l.name, (open.get(l.name) ?? 0) + l.conns.size);
    const names = new Set([...this.#listeners.keys(), ...open.keys(), ...this.#accepted.keys()]);
    return [...names].map((listener) => ({
      listener,
      open: open.get(listener) ?? 0,
      accepted: this.#accepted.get(listener) ?? 0,
    }));
  }

  #holdsPort(address: string): boolean {
    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    for (const l of this.#live) if (l.address()?.port === port) return true;
    return false;
  }

  /** The current listeners' sockets, for a handover to a replacing process. */
  handoverListeners(): HandoverListener[] {
    return [...this.#listeners.values()].map((l) => ({
      address: l.runtime.config.address,
      servers: l.servers,
      ticketKeys: l.ticketKeys,
    }));
  }

  boundAddress(listener: string): { host: string; port: number } | undefined {
    const a = this.#listeners.get(listener)?.address();
    return a === undefined ? undefined : { host: a.host, port: a.port };
  }

  /**
   * Stop accepting, let in-flight requests finish within graceMs (idle keep-alive connections
   * closed at once, busy ones after their response with `connection: close`), then destroy
   * what is left.
   */
  shutdown(graceMs: number, options: { handover?: boolean } = {}): Promise<void> {
    this.#shutdown ??= this.#drain(graceMs, options.handover === true);
    return this.#shutdown;
  }

  /**
   * Drained means no request in flight and no client connection left (tunnels aside): a
   * keep-alive connection may still bring one more request after the last one ended, and
   * that request, once accepted, must be answered too (with `connection: close`).
   */
  #drained(): boolean {
    if (this.#inFlight !== 0) return false;
    let connections = 0;
    for (const l of this.#live) connections += l.conns.size;
    return connections - this.#tunnels.size <= 0;
  }

  #checkIdle(): void {
    if (this.#onIdle !== undefined && this.#drained()) this.#onIdle();
  }

  async #drain(graceMs: number, handover: boolean): Promise<void> {
    this.#shuttingDown = true;
    const listeners = [...this.#live];
    for (const l of listeners) {
      void l.close();
      // Handed over, a keep-alive client gets its next answer with `connection: close`; only
      // connections that stay idle are closed (a client may be writing into one right now).
      if (!handover) l.closeIdle();
    }
    const idleSweep = handover ? this.#closeLingeringIdle(listeners) : undefined;
    if (!this.#drained()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, graceMs);
        this.#onIdle = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#onIdle = undefined;
    }
    if (idleSweep !== undefined) clearInterval(idleSweep);
    for (const l of listeners) l.closeAll();
    for (const s of this.#tunnels) s.destroy();
    this.upstream.close();
  }

  /** Every 100 ms, close the connections seen idle for HANDOVER_IDLE_CLOSE_MS. */
  #closeLingeringIdle(listeners: readonly Listener[]): NodeJS.Timeout {
    const idleSince = new WeakMap<ClientConnection, number>();
    const t = setInterval(() => {
      const now = performance.now();
      for (const l of listeners) {
        for (const conn of l.conns) {
          if (!conn.idle) idleSince.delete(conn);
          else {
            const since = idleSince.get(conn);
            if (since === undefined) idleSince.set(conn, now);
            else if (now - since >= HANDOVER_IDLE_CLOSE_MS) conn.destroy();
          }
        }
      }
    }, 100);
    t.unref();
    return t;
  }

  /** Close a listener removed by a reload: stop accepting, finish running requests, then cut. */
  #retire(listener: Listener, graceMs: number): void {
    const closed = listener.close();
    listener.closeIdle();
    const t = setTimeout(() => listener.closeAll(), graceMs);
    t.unref();
    void closed.then(() => {
      clearTimeout(t);
      this.#live.delete(listener);
    });
  }
}

function listenerKey(lc: ListenerConfig, address = lc.address): string {
  // New certificate files do not re-bind: Listener.prepareTls swaps them in place.
  const tls = lc.tls === undefined ? '' : 'tls';
  return `${address}|${lc.limits.maxHeaderSize}|${tls}`;
}

function boundKey(listener: Listener): string {
  const a = listener.address();
  if (a === undefined) return listener.key;
  const host = a.family === 'IPv6' ? `[${a.host}]` : a.host;
  return listenerKey(listener.runtime.config, `${host}:${a.port}`);
}
