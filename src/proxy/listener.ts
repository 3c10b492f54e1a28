// A bound listener: its TCP or TLS servers, its client connections and their deadlines. One
// sweep per listener checks the deadlines of all connections (header, request, idle), so a
// request costs two timestamps instead of a timer.
//
// One address is bound by ACCEPT_SOCKETS sockets (SO_REUSEPORT; the kernel spreads new
// connections over them): Node accepts one connection per listening socket per event-loop
// turn, so under load a burst of new connections waited hundreds of turns to be accepted (a
// 256-connection burst against a busy proxy: p99 above 100 ms, all of it in the accept queue;
// bench/RESULTS.md).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { ListenerConfig } from '../config/schema.ts';
import { loadTlsPair, tlsDigest } from '../config/tls-files.ts';
import { FulcrumError } from '../core/errors.ts';
import { parseAddress } from '../core/units.ts';
import type { ListenerRuntime, DataPlaneSnapshot } from '../data-plane/snapshot.ts';
import { ClientConnection, type ConnectionOwner } from './client-connection.ts';
import type { ListenerContext } from './exchange.ts';
import type { RequestHead } from './http1.ts';

/** Listening sockets per listener address (connections accepted per loop turn). */
const ACCEPT_SOCKETS = 16;

/** Listening sockets handed over by the process this one replaces (docs/operations.md). */
export interface InheritedSockets {
  /** The TLS session-ticket key the old process used, so sessions keep resuming. */
  readonly ticketKeys: Buffer | undefined;
  /** Ask for the sockets; `adopt` must take each one synchronously as it arrives. */
  take(adopt: (server: net.Server, index: number) => void): Promise<void>;
}

export interface ListenOptions {
  /** Accept from these sockets instead of binding new ones. */
  inherited?: InheritedSockets;
  /** Bind with SO_REUSEPORT even when another process holds the address. */
  share?: boolean;
}

/** What a listener hands to the proxy server. */
export interface ListenerHost {
  onRequest(listener: Listener, conn: ClientConnection, head: RequestHead): void;
  onUpgrade(listener: Listener, conn: ClientConnection, head: RequestHead, rest: Buffer): void;
  /** A connection closed (requests and tunnels alike). */
  onConnectionClosed(): void;
  /** A client connection was accepted (TLS: after the handshake). */
  onConnectionAccepted(listener: string): void;
}

export class Listener implements ConnectionOwner, ListenerContext {
  name: string;
  /** Address plus everything that needs a re-bind when it changes. */
  readonly key: string;
  /** The same with the bound port (so `:0` made explicit by a reload matches, no re-bind). */
  boundKey: string;
  runtime: ListenerRuntime;
  /** The snapshot this listener's requests start on (the new one as soon as it is bound). */
  snapshot: DataPlaneSnapshot;
  readonly proto: 'http' | 'https';
  maxBodySize = 0;
  upgrades: readonly string[] = [];
  maxHeaderSize = 0;
  headerTimeout = 0;
  requestTimeout = 0;
  idleTimeout = 0;
  closing = false;
  /** The listening sockets of the one address; the first one's address is the listener's. */
  readonly servers: net.Server[] = [];
  readonly conns = new Set<ClientConnection>();
  /** TLS session-ticket key of all the address's sockets (handed over with them). */
  readonly ticketKeys: Buffer | undefined;
  readonly #host: ListenerHost;
  readonly #newServer: () => net.Server;
  #sweeper: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  #tls: ListenerTls | undefined;

