// The upstream call over undici, for the node:http vs undici comparison of bench/ (issue 2
// item 7). One undici Pool per backend (connections bounded by `maxRequests`, idle sockets
// closed after the pool's idle timeout), driven through the low-level dispatch handler API:
// one handler object per try is the UpstreamCall itself, no promise and no closure per request.
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { Client, Pool, type Dispatcher } from 'undici';
import type {
  Upstream,
  UpstreamCall,
  UpstreamHandler,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamTarget,
} from './upstream.ts';

/** Errors that mean no connection was made (the request never reached the backend). */
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Headers undici frames itself or refuses (it chunks a body of unknown length on its own). */
const REFUSED = new Set(['transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect']);

/** Errors of a connection the backend closed; on a reused socket they mean a stale keep-alive. */
const STALE_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

type CountedSocket = Socket & { fulcrumUses?: number };

/**
 * A Client that tells each try which connection carries it, so a reset on a reused keep-alive
 * socket can be told from one on a fresh connection (undici does not say which it was).
 */
class TrackedClient extends Client {
  socket: CountedSocket | undefined;

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    (handler as unknown as UndiciCall).client = this;
    return super.dispatch(options, handler);
  }
}

function trackedClient(origin: URL | string, options: Client.Options): TrackedClient {
  const connect = options.connect;
  if (typeof connect !== 'function') return new TrackedClient(origin, options);
  const client: TrackedClient = new TrackedClient(origin, {
    ...options,
    connect: (opts, callback) =>
      connect(opts, (...args) => {
        if (args[1] !== null) client.socket = args[1] as CountedSocket;
        callback(...args);
      }),
  });
  return client;
}

/** The backend's answer as the Readable the exchange pipes to the client. */
class UndiciResponse extends Readable {
  statusCode: number | undefined;
  rawHeaders: string[];
  complete = false;
  resumeSocket: (() => void) | undefined;

  constructor(statusCode: number, rawHeaders: string[], resume: () => void) {
    super();
    this.statusCode = statusCode;
    this.rawHeaders = rawHeaders;
    this.resumeSocket = resume;
  }

  override _read(): void {
    this.resumeSocket?.();
  }
}

/** The request body as undici reads it: chunks pushed by the exchange. */
class BodySource extends Readable {
  call: UndiciCall;

  constructor(call: UndiciCall) {
    super();
    this.call = call;
  }

  override _read(): void {
    this.call.handler?.onUpstreamDrain();
  }
}

class UndiciCall implements UpstreamCall {
  handler: UpstreamHandler | undefined;
  body: BodySource | undefined;
  res: UndiciResponse | undefined;
  abort: ((err?: Error) => void) | undefined;
  abandoned = false;
  connected = false;
  /** Set by TrackedClient when the try is handed to a connection. */
  client: TrackedClient | undefined;
  reused = false;

  constructor(handler: UpstreamHandler, hasBody: boolean) {
    this.handler = handler;
    if (hasBody) this.body = new BodySource(this);
  }

  write(chunk: Buffer): boolean {
    return this.body === undefined ? true : this.body.push(chunk);
  }

  end(): void {
    this.body?.push(null);
  }

  abandon(): void {
    this.handler = undefined;
    this.abandoned = true;
    this.abort?.();
    this.body?.destroy();
    this.res?.destroy();
  }

  detach(): void {
    this.handler = undefined;
  }

