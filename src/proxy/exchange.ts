// One client request on its way through the proxy: route, pick, forward, retry, answer.
// The Exchange object is the only per-request allocation of note: it is both the client
// connection's exchange and its upstream call's handler, so no closures are created per request.
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PickTrace } from '../balancer/policy.ts';
import type { DataPlaneHost, OutcomeKind } from '../data-plane/host-state.ts';
import type { DataPlanePool, DataPlaneSnapshot } from '../data-plane/snapshot.ts';
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

/** `unanswered`: the connection broke before any answer byte (retried as `reset`). */
type RetryKind = 'connect-failure' | 'reset' | 'unanswered' | 'timeout' | 'connect-timeout' | number;

const CLIENT_CLOSED = 499;

export class Exchange implements UpstreamHandler, ClientExchange, RequestFacts {
  readonly core: ExchangeCore;
  readonly listener: ListenerContext;
  readonly conn: ClientConnection;
  readonly head: RequestHead;
  readonly startedAt = performance.now();
  requestId = '';
  /** 'canary' when a traffic-slice canary runs this request on its snapshot. */
  slice: 'canary' | undefined = undefined;

  // RequestFacts, filled while the upstream header list is built.
  hostHeader: string | undefined = undefined;
  clientRequestId: string | undefined = undefined;
  explainHeader: string | undefined = undefined;
  auditHeader: string | undefined = undefined;
  userAgent: string | undefined = undefined;

  pool: DataPlanePool | undefined;
  counters: PoolCounters | undefined;
  hashKey: string | undefined;
  upstreamReq: UpstreamRequest | undefined;
  trace: PickTrace | undefined;
  audit = false;

  host: DataPlaneHost | undefined;
  hostOpen = false;
  tryStartedAt = 0;
  /** When the last try's connection was ready and its response head arrived (0 = not yet). */
  connectedAt = 0;
  headAt = 0;
  call: UpstreamCall | undefined;
  connected = false;
  timer: NodeJS.Timeout | undefined;
  timerMs = 0;
  tryTimeoutMs = 0;

  mayRetry = false;
  /** The method may run twice: it is in the pool's `retries.methods` (RFC 9110's idempotent ones by default). */
  idempotent = false;
  retries = 0;
  tried: Set<DataPlaneHost> | undefined;
  /** The request holds a slot of the retry budget (a retry after an answer or a timeout). */
  retryCounted = false;
  /** The backend the first try failed on, once the request was retried. */
  retriedFrom: DataPlaneHost | undefined = undefined;
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
  /** Backend of the last try when it failed without an answer (refused, reset, timeout). */
  failedHost: DataPlaneHost | undefined = undefined;
  /** The first pick found no backend (the pool had none available). */
  noneAvailable = false;
  error: ErrorCode | undefined;
  done = false;

  constructor(core: ExchangeCore, listener: ListenerContext, conn: ClientConnection, head: RequestHead) {
    this.core = core;
    this.listener = listener;
    this.conn = conn;
    this.head = head;
  }