  constructor(
    name: string,
    runtime: ListenerRuntime,
    key: string,
    snapshot: DataPlaneSnapshot,
    host: ListenerHost,
    ticketKeys?: Buffer,
  ) {
    this.name = name;
    this.key = key;
    this.boundKey = key;
    this.runtime = runtime;
    this.snapshot = snapshot;
    this.#host = host;
    const lc = runtime.config;
    this.proto = lc.tls !== undefined ? 'https' : 'http';
    this.configure(runtime, snapshot);
    const accept = (socket: net.Socket): void => {
      const conn = new ClientConnection(socket, this);
      this.conns.add(conn);
      host.onConnectionAccepted(this.name);
      conn.start();
    };
    let tlsOptions: tls.TlsOptions | undefined;
    this.ticketKeys = lc.tls === undefined ? undefined : (ticketKeys ?? randomBytes(48));
    if (lc.tls !== undefined) {
      const loaded = loadListenerTls(name, lc.tls);
      this.#tls = loaded;
      tlsOptions = {
        ...loaded.main,
        handshakeTimeout: lc.timeouts.header,
        allowHalfOpen: true,
        // One ticket key for all the address's sockets, so a client resumes its TLS session
        // whichever socket the kernel hands its next connection to.
        ...(this.ticketKeys === undefined ? {} : { ticketKeys: this.ticketKeys }),
        // Looked up on every handshake, so a certificate swapped by a reload applies at once.
        SNICallback: (servername, cb) => cb(null, this.#tls?.pick(servername)),
      };
    }
    this.#newServer = () => {
      if (tlsOptions !== undefined) {
        const server = tls.createServer(tlsOptions, accept);
        server.on('tlsClientError', (_err: Error, socket: net.Socket) => socket.destroy());
        return server;
      }
      // Half-open: a client that shuts its sending side after a request still gets the answer.
      return net.createServer({ allowHalfOpen: true }, accept);
    };
    for (let i = 0; i < ACCEPT_SOCKETS; i++) this.servers.push(this.#newServer());
  }

  /**
   * Load the certificates of a (new) config of this listener, before the swap: undefined when
   * the files did not change, else the step that puts them in place (FULCRUM_ERR_TLS if they
   * do not load). A renewed certificate needs no re-bind: new handshakes get it.
   */
  prepareTls(runtime: ListenerRuntime): (() => void) | undefined {
    const t = runtime.config.tls;
    if (t === undefined || this.#tls === undefined || tlsDigest(t) === this.#tls.digest) return undefined;
    const next = loadListenerTls(this.name, t);
    return () => {
      this.#tls = next;
      for (const server of this.servers) {
        (server as tls.Server).setSecureContext({
          ...next.main,
          ...(this.ticketKeys === undefined ? {} : { ticketKeys: this.ticketKeys }),
        });
      }
    };
  }

  /** Take the limits and timeouts of a (new) snapshot's listener config. */
  configure(runtime: ListenerRuntime, snapshot: DataPlaneSnapshot): void {
    const lc = runtime.config;
    this.runtime = runtime;
    this.snapshot = snapshot;
    this.maxBodySize = lc.limits.maxBodySize;
    this.upgrades = lc.upgrades.map((u) => u.toLowerCase());
    this.maxHeaderSize = lc.limits.maxHeaderSize;
    this.headerTimeout = lc.timeouts.header;
    this.requestTimeout = lc.timeouts.request;
    this.idleTimeout = lc.timeouts.idle;
  }

  // --- ConnectionOwner ------------------------------------------------------------------

  onRequest(conn: ClientConnection, head: RequestHead): void {
    this.#host.onRequest(this, conn, head);
  }

  onUpgrade(conn: ClientConnection, head: RequestHead, rest: Buffer): void {
    this.#host.onUpgrade(this, conn, head, rest);
  }

  onClose(conn: ClientConnection): void {
    this.conns.delete(conn);
    this.#host.onConnectionClosed();
  }

  // --- lifecycle ------------------------------------------------------------------------

  /**
   * Bind every listening socket: the first on `address`, the others on the port it got — or
   * accept from sockets handed over by the process this one replaces. An address another
   * process holds is refused (FULCRUM_ERR_LISTEN_IN_USE) unless `share` is set.
   */
  async listen(address: string, options: ListenOptions = {}): Promise<void> {
    const hp = parseAddress(address);
    const name = this.name;
    if (hp === undefined) {
      throw new FulcrumError('FULCRUM_ERR_LISTEN', `listeners.${name}: bad address ${address}`);
    }
    const inherited = options.inherited;
    if (
      inherited === undefined &&
      options.share !== true &&
      hp.port !== 0 &&
      (await heldElsewhere(hp.host, hp.port))
    ) {
      throw new FulcrumError(
        'FULCRUM_ERR_LISTEN_IN_USE',
        `listeners.${name}: another process listens on ${address}; to replace a running fulcrum use a handover (kill -USR2 <pid>, docs/operations.md), or start with --share-address to overlap on purpose`,
        { listener: name, address },
      );
    }
    const [first, ...rest] = this.servers as [net.Server, ...net.Server[]];
    try {
      if (inherited !== undefined) {
        // The same kernel sockets: connections queued in them are not lost by the replacement.
        await inherited.take((from, i) => {
          let server = this.servers[i];
          if (server === undefined) this.servers.push((server = this.#newServer()));
          // Synchronous: the received socket must have its handler before the loop polls again.
          server.listen(from);
        });
        this.#startSweep();
        return;
      }
      await bind(first, hp.host, hp.port);
      const port = (first.address() as net.AddressInfo).port;
      await Promise.all(rest.map((server) => bind(server, hp.host, port)));
    } catch (err) {
      // The first socket bound and a sibling could not share its port: SO_REUSEPORT is
      // missing (a Node older than 22.12 ignores `reusePort`), not another process.
      const shared = first.listening && (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
      for (const server of this.servers) if (server.listening) server.close();
      throw new FulcrumError(
        'FULCRUM_ERR_LISTEN',
        `listeners.${name}: cannot bind ${address}: ${(err as Error).message}${shared ? ' (the listening sockets could not share the port: SO_REUSEPORT needs Node.js >= 22.12 on Linux)' : ''}`,
        { listener: name, address },
        { cause: err },
      );
    }
    this.#startSweep();
  }

  address(): { host: string; port: number; family: string } | undefined {
    const a = this.servers[0]?.address();
    if (a === null || a === undefined || typeof a === 'string') return undefined;
    return { host: a.address, port: a.port, family: a.family };
  }

  /** Stop accepting; resolves once the servers and all their connections are closed. */
  close(): Promise<void> {
    this.closing = true;
    this.#closed ??= Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (!server.listening) resolve();
            else server.close(() => resolve());
          }),
      ),
    ).then(() => {
      if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    });
    return this.#closed;
  }

  /** Close the connections that carry no request right now. */
  closeIdle(): void {
    for (const conn of this.conns) if (conn.idle) conn.destroy();
  }

  closeAll(): void {
    for (const conn of this.conns) conn.destroy();
  }

  #startSweep(): void {
    // Deadlines are checked this often: a quarter of the header timeout, within 0.1-1 s.
    const every = Math.max(100, Math.min(1000, Math.floor(this.headerTimeout / 4)));
    this.#sweeper = setInterval(() => {
      const now = performance.now();
      for (const conn of this.conns) if (conn.deadline !== 0 && now > conn.deadline) conn.expire();
    }, every);
    this.#sweeper.unref();
  }
}

