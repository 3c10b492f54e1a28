// One client request on its way through the proxy: route, pick, forward, retry, answer.
// The Exchange object is the only per-request allocation of note: it is both the client
// connection's exchange and its upstream call's handler, so no closures are created per request.
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PickTrace } from '../balancer/policy.ts';
import type { HostState, OutcomeKind } from '../data-plane/host-state.ts';
import type { PoolRuntime, Snapshot } from '../data-plane/snapshot.ts';
import type { Router } from '../data-plane/router.ts';
import { errorBody } from './answers.ts';
import type { ClientConnection, ClientExchange } from './client-connection.ts';
import { requestHashKey, routeToPool } from './front.ts';
import { forwardRequestHeaders, forwardResponseHeaders, type RequestFacts } from './headers.ts';
import type { RequestHead, ResponseHead } from './http1.ts';
import type {
  BodyFraming,
  Upstream,
  UpstreamCall,
  UpstreamErrorStage,
  UpstreamHandler,
  UpstreamRequest,
} from './upstream.ts';

/** Live counters of one pool for the retry budget (kept across snapshots by pool name). */
export interface PoolCounters {
  active: number;
  retrying: number;
}

/** What an exchange needs from its listener (updated in place on reload). */
export interface ListenerContext {
  name: string;
  proto: 'http' | 'https';
  maxBodySize: number;
  /** The listener is being removed or the proxy shuts down: answer with `connection: close`. */
  closing: boolean;
}

/** What an exchange needs from the proxy server. */
export interface ExchangeCore {
  readonly hub: EventHub;
  readonly upstream: Upstream;
  counters(pool: string): PoolCounters;
  /** Token check for `x-fulcrum-explain` (false when no token is configured). */
  explainAllowed(value: string): boolean;
  auditAllowed(value: string): boolean;
  nextRequestId(): string;
  exchangeDone(): void;
}

type RetryKind = 'connect-failure' | 'reset' | 'timeout' | 'connect-timeout' | number;

const CLIENT_CLOSED = 499;

export class Exchange implements UpstreamHandler, ClientExchange, RequestFacts {
  readonly core: ExchangeCore;
  readonly listener: ListenerContext;
  readonly conn: ClientConnection;
  readonly head: RequestHead;
  readonly startedAt = performance.now();
  requestId = '';

  // RequestFacts, filled while the upstream header list is built.
  hostHeader: string | undefined = undefined;
  clientRequestId: string | undefined = undefined;
  explainHeader: string | undefined = undefined;
  auditHeader: string | undefined = undefined;

  pool: PoolRuntime | undefined;
  counters: PoolCounters | undefined;
  hashKey: string | undefined;
  upstreamReq: UpstreamRequest | undefined;
  trace: PickTrace | undefined;
  audit = false;

  host: HostState | undefined;
  hostOpen = false;
  tryStartedAt = 0;
  call: UpstreamCall | undefined;
  connected = false;
  timer: NodeJS.Timeout | undefined;
  timerMs = 0;
  tryTimeoutMs = 0;

  mayRetry = false;
  retries = 0;
  tried: Set<HostState> | undefined;
  retryCounted = false;
  /** The request was sent again after a stale pooled connection. */
  staleResent = false;

  hasBody = false;
  bodyEnded = false;
  bodyBytes = 0;
  /** Body chunks kept for replay while everything streamed so far fits in bufferSize. */
  replay: Buffer[] | undefined;

  responding = false;
  /** The backend's body arrived in full. */
  upComplete = false;
  upKind: OutcomeKind = 'success';
  upBroken = false;
  /** Backend that was reached but failed to answer (reset after send, timeout). */
  failedHost: HostState | undefined = undefined;
  error: ErrorCode | undefined;
  done = false;

  constructor(core: ExchangeCore, listener: ListenerContext, conn: ClientConnection, head: RequestHead) {
    this.core = core;
    this.listener = listener;
    this.conn = conn;
    this.head = head;
  }