  /** Route, pick and forward. Answers at once when there is no route or no backend. */
  start(snapshot: DataPlaneSnapshot, router: Router): void {
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
    if (typeof pool === 'string')
      return pool === 'FULCRUM_ERR_PROXY_NO_BACKEND' ? this.noBackend() : this.fail(pool);
    this.pool = pool;
    const counters = this.core.counters(pool.name);
    this.counters = counters;
    counters.active++;

    if (head.contentLength > this.listener.maxBodySize) return this.fail('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
    this.hasBody = head.chunked || head.contentLength > 0;
    const config = pool.config;
    const retries = config.retries;
    this.idempotent = retries.methods.includes(head.method);
    // Any method may go elsewhere after a connect failure (nothing was sent), so every request
    // with a body keeps it for replay at least until its connection is up.
    this.mayRetry = retries.attempts > 0;
    if (this.hasBody && this.mayRetry && retries.bufferSize > 0) this.replay = [];
    this.hashKey = requestHashKey(pool, url, this.conn.remoteAddress, head.rawHeaders);
    if (this.explainHeader !== undefined && this.core.explainAllowed(this.explainHeader)) {
      this.trace = { reason: '', candidates: [] };
    }
    this.audit = this.auditHeader !== undefined && this.core.auditAllowed(this.auditHeader);
    this.tryTimeoutMs = retries.perTryTimeout > 0 ? retries.perTryTimeout : config.timeouts.response;

    const host = this.pick();
    if (host === undefined) return this.noBackend();
    // HTTP/1.0 clients may send no Host; the backend still needs one.
    if (this.hostHeader === undefined) headers.push('host', host.address);
    this.upstreamReq = { method: head.method, path: url, headers };
    this.startTry(host);
  }

  private pick(): DataPlaneHost | undefined {
    const trace = this.trace;
    if (trace !== undefined) {
      trace.reason = '';
      trace.candidates = [];
    }
    return (this.pool as DataPlanePool).state.pick(this.hashKey, this.tried, trace);
  }

  private startTry(host: DataPlaneHost): void {
    this.host = host;
    host.requestStarted();
    this.hostOpen = true;
    this.tryStartedAt = performance.now();
    this.connectedAt = 0;
    this.headAt = 0;
    this.send(false, this.retries > 0);
  }

  /** Send the request to this.host; `replay`: resend the body kept so far. */
  private send(fresh: boolean, replay: boolean): void {
    const pool = this.pool as DataPlanePool;
    this.connected = false;
    const call = this.core.upstream.request(
      this.host as DataPlaneHost,
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
    // Covers a request queued for a connection as well as the connect itself; the response
    // timeout starts once connected (onUpstreamConnected, also for a queued call given a pooled one).
    else this.arm(pool.config.timeouts.connect);
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
    (this.host as DataPlaneHost).requestFinished(kind, performance.now() - this.tryStartedAt);
  }

  // --- client body -------------------------------------------------------------------

  onClientData(chunk: Buffer, borrowed: boolean): void {
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.listener.maxBodySize) {
      this.abandonCall();
      this.finishTry('success');
      this.fail('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
      return;
    }
    // Only the replay buffer keeps body bytes past the call: a borrowed view is copied for it,
    // and otherwise goes upstream through the connection's pooled slabs (writeBorrowed), not
    // through a fresh ArrayBuffer per read.
    let kept = borrowed ? undefined : chunk;
    if (this.replay !== undefined) {
      const limit = (this.pool as DataPlanePool).config.retries.bufferSize;
      if (this.bodyBytes <= limit) this.replay.push((kept ??= Buffer.from(chunk)));
      else this.replay = undefined;
    }
    const call = this.call;
    if (call === undefined) return;
    if (!(kept !== undefined ? call.write(kept) : call.writeBorrowed(chunk))) this.conn.pause();
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
    // From here the request may reach the backend: one that must not run twice is never sent again.
    if (!this.idempotent) this.replay = undefined;
    this.connectedAt = performance.now();
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
    } else if (
      stage === 'stale' &&
      this.idempotent &&
      !this.staleResent &&
      (!this.hasBody || this.replay !== undefined)
    ) {
      // A pooled connection closed as it was reused, before any answer byte: most likely the
      // backend's idle close crossing our write, but it may have read the request. Sent once more
      // (same backend, same try, new connection) only when running it twice is safe.
      this.staleResent = true;
      this.send(true, true);
      return;
    }
    if (stage === 'connect') {
      this.finishTry('connect-failure');
      this.afterFailure('connect-failure', 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
      return;
    }
    // The request went out, so it may have been processed.
    this.finishTry('local-failure');
    this.afterFailure(stage === 'sent' ? 'reset' : 'unanswered', 'FULCRUM_ERR_PROXY_UPSTREAM_RESET');
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
    this.headAt = performance.now();
    // A body to come keeps the response timer, now as the longest pause between body bytes.
    if (framing === 'none') this.disarm();
    else this.timer?.refresh();
    const lameDuck = (this.pool as DataPlanePool).config.lameDuckHeader;
    if (lameDuck !== undefined && hasHeader(upHead.rawHeaders, lameDuck))
      (this.host as DataPlaneHost).markLameDuck();
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
        this.beginRetry(next, status);
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
    const pool = this.pool as DataPlanePool;
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
    if (next !== undefined) return this.beginRetry(next, kind);
    // The outcome names the backend that failed, refused connections included (the true cause).
    this.failedHost = this.host;
    this.fail(code);
  }

  /** The backend for a retry, or undefined when the rules forbid one. */
  private retryTarget(kind: RetryKind): DataPlaneHost | undefined {
    if (!this.mayRetry || this.done) return undefined;
    const pool = this.pool as DataPlanePool;
    const r = pool.config.retries;
    if (this.retries >= r.attempts) return undefined;
    // Never once more body was streamed than kept for replay.
    if (this.hasBody && this.replay === undefined) return undefined;
    if (!retryOn(r.on, kind)) return undefined;
    // A connect failure sent nothing: any method may go elsewhere.
    if (reachedBackend(kind) && !this.idempotent) return undefined;
    const c = this.counters as PoolCounters;
    if (
      budgeted(kind) &&
      !this.retryCounted &&
      c.retrying + 1 > Math.max(r.minRetryConcurrency, r.budget * c.active)
    )
      return undefined;
    const tried = (this.tried ??= new Set());
    tried.add(this.host as DataPlaneHost);
    return this.pick();
  }

  private beginRetry(host: DataPlaneHost, kind: RetryKind): void {
    this.retries++;
    this.retriedFrom ??= this.host;
    if (!this.retryCounted && budgeted(kind)) {
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

  /** The pool has no backend to pick: the one case the outcome flags as `noBackend`. */
  private noBackend(): void {
    this.noneAvailable = true;
    this.fail('FULCRUM_ERR_PROXY_NO_BACKEND');
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
    const bytesIn = this.head.headBytes + this.bodyBytes;
    const answered = this.responding ? this.host : this.failedHost;
    if (answered !== undefined) {
      answered.bytesIn += bytesIn;
      answered.bytesOut += conn.bytesOut;
    }
    const tried = this.host;
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
      retriedFrom: this.retriedFrom?.name,
      noBackend: this.noneAvailable,
      path: this.head.url,
      clientAddress: conn.remoteAddress,
      host: this.hostHeader,
      userAgent: this.userAgent,
      bytesIn,
      bytesOut: conn.bytesOut,
      upstream: tried?.address,
      connectMs:
        tried === undefined || this.connectedAt === 0 ? undefined : this.connectedAt - this.tryStartedAt,
      firstByteMs: tried === undefined || this.headAt === 0 ? undefined : this.headAt - this.tryStartedAt,
      slice: this.slice,
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
  if (kind === 'unanswered') return on.includes('reset');
  return on.includes(kind);
}

/** Whether a failure of this kind means the request may have reached the backend. */
function reachedBackend(kind: RetryKind): boolean {
  return kind !== 'connect-failure' && kind !== 'connect-timeout';
}

/**
 * Whether a retry after this failure needs the retry budget. The budget keeps retries from
 * piling work onto backends that are working but failing (5xx, timeouts, answers cut short). A
 * connect failure sent nothing; a connection that broke before any answer byte is a backend
 * gone (killed, crashed, restarting: a dying process's accept queue is reset too, so even new
 * connections "succeed" and then break). Refusing those retries only turns a failover into errors.
 */
function budgeted(kind: RetryKind): boolean {
  return reachedBackend(kind) && kind !== 'unanswered';
}

function onTimer(ex: Exchange): void {
  ex.onTimer();
}