/**
 * Whether another process listens on host:port: a probe bound without SO_REUSEPORT fails with
 * EADDRINUSE if any socket holds the address (SO_REUSEPORT would let a second balancer in).
 */
export function heldElsewhere(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'EADDRINUSE'));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

/**
 * SO_REUSEPORT: the listener's sockets share the address, and a reload that re-binds an address
 * (new TLS files, port 0 made explicit) binds the new sockets before the old ones close, so no
 * connection is refused meanwhile.
 */
function bind(server: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, reusePort: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

interface ListenerTls {
  readonly digest: string;
  readonly main: { cert: Buffer; key: Buffer };
  /** Exact server names first, then a one-label wildcard (`*.example.com`), else the default certificate. */
  pick(servername: string): tls.SecureContext;
}

function loadListenerTls(listener: string, t: NonNullable<ListenerConfig['tls']>): ListenerTls {
  let pair: { cert: string; key: string } = t;
  try {
    const digest = tlsDigest(t);
    const byName = new Map<string, tls.SecureContext>();
    for (const sni of t.sni) {
      pair = sni;
      byName.set(sni.serverName.toLowerCase(), loadTlsPair(sni).context);
    }
    pair = t;
    const main = loadTlsPair(t);
    return {
      digest,
      main: main.options,
      pick(servername) {
        const name = servername.toLowerCase();
        const dot = name.indexOf('.');
        return byName.get(name) ?? (dot > 0 ? byName.get(`*${name.slice(dot)}`) : undefined) ?? main.context;
      },
    };
  } catch (err) {
    // Fails here, not at bind time, on a key that does not match or cannot be parsed.
    throw new FulcrumError(
      'FULCRUM_ERR_TLS',
      `listeners.${listener}.tls: ${(err as Error).message}`,
      { listener, cert: pair.cert, key: pair.key },
      { cause: err },
    );
  }
}
