// The data plane: HTTP/1.1 listeners (plain or TLS) that route each request to a pool and
// forward it to a backend. Listeners survive reloads when their address and TLS files are
// unchanged; each request runs to its end on the snapshot it started with.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EventHub } from '../core/events.ts';
import { FulcrumError, type ErrorCode } from '../core/errors.ts';
import { parseAddress } from '../core/units.ts';
import type { ListenerConfig } from '../config/schema.ts';
import type { HostState } from '../health/host-state.ts';
import type { ListenerRuntime, Snapshot } from '../runtime/snapshot.ts';
import { rawErrorResponse } from './answers.ts';
import {
  Exchange,
  ProxyRequest,
  ProxyResponse,
  type ExchangeCore,
  type ListenerContext,
  type PoolCounters,
} from './exchange.ts';
import { tunnel } from './tunnel.ts';
import type { Upstream } from './upstream.ts';
import { UndiciUpstream } from './upstream-undici.ts';

export interface ProxyDeps {
  hub: EventHub;
  logger: Logger;
  /** Admin token; a request carrying `x-fulcrum-explain: <token>` gets an `x-fulcrum-explain` response header. */
  explainToken?: () => string | undefined;
  /** Audit secret; a request carrying `x-fulcrum-audit: <secret>` gets `x-fulcrum-backend: <backend name>`. */
  auditSecret?: () => string | undefined;
  /** Upstream implementation (default undici pools, chosen over node:http agents by bench/RESULTS.md). */
  upstream?: Upstream;
}

/** How long a listener removed by a reload may keep serving its running requests. */
const REMOVED_LISTENER_GRACE_MS = 30_000;

interface ListenerSlot extends ListenerContext {
  /** Address plus everything that needs a re-bind when it changes. */
  key: string;
  /** The same with the bound port (so `:0` made explicit by a reload matches, no re-bind). */
  boundKey: string;
  server: http.Server;
  runtime: ListenerRuntime;
  /** The snapshot this listener's requests start on (the new one as soon as it is bound). */
  snapshot: Snapshot;
}

