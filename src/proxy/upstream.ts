// The upstream call, behind a small interface so a second implementation (undici) can be
// measured against node:http without touching the request path. The node:http version keeps
// one keep-alive Agent per backend, bounded by the backend's `maxRequests`; idle sockets are
// closed after the pool's idle timeout (below the usual 5 s server keep-alive of backends).
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';

/** What an upstream implementation needs to know about a backend. */
export interface UpstreamTarget {
  readonly hostname: string;
  readonly port: number;
  readonly maxRequests: number;
}

/** A response from the backend: status, raw header list and the body as a stream. */
export type UpstreamResponse = Readable & {
  statusCode?: number | undefined;
  rawHeaders: string[];
  complete: boolean;
};

export type UpstreamErrorStage = 'connect' | 'stale' | 'sent';

/** Receives the events of one try. Calls stop once the try is aborted. */
export interface UpstreamHandler {
  /** The connection is established (at once for a reused keep-alive socket). */
  onUpstreamConnected(): void;
  onUpstreamResponse(res: UpstreamResponse): void;
  /**
   * Failure before a response arrived. `connect`: no connection (refused, unreachable);
   * `stale`: a reused keep-alive socket the backend had already closed (the request never
   * reached it); `sent`: the request was sent and the connection broke or the answer was malformed.
   */
  onUpstreamError(err: Error & { code?: string }, stage: UpstreamErrorStage): void;
  /** The request body sink accepts more after write() returned false. */
  onUpstreamDrain(): void;
}

/** The request body side of one try. */
export interface UpstreamCall {
  write(chunk: Buffer): boolean;
  end(): void;
  /** Abandon the try: no more handler calls, the connection is destroyed. */
  abandon(): void;
  /** Stop reporting to the handler but let the exchange finish (e.g. a discarded 503 being drained). */
  detach(): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat raw header list [name, value, name, value, ...], already filtered. */
  headers: string[];
}

export interface Upstream {
  request(
    target: UpstreamTarget,
    idleMs: number,
    req: UpstreamRequest,
    handler: UpstreamHandler,
  ): UpstreamCall;
  /** Close the agents of targets no longer in use (none of their requests in flight). */
  retain(targets: ReadonlySet<UpstreamTarget>): void;
  close(): void;
}

/** One try over node:http; shared listeners read the handler off `this` (no closures per request). */
class NodeCall extends http.ClientRequest implements UpstreamCall {
  handler: UpstreamHandler | undefined;
  connected = false;

  constructor(options: http.RequestOptions, handler: UpstreamHandler) {
    super(options);
    this.handler = handler;
    this.on('response', onResponse);
    this.on('error', onError);
    this.on('drain', onDrain);
    this.on('socket', onSocket);
  }

  abandon(): void {
    this.handler = undefined;
    this.destroy();
  }

  detach(): void {
    this.handler = undefined;
  }
}

function onResponse(this: NodeCall, res: http.IncomingMessage): void {
  const h = this.handler;
  if (h === undefined) {
    res.resume();
    return;
  }
  h.onUpstreamResponse(res as UpstreamResponse);
}

function onError(this: NodeCall, err: Error): void {
  const h = this.handler;
  if (h === undefined) return;
  this.handler = undefined;
  const code = (err as Error & { code?: string }).code;
  const stale = this.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
  h.onUpstreamError(err, !this.connected ? 'connect' : stale ? 'stale' : 'sent');
}

function onDrain(this: NodeCall): void {
  this.handler?.onUpstreamDrain();
}

function markConnected(call: NodeCall): void {
  call.connected = true;
  call.handler?.onUpstreamConnected();
}

function onSocket(this: NodeCall, socket: Socket): void {
  if (socket.connecting) {
    // Only new connections get here; the closure is per connection, not per request.
    socket.once('connect', () => {
      if (socket === this.socket) markConnected(this);
    });
  } else {
    markConnected(this);
  }
}

export class NodeHttpUpstream implements Upstream {
  readonly #agents = new Map<UpstreamTarget, http.Agent>();

  request(
    target: UpstreamTarget,
    idleMs: number,
    req: UpstreamRequest,
    handler: UpstreamHandler,
  ): UpstreamCall {
    let agent = this.#agents.get(target);
    if (agent === undefined) {
      agent = new http.Agent({
        keepAlive: true,
        maxSockets: target.maxRequests,
        // A socket idle in the pool longer than this is destroyed by the agent.
        timeout: idleMs,
        // Reuse the most recent socket so surplus ones age out instead of rotating forever.
        scheduling: 'lifo',
      });
      this.#agents.set(target, agent);
    } else {
      // Reloads may change the cap or idle timeout of a kept backend.
      agent.maxSockets = target.maxRequests;
      (agent as http.Agent & { options: http.AgentOptions }).options.timeout = idleMs;
    }
    return new NodeCall(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent,
        setHost: false,
      },
      handler,
    );
  }

  retain(targets: ReadonlySet<UpstreamTarget>): void {
    for (const [t, agent] of this.#agents) {
      if (targets.has(t)) continue;
      // Let running requests finish; the agent's idle timeout reaps what remains.
      if (Object.keys(agent.sockets).length === 0) agent.destroy();
      this.#agents.delete(t);
    }
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
  }
}