  /** Route, pick and forward. Answers at once when there is no route or no backend. */
  start(snapshot: Snapshot, router: Router): void {
    const head = this.head;
    const url = head.url;
    const headers = forwardRequestHeaders(head, this, {
      clientIp: this.conn.remoteAddress,
      proto: this.listener.proto,
      upgrade: false,
    });
    const id = this.clientRequestId;
    this.requestId = id !== undefined && id !== '' ? id : this.core.nextRequestId();
    headers.push('x-request-id', this.requestId);

    const pool = routeToPool(snapshot, router, this.hostHeader, url, head.rawHeaders);
    if (typeof pool === 'string') return this.fail(pool);
    this.pool = pool;
    const counters = this.core.counters(pool.name);
    this.counters = counters;
    counters.active++;

    if (head.contentLength > this.listener.maxBodySize) return this.fail('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
    this.hasBody = head.chunked || head.contentLength > 0;
    const config = pool.config;
    const retries = config.retries;
    this.mayRetry = retries.attempts > 0 && retries.methods.includes(head.method);
    if (this.hasBody && this.mayRetry && retries.bufferSize > 0) this.replay = [];
    this.hashKey = requestHashKey(pool, url, this.conn.remoteAddress, head.rawHeaders);
    if (this.explainHeader !== undefined && this.core.explainAllowed(this.explainHeader)) {
      this.trace = { reason: '', candidates: [] };
    }
    this.audit = this.auditHeader !== undefined && this.core.auditAllowed(this.auditHeader);
    this.tryTimeoutMs = retries.perTryTimeout > 0 ? retries.perTryTimeout : config.timeouts.response;

    const host = this.pick();
    if (host === undefined) return this.fail('FULCRUM_ERR_PROXY_NO_BACKEND');
    // HTTP/1.0 clients may send no Host; the backend still needs one.
    if (this.hostHeader === undefined) headers.push('host', host.address);
    this.upstreamReq = { method: head.method, path: url, headers };
    this.startTry(host);
  }

  private pick(): HostState | undefined {
    const trace = this.trace;
    if (trace !== undefined) {
      trace.reason = '';
      trace.candidates = [];
    }
    return (this.pool as PoolRuntime).state.pick(this.hashKey, this.tried, trace);
  }

  private startTry(host: HostState): void {
    this.host = host;
    host.requestStarted();
    this.hostOpen = true;
    this.tryStartedAt = performance.now();
    this.send(false, this.retries > 0);
  }

  /** Send the request to this.host; `replay`: resend the body kept so far. */
  private send(fresh: boolean, replay: boolean): void {
    const pool = this.pool as PoolRuntime;
    this.connected = false;
    const call = this.core.upstream.request(
      this.host as HostState,
      pool.config.timeouts.idle,
      this.upstreamReq as UpstreamRequest,
      this,
      fresh,
    );
    this.call = call;
    if (this.hasBody && replay && this.replay !== undefined) {
      for (let i = 0; i < this.replay.length; i++) call.write(this.replay[i] as Buffer);
    }
    if (!this.hasBody || this.bodyEnded) call.end();
    else this.conn.resume();
    if (call.connected) this.onUpstreamConnected();
    // Covers a request queued for a connection as well as the connect itself.
    else this.arm(pool.config.timeouts.connect + this.tryTimeoutMs);
  }

  private arm(ms: number): void {
    const t = this.timer;
    if (t !== undefined) {
      // Re-arming with the same duration reuses the timer object.
      if (this.timerMs === ms) {
        t.refresh();
        return;
      }
      clearTimeout(t);
    }
    this.timerMs = ms;
    this.timer = setTimeout(onTimer, ms, this);
  }

  private disarm(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private finishTry(kind: OutcomeKind): void {
    if (!this.hostOpen) return;
    this.hostOpen = false;
    (this.host as HostState).requestFinished(kind, performance.now() - this.tryStartedAt);
  }

  // --- client body -------------------------------------------------------------------

  onClientData(chunk: Buffer): void {
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.listener.maxBodySize) {
      this.abandonCall();
      this.finishTry('success');
      this.fail('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
      return;
    }
    if (this.replay !== undefined) {
      const limit = (this.pool as PoolRuntime).config.retries.bufferSize;
      if (this.bodyBytes <= limit) this.replay.push(chunk);
      else this.replay = undefined;
    }
    const call = this.call;
    if (call !== undefined && !call.write(chunk)) this.conn.pause();
  }

  onClientEnd(): void {
    this.bodyEnded = true;
    const call = this.call;
    if (call === undefined) return;
    call.end();
    if (this.connected && !this.responding) this.arm(this.tryTimeoutMs);
  }

  onClientDrain(): void {
    const call = this.call;
    if (call === undefined) return;
    call.resume();
    // The stall timer pauses while the client holds the body back.
    if (this.responding) this.arm(this.tryTimeoutMs);
  }

  // --- upstream events ---------------------------------------------------------------

  onUpstreamConnected(): void {
    this.connected = true;
    // The response timeout runs from the moment the whole request is sent.
    if (!this.hasBody || this.bodyEnded) this.arm(this.tryTimeoutMs);
    else this.disarm();
  }

  onUpstreamDrain(): void {
    if (this.hasBody && !this.bodyEnded) this.conn.resume();
  }

  onUpstreamError(_err: Error, stage: UpstreamErrorStage): void {
    this.disarm();
    this.call = undefined;
    if (this.responding) {
      // The head may still wait for the first body bytes: then an honest 502 is still possible.
      if (!this.conn.retractHead()) {
        this.upBroken = true;
        this.conn.destroy();
        return;
      }
      this.responding = false;
    } else if (stage === 'stale' && !this.staleResent && (!this.hasBody || this.replay !== undefined)) {
      // The backend closed a pooled connection as it was reused, before reading the request:
      // not the backend's failure. Same backend, same try, on a new connection (once).
      this.staleResent = true;
      this.send(true, true);
      return;
    }
    this.finishTry('local-failure');
    if (stage === 'sent') this.afterFailure('reset', 'FULCRUM_ERR_PROXY_UPSTREAM_RESET');
    else this.afterFailure('connect-failure', 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
  }

  onTimer(): void {
    this.timer = undefined;
    if (this.responding) {
      // The backend stalled mid-body: the status is out, so the only honest signal is a cut.
      this.abandonCall();
      this.upBroken = true;
      this.error = 'FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT';
      this.conn.destroy();
      return;
    }
    const kind: RetryKind = this.connected ? 'timeout' : 'connect-timeout';
    this.abandonCall();
    this.finishTry('local-failure');
    this.afterFailure(kind, 'FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT');
  }

  onUpstreamResponse(upHead: ResponseHead, framing: BodyFraming): void {
    // A body to come keeps the response timer, now as the longest pause between body bytes.
    if (framing === 'none') this.disarm();
    else this.timer?.refresh();
    const lameDuck = (this.pool as PoolRuntime).config.lameDuckHeader;
    if (lameDuck !== undefined && hasHeader(upHead.rawHeaders, lameDuck))
      (this.host as HostState).markLameDuck();
    const status = upHead.status;
    const kind: OutcomeKind =
      status === 502 || status === 503 || status === 504
        ? 'gateway-error'
        : status >= 500
          ? 'http-5xx'
          : 'success';
    if (status >= 500) {
      const next = this.retryTarget(status);
      if (next !== undefined) {
        const call = this.call as UpstreamCall;
        this.call = undefined;
        // A request never finished on this connection cannot be reused; otherwise the
        // discarded answer is read to its end so the connection goes back to the pool.
        if (this.hasBody && !this.bodyEnded) call.abandon();
        else call.detach();
        this.disarm();
        this.finishTry(kind);
        this.beginRetry(next);
        return;
      }
    }
    this.responding = true;
    this.upKind = kind;
    this.conn.writeHead(
      status,
      upHead.reason,
      // A 204 has no length to state; HEAD and 304 answers keep the length they announce.
      forwardResponseHeaders(
        upHead.rawHeaders,
        this.responseExtras(),
        status === 204 ? undefined : upHead.contentLengthText,
      ),
      framing,
    );
  }

  onUpstreamInformational(upHead: ResponseHead): void {
    this.timer?.refresh();
    this.conn.writeInformational(upHead.status, upHead.reason, forwardResponseHeaders(upHead.rawHeaders, []));
  }

  onUpstreamData(chunk: Buffer): boolean {
    if (this.conn.write(chunk)) {
      this.timer?.refresh();
      return true;
    }
    this.disarm();
    return false;
  }

  onUpstreamEnd(trailers?: readonly string[]): void {
    this.upComplete = true;
    this.call = undefined;
    this.conn.end(undefined, trailers);
  }

  private responseExtras(): string[] {
    const extra = ['x-request-id', this.requestId];
    if (this.audit && this.host !== undefined) extra.push('x-fulcrum-backend', this.host.name);
    if (this.trace !== undefined) extra.push('x-fulcrum-explain', this.explainValue());
    return extra;
  }

  private explainValue(): string {
    const pool = this.pool as PoolRuntime;
    const trace = this.trace as PickTrace;
    return JSON.stringify({
      pool: pool.name,
      policy: pool.config.policy,
      backend: this.host?.name,
      state: this.host?.status,
      panic: pool.state.panic,
      candidates: pool.state.candidates.length,
      reason: trace.reason,
      scores: trace.candidates,
      retries: this.retries,
    });
  }

  // --- retries -----------------------------------------------------------------------

  private afterFailure(kind: RetryKind, code: ErrorCode): void {
    const next = this.retryTarget(kind);
    if (next !== undefined) return this.beginRetry(next);
    // Blame a backend only when it was reached (the monitor attributes errors by backend).
    if (kind === 'reset' || kind === 'timeout') this.failedHost = this.host;
    this.fail(code);
  }

  /** The backend for a retry, or undefined when the rules forbid one. */
  private retryTarget(kind: RetryKind): HostState | undefined {
    if (!this.mayRetry || this.done) return undefined;
    const pool = this.pool as PoolRuntime;
    const r = pool.config.retries;
    if (this.retries >= r.attempts) return undefined;
    // Never once more body was streamed than kept for replay.
    if (this.hasBody && this.replay === undefined) return undefined;
    if (!retryOn(r.on, kind)) return undefined;
    const c = this.counters as PoolCounters;
    if (!this.retryCounted && c.retrying + 1 > Math.max(r.minRetryConcurrency, r.budget * c.active))
      return undefined;
    const tried = (this.tried ??= new Set());
    tried.add(this.host as HostState);
    return this.pick();
  }

  private beginRetry(host: HostState): void {
    this.retries++;
    if (!this.retryCounted) {
      this.retryCounted = true;
      (this.counters as PoolCounters).retrying++;
    }
    this.startTry(host);
  }

  // --- answers and the end -----------------------------------------------------------

  private abandonCall(): void {
    this.disarm();
    const call = this.call;
    if (call !== undefined) {
      this.call = undefined;
      call.abandon();
    }
  }

  /** The listener's request timeout hit while the client was still sending its body. */
  clientTimedOut(): void {
    this.abandonCall();
    this.finishTry('success');
    this.fail('FULCRUM_ERR_PROXY_CLIENT_TIMEOUT');
  }

  /** The client's chunked body turned out malformed mid-way: the backend never gets its end. */
  clientFailed(code: ErrorCode): void {
    this.abandonCall();
    this.finishTry('success');
    this.fail(code);
  }

  /** Answer on the backend's behalf (or cut the response if its headers already went out). */
  fail(code: ErrorCode): void {
    this.error = code;
    const conn = this.conn;
    if (conn.headersSent) {
      conn.destroy();
      return;
    }
    const body = errorBody(code);
    const headers = [
      'content-type',
      'text/plain; charset=utf-8',
      'content-length',
      String(body.length),
      'x-fulcrum-error',
      code,
      'x-request-id',
      this.requestId,
    ];
    // A client still sending a refused or overdue body should not keep the connection.
    const close =
      code === 'FULCRUM_ERR_PROXY_BODY_TOO_LARGE' ||
      code === 'FULCRUM_ERR_PROXY_CLIENT_TIMEOUT' ||
      code === 'FULCRUM_ERR_PROXY_BAD_CHUNK';
    conn.writeHead(ERRORS[code].status, '', headers, 'length', close);
    conn.end(body);
  }

  /** The client response closed (finished or not): settle the try and report the outcome once. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.disarm();
    const conn = this.conn;
    const clientLeft = !conn.responseEnded;
    if (this.call !== undefined && (!this.responding || !this.upComplete)) this.abandonCall();
    // A client that leaves is not the backend's fault.
    this.finishTry(this.upBroken ? 'local-failure' : this.responding ? this.upKind : 'success');
    const counters = this.counters;
    if (counters !== undefined) {
      counters.active--;
      if (this.retryCounted) counters.retrying--;
    }
    let error: string | undefined = this.error;
    if (this.upBroken) error ??= 'FULCRUM_ERR_PROXY_UPSTREAM_RESET';
    const status = clientLeft && !this.upBroken && this.error === undefined ? CLIENT_CLOSED : conn.statusCode;
    this.core.hub.requests.emit({
      listener: this.listener.name,
      pool: this.pool?.name ?? '',
      backend: this.responding ? this.host?.name : this.failedHost?.name,
      status,
      durationMs: performance.now() - this.startedAt,
      error,
      retries: this.retries,
      requestId: this.requestId,
      method: this.head.method,
      hashKey: this.hashKey,
    });
    this.core.exchangeDone();
  }
}

function hasHeader(raw: readonly string[], name: string): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === name.length && n.toLowerCase() === name.toLowerCase()) return true;
  }
  return false;
}

/** Whether the pool's `retries.on` list covers this failure. */
function retryOn(on: readonly string[], kind: RetryKind): boolean {
  if (typeof kind === 'number') {
    if (on.includes('5xx')) return true;
    return (
      (kind === 502 && on.includes('502')) ||
      (kind === 503 && on.includes('503')) ||
      (kind === 504 && on.includes('504'))
    );
  }
  // A connect that times out never reached the backend: both names cover it.
  if (kind === 'connect-timeout') return on.includes('connect-failure') || on.includes('timeout');
  return on.includes(kind);
}

function onTimer(ex: Exchange): void {
  ex.onTimer();
}