function secretMatches(given: string, secret: string | undefined): boolean {
  if (secret === undefined || secret === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class ProxyServer implements ExchangeCore {
  readonly hub: EventHub;
  readonly upstream: Upstream;
  readonly #deps: ProxyDeps;
  readonly #logger: Logger;
  /** Current listeners by name. */
  #slots = new Map<string, ListenerSlot>();
  readonly #counters = new Map<string, PoolCounters>();
  readonly #tunnels = new Set<Socket>();
  #inFlight = 0;
  /** Open client connections over all listeners, current and retiring. */
  #connections = 0;
  /** Listeners still open: the current ones and those retiring after a reload. */
  readonly #live = new Set<ListenerSlot>();
  #onIdle: (() => void) | undefined;
  readonly #onConnectionClose = (): void => {
    this.#connections--;
    this.#checkIdle();
  };
  #shuttingDown = false;
  #shutdown: Promise<void> | undefined;
  readonly #idPrefix = randomBytes(4).toString('hex');
  #idCounter = 0;

  constructor(deps: ProxyDeps) {
    this.#deps = deps;
    this.hub = deps.hub;
    this.#logger = deps.logger;
    this.upstream = deps.upstream ?? new UndiciUpstream();
  }

  // --- ExchangeCore ---------------------------------------------------------------------

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

  exchangeDone(listener: ListenerContext): void {
    // Busy keep-alive sockets of a closing listener become idle after their answer.
    if (listener.closing) {
      const server = (listener as ListenerSlot).server;
      setImmediate(() => server.closeIdleConnections());
    }
    this.#inFlight--;
    this.#checkIdle();
  }

  // --- public API -----------------------------------------------------------------------

  /**
   * Make `snapshot` current. New listeners are bound before returning, unchanged ones kept,
   * removed ones closed gracefully. On a bind failure the previous snapshot stays current.
   */
  async activate(snapshot: Snapshot): Promise<void> {
    if (this.#shuttingDown) throw new FulcrumError('FULCRUM_ERR_LISTEN', 'the proxy is shutting down');
    const byKey = new Map<string, ListenerSlot>();
    for (const slot of this.#slots.values()) {
      byKey.set(slot.key, slot);
      byKey.set(slot.boundKey, slot);
    }

    const next = new Map<string, ListenerSlot>();
    const added: ListenerSlot[] = [];
    const kept = new Set<ListenerSlot>();
    try {
      for (const [name, runtime] of snapshot.listeners) {
        const key = listenerKey(runtime.config);
        const old = byKey.get(key);
        if (old !== undefined && !kept.has(old)) {
          kept.add(old);
          next.set(name, old);
          continue;
        }
        const slot = this.#createSlot(name, runtime, key, snapshot);
        added.push(slot);
        await listen(slot.server, runtime.config.address, name);
        slot.boundKey = boundKey(slot);
        next.set(name, slot);
      }
    } catch (err) {
      for (const slot of added) slot.server.close();
      throw err;
    }

    // Swap: from here on new requests see the new snapshot.
    for (const [name, slot] of next) {
      const runtime = snapshot.listeners.get(name) as ListenerRuntime;
      slot.name = name;
      slot.runtime = runtime;
      slot.snapshot = snapshot;
      slot.maxBodySize = runtime.config.limits.maxBodySize;
      applyTimeouts(slot.server, runtime.config);
    }
    const previous = this.#slots;
    this.#slots = next;
    for (const slot of previous.values()) if (!kept.has(slot)) this.#retire(slot, REMOVED_LISTENER_GRACE_MS);

    const targets = new Set<HostState>();
    for (const pool of snapshot.pools.values()) for (const h of pool.state.hosts) targets.add(h);
    this.upstream.retain(targets);
  }

  boundAddress(listener: string): { host: string; port: number } | undefined {
    const addr = this.#slots.get(listener)?.server.address();
    if (addr === null || addr === undefined || typeof addr === 'string') return undefined;
    return { host: addr.address, port: addr.port };
  }

  /**
   * Stop accepting, let in-flight requests finish within graceMs (idle keep-alive sockets
   * closed at once, busy ones after their response with `connection: close`), then destroy
   * what is left.
   */
  shutdown(graceMs: number): Promise<void> {
    this.#shutdown ??= this.#drain(graceMs);
    return this.#shutdown;
  }

  /**
   * Drained means no request in flight and no client connection left (tunnels aside): a
   * keep-alive connection may still bring one more request after the last one ended, and
   * that request, once accepted, must be answered too (with `connection: close`).
   */
  #drained(): boolean {
    return this.#inFlight === 0 && this.#connections - this.#tunnels.size <= 0;
  }

  #checkIdle(): void {
    if (this.#onIdle !== undefined && this.#drained()) this.#onIdle();
  }

  async #drain(graceMs: number): Promise<void> {
    this.#shuttingDown = true;
    const slots = [...this.#live];
    for (const slot of slots) {
      slot.closing = true;
      slot.server.close();
      slot.server.closeIdleConnections();
    }
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
    for (const slot of slots) slot.server.closeAllConnections();
    for (const s of this.#tunnels) s.destroy();
    this.upstream.close();
  }

  // --- listeners ------------------------------------------------------------------------

  #createSlot(name: string, runtime: ListenerRuntime, key: string, snapshot: Snapshot): ListenerSlot {
    const lc = runtime.config;
    const options: http.ServerOptions<typeof ProxyRequest, typeof ProxyResponse> = {
      IncomingMessage: ProxyRequest,
      ServerResponse: ProxyResponse,
      maxHeaderSize: lc.limits.maxHeaderSize,
      noDelay: true,
      // The default 30 s sweep would make header/request timeouts that coarse.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(lc.timeouts.header / 4))),
    };
    let server: http.Server;
    if (lc.tls !== undefined) {
      let cert: Buffer;
      let keyPem: Buffer;
      try {
        cert = readFileSync(lc.tls.cert);
        keyPem = readFileSync(lc.tls.key);
        server = https.createServer({ ...options, cert, key: keyPem }) as unknown as http.Server;
      } catch (err) {
        throw new FulcrumError(
          'FULCRUM_ERR_TLS',
          `listeners.${name}.tls: ${(err as Error).message}`,
          { listener: name, cert: lc.tls.cert, key: lc.tls.key },
          { cause: err },
        );
      }
    } else {
      server = http.createServer(options) as unknown as http.Server;
    }
    const slot: ListenerSlot = {
      name,
      key,
      boundKey: key,
      server,
      runtime,
      snapshot,
      proto: lc.tls !== undefined ? 'https' : 'http',
      maxBodySize: lc.limits.maxBodySize,
      closing: false,
    };
    applyTimeouts(server, lc);
    server.on('request', (req: ProxyRequest, res: ProxyResponse) => this.#handle(slot, req, res));
    server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(slot, req, socket, head),
    );
    server.on('clientError', onClientError);
    server.on('connection', (socket: Socket) => {
      this.#connections++;
      socket.once('close', this.#onConnectionClose);
    });
    server.once('listening', () => this.#live.add(slot));
    server.once('close', () => this.#live.delete(slot));
    server.on('tlsClientError', (_err: Error, socket: Socket) => socket.destroy());
    return slot;
  }

  #handle(slot: ListenerSlot, req: ProxyRequest, res: ProxyResponse): void {
    this.#inFlight++;
    const ex = new Exchange(this, slot, req, res);
    try {
      ex.start(slot.snapshot, slot.runtime.router);
    } catch (err) {
      // A defect must cost one request, not the process (this runs inside an emitter).
      this.#logger.error({ err, requestId: ex.requestId }, 'proxy: request failed unexpectedly');
      res.destroy();
    }
  }

  #upgrade(slot: ListenerSlot, req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    if (slot.closing) {
      socket.end(rawErrorResponse('FULCRUM_ERR_PROXY_SHUTTING_DOWN'));
      return;
    }
    tunnel(
      {
        hub: this.hub,
        listener: slot.name,
        proto: slot.proto,
        snapshot: slot.snapshot,
        router: slot.runtime.router,
        tunnels: this.#tunnels,
        requestId: this.nextRequestId(),
        logger: this.#logger,
      },
      req,
      socket,
      head,
    );
  }

  /** Close a listener removed by a reload: stop accepting, finish running requests, then cut. */
  #retire(slot: ListenerSlot, graceMs: number): void {
    slot.closing = true;
    slot.server.close();
    slot.server.closeIdleConnections();
    const t = setTimeout(() => slot.server.closeAllConnections(), graceMs);
    t.unref();
    slot.server.once('close', () => clearTimeout(t));
  }
}