  // --- undici dispatch handler ---------------------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    // undici calls this as it starts writing the request on a connected socket.
    if (this.abandoned) {
      abort();
      return;
    }
    this.connected = true;
    const socket = this.client?.socket;
    if (socket !== undefined) {
      const uses = socket.fulcrumUses ?? 0;
      this.reused = uses > 0;
      socket.fulcrumUses = uses + 1;
    }
    this.handler?.onUpstreamConnected();
  }

  onHeaders(statusCode: number, raw: Buffer[], resume: () => void): boolean {
    const headers = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) headers[i] = (raw[i] as Buffer).toString('latin1');
    const res = new UndiciResponse(statusCode, headers, resume);
    this.res = res;
    const h = this.handler;
    if (h === undefined) res.resume();
    else h.onUpstreamResponse(res as UpstreamResponse);
    return true;
  }

  onData(chunk: Buffer): boolean {
    return (this.res as UndiciResponse).push(chunk);
  }

  onComplete(): void {
    const res = this.res as UndiciResponse;
    res.complete = true;
    res.push(null);
  }

  onError(err: Error & { code?: string }): void {
    const res = this.res;
    if (res !== undefined) {
      // Broken off mid-body: the exchange sees an incomplete close.
      res.destroy();
      return;
    }
    const h = this.handler;
    if (h === undefined) return;
    this.handler = undefined;
    const code = err.code ?? '';
    if (!this.connected || CONNECT_CODES.has(code)) h.onUpstreamError(err, 'connect');
    else h.onUpstreamError(err, this.reused && STALE_CODES.has(code) ? 'stale' : 'sent');
  }
}

/**
 * One pass over the header list: whether a body follows, and the list undici accepts (the
 * same array when nothing must go, which is the common case: the exchange already dropped
 * hop-by-hop headers and only adds `transfer-encoding: chunked` for a body of unknown length).
 */
function prepare(headers: string[]): { body: boolean; headers: string[] } {
  let body = false;
  let refused = false;
  for (let i = 0; i < headers.length; i += 2) {
    const n = (headers[i] as string).toLowerCase();
    if (n === 'content-length') body ||= headers[i + 1] !== '0';
    else if (n === 'transfer-encoding') body = refused = true;
    else if (REFUSED.has(n)) refused = true;
  }
  if (!refused) return { body, headers };
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i] as string;
    if (!REFUSED.has(n.toLowerCase())) out.push(n, headers[i + 1] as string);
  }
  return { body, headers: out };
}

interface PoolEntry {
  pool: Pool;
  connections: number;
  idleMs: number;
}

export class UndiciUpstream implements Upstream {
  readonly #pools = new Map<UpstreamTarget, PoolEntry>();

  #pool(target: UpstreamTarget, idleMs: number): Pool {
    const e = this.#pools.get(target);
    if (e !== undefined && e.connections === target.maxRequests && e.idleMs === idleMs) return e.pool;
    // undici fixes these at construction: a changed cap or idle timeout gets a fresh pool and
    // the old one finishes its running requests.
    if (e !== undefined) e.pool.close().catch(ignore);
    const pool = new Pool(`http://${target.hostname}:${target.port}`, {
      connections: target.maxRequests,
      pipelining: 1,
      keepAliveTimeout: idleMs,
      keepAliveMaxTimeout: idleMs,
      // The exchange runs its own connect and response timers.
      headersTimeout: 0,
      bodyTimeout: 0,
      factory: trackedClient,
    });
    this.#pools.set(target, { pool, connections: target.maxRequests, idleMs });
    return pool;
  }

  request(
    target: UpstreamTarget,
    idleMs: number,
    req: UpstreamRequest,
    handler: UpstreamHandler,
  ): UpstreamCall {
    const prepared = prepare(req.headers);
    const call = new UndiciCall(handler, prepared.body);
    this.#pool(target, idleMs).dispatch(
      {
        method: req.method,
        path: req.path,
        headers: prepared.headers,
        body: call.body ?? null,
      },
      call,
    );
    return call;
  }

  retain(targets: ReadonlySet<UpstreamTarget>): void {
    for (const [t, e] of this.#pools) {
      if (targets.has(t)) continue;
      e.pool.close().catch(ignore);
      this.#pools.delete(t);
    }
  }

  close(): void {
    for (const e of this.#pools.values()) e.pool.destroy().catch(ignore);
    this.#pools.clear();
  }
}

function ignore(): void {}