function listenerKey(lc: ListenerConfig, address = lc.address): string {
  const tls = lc.tls === undefined ? '' : `${lc.tls.cert}|${lc.tls.key}|${tlsFingerprint(lc.tls)}`;
  return `${address}|${lc.limits.maxHeaderSize}|${tls}`;
}

function boundKey(slot: ListenerSlot): string {
  const a = slot.server.address();
  if (a === null || typeof a === 'string') return slot.key;
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return listenerKey(slot.runtime.config, `${host}:${a.port}`);
}

/** Digest of the TLS files' contents, so a renewed certificate at the same path re-binds. */
function tlsFingerprint(tls: { cert: string; key: string }): string {
  try {
    return createHash('sha256').update(readFileSync(tls.cert)).update(readFileSync(tls.key)).digest('hex');
  } catch {
    // Unreadable files: a new key every time, so the bind attempt reports the error.
    return `unreadable-${randomBytes(8).toString('hex')}`;
  }
}

function applyTimeouts(server: http.Server, lc: ListenerConfig): void {
  const t = lc.timeouts;
  server.requestTimeout = t.request;
  // node refuses a header timeout above the request timeout.
  server.headersTimeout = t.request > 0 ? Math.min(t.header, t.request) : t.header;
  server.keepAliveTimeout = t.idle;
}

function listen(server: http.Server, address: string, name: string): Promise<void> {
  const hp = parseAddress(address);
  if (hp === undefined) {
    return Promise.reject(
      new FulcrumError('FULCRUM_ERR_LISTEN', `listeners.${name}: bad address ${address}`),
    );
  }
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      reject(
        new FulcrumError(
          'FULCRUM_ERR_LISTEN',
          `listeners.${name}: cannot bind ${address}: ${err.message}`,
          { listener: name, address },
          { cause: err },
        ),
      );
    };
    server.once('error', onError);
    // SO_REUSEPORT: a reload that re-binds an address (new TLS files, port 0 made explicit)
    // binds the new socket before the old one closes, so no connection is refused meanwhile.
    server.listen({ host: hp.host, port: hp.port, reusePort: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function onClientError(err: Error & { code?: string }, socket: Socket): void {
  const busy = (socket as Socket & { _httpMessage?: ProxyResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || (busy !== undefined && busy.headersSent)) {
    socket.destroy();
    return;
  }
  // A request in progress (slow body): answer through its exchange so it reports the outcome.
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && busy?.exchange !== undefined) {
    busy.exchange.clientTimedOut();
    return;
  }
  let code: ErrorCode = 'FULCRUM_ERR_PROXY_BAD_REQUEST';
  if (err.code === 'HPE_HEADER_OVERFLOW') code = 'FULCRUM_ERR_PROXY_HEADERS_TOO_LARGE';
  else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') code = 'FULCRUM_ERR_PROXY_CLIENT_TIMEOUT';
  socket.end(rawErrorResponse(code));
}
