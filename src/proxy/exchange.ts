// One client request on its way through the proxy: route, pick, forward, retry, answer.
// The Exchange object is the only per-request allocation of note: it is its own upstream
// handler and the shared listeners below find it through the request/response objects,
// so no closures are created per request.
import http from 'node:http';
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import type { PickTrace } from '../balancer/policy.ts';
import type { HostState, OutcomeKind } from '../health/host-state.ts';
import type { PoolRuntime, Snapshot } from '../runtime/snapshot.ts';
import type { Router } from './router.ts';
import { errorBody } from './answers.ts';
import { hashKeyOf } from './hash-key.ts';
import { forwardRequestHeaders, forwardResponseHeaders, type RequestFacts } from './headers.ts';
import type {
  Upstream,
  UpstreamCall,
  UpstreamErrorStage,
  UpstreamHandler,
  UpstreamRequest,
  UpstreamResponse,
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
  exchangeDone(listener: ListenerContext): void;
}

export class ProxyRequest extends http.IncomingMessage {
  exchange: Exchange | undefined;
}

export class ProxyResponse extends http.ServerResponse<ProxyRequest> {
  exchange: Exchange | undefined;
}

type LinkedResponse = UpstreamResponse & { fulcrumExchange?: Exchange };

type RetryKind = 'connect-failure' | 'reset' | 'timeout' | 'connect-timeout' | number;

const CLIENT_CLOSED = 499;
const NO_HEADERS: http.IncomingHttpHeaders = Object.freeze({});

export class Exchange implements UpstreamHandler, RequestFacts {
  readonly core: ExchangeCore;
  readonly listener: ListenerContext;
  readonly req: ProxyRequest;
  readonly res: ProxyResponse;
  readonly startedAt = performance.now();
  requestId = '';

  // RequestFacts, filled while the upstream header list is built.
  hostHeader: string | undefined = undefined;
  contentLength: string | undefined = undefined;
  transferEncoding: string | undefined = undefined;
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
  tryTimeoutMs = 0;

  mayRetry = false;
  retries = 0;
  tried: Set<HostState> | undefined;
  retryCounted = false;

  hasBody = false;
  bodyEnded = false;
  bodyBytes = 0;
  /** Body chunks kept for replay while everything streamed so far fits in bufferSize. */
  replay: Buffer[] | undefined;

  responding = false;
  upRes: LinkedResponse | undefined;
  upKind: OutcomeKind = 'success';
  upBroken = false;
  /** Backend that was reached but failed to answer (reset after send, timeout). */
  failedHost: HostState | undefined = undefined;
  error: ErrorCode | undefined;
  done = false;

  constructor(core: ExchangeCore, listener: ListenerContext, req: ProxyRequest, res: ProxyResponse) {
    this.core = core;
    this.listener = listener;
    this.req = req;
    this.res = res;
    req.exchange = this;
    res.exchange = this;
    res.on('close', onResClose);
  }

  /** Route, pick and forward. Answers at once when there is no route or no backend. */
  start(snapshot: Snapshot, router: Router): void {
    const req = this.req;
    const url = req.url ?? '/';
    const headers = forwardRequestHeaders(req.rawHeaders, this, {
      clientIp: req.socket.remoteAddress ?? '',
      proto: this.listener.proto,
      upgrade: false,
    });
    const id = this.clientRequestId;
    this.requestId = id !== undefined && id !== '' ? id : this.core.nextRequestId();
    headers.push('x-request-id', this.requestId);

    const route = router.match(this.hostHeader, url, router.usesHeaders ? req.headers : NO_HEADERS);
    if (route === undefined) return this.fail('FULCRUM_ERR_PROXY_NO_ROUTE');
    const pool = snapshot.pools.get(route.pool);
    if (pool === undefined) return this.fail('FULCRUM_ERR_PROXY_NO_BACKEND');
    this.pool = pool;
    const counters = this.core.counters(pool.name);
    this.counters = counters;
    counters.active++;

    const cl = this.contentLength;
    if (cl !== undefined) {
      const n = Number(cl);
      if (n > this.listener.maxBodySize) return this.fail('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
      this.hasBody = n > 0;
    } else {
      this.hasBody = this.transferEncoding !== undefined;
    }
    const config = pool.config;
    const retries = config.retries;
    this.mayRetry = retries.attempts > 0 && retries.methods.includes(req.method ?? 'GET');
    if (this.hasBody) {
      if (this.mayRetry && retries.bufferSize > 0) this.replay = [];
      req.on('data', onClientData);
      req.on('end', onClientEnd);
    }
    if (config.policy === 'consistent-hash') this.hashKey = hashKeyOf(config.hash?.key ?? 'source-ip', req);
    if (this.explainHeader !== undefined && this.core.explainAllowed(this.explainHeader)) {
      this.trace = { reason: '', candidates: [] };
    }
    this.audit = this.auditHeader !== undefined && this.core.auditAllowed(this.auditHeader);
    this.tryTimeoutMs = retries.perTryTimeout > 0 ? retries.perTryTimeout : config.timeouts.response;

    const host = this.pick();
    if (host === undefined) return this.fail('FULCRUM_ERR_PROXY_NO_BACKEND');
    // HTTP/1.0 clients may send no Host; the backend still needs one.
    if (this.hostHeader === undefined) headers.push('host', host.address);
    this.upstreamReq = { method: req.method ?? 'GET', path: url, headers };
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
    const pool = this.pool as PoolRuntime;
    this.host = host;
    host.requestStarted();
    this.hostOpen = true;
    this.tryStartedAt = performance.now();
    this.connected = false;
    const call = this.core.upstream.request(
      host,
      pool.config.timeouts.idle,
      this.upstreamReq as UpstreamRequest,
      this,
    );
    this.call = call;
    if (this.hasBody) {
      if (this.retries > 0 && this.replay !== undefined) {
        for (let i = 0; i < this.replay.length; i++) call.write(this.replay[i] as Buffer);
      }
      if (this.bodyEnded) call.end();
      else if (this.req.isPaused()) this.req.resume();
    } else {
      call.end();
    }
    // Covers a request queued for a socket as well as the connect itself.
    this.arm(pool.config.timeouts.connect + this.tryTimeoutMs);
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
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
      this.req.off('data', onClientData);
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
    if (call !== undefined && !call.write(chunk)) this.req.pause();
  }

  onClientEnd(): void {
    this.bodyEnded = true;
    const call = this.call;
    if (call === undefined) return;
    call.end();
    if (this.connected && !this.responding) this.arm(this.tryTimeoutMs);
  }

  // --- upstream events ---------------------------------------------------------------

  onUpstreamConnected(): void {
    this.connected = true;
    // The response timeout runs from the moment the whole request is sent.
    if (!this.hasBody || this.bodyEnded) this.arm(this.tryTimeoutMs);
    else this.disarm();
  }

  onUpstreamDrain(): void {
    this.req.resume();
  }

  onUpstreamError(_err: Error, stage: UpstreamErrorStage): void {
    this.disarm();
    this.call = undefined;
    if (this.responding) {
      this.upBroken = true;
      this.res.destroy();
      return;
    }
    this.finishTry('local-failure');
    if (stage === 'sent') this.afterFailure('reset', 'FULCRUM_ERR_PROXY_UPSTREAM_RESET');
    else this.afterFailure('connect-failure', 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT');
  }

  onTimer(): void {
    this.timer = undefined;
    const kind: RetryKind = this.connected ? 'timeout' : 'connect-timeout';
    this.abandonCall();
    this.finishTry('local-failure');
    this.afterFailure(kind, 'FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT');
  }

  onUpstreamResponse(upRes: UpstreamResponse): void {
    this.disarm();
    const lameDuck = (this.pool as PoolRuntime).config.lameDuckHeader;
    if (lameDuck !== undefined && hasHeader(upRes.rawHeaders, lameDuck))
      (this.host as HostState).markLameDuck();
    const status = upRes.statusCode ?? 502;
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
        if (this.hasBody && !this.bodyEnded) {
          // The request was never finished on this connection: it cannot be reused.
          call.abandon();
        } else {
          // Drain the discarded answer so its socket can go back to the pool.
          call.detach();
          upRes.resume();
        }
        this.finishTry(kind);
        this.beginRetry(next);
        return;
      }
    }
    this.responding = true;
    this.upKind = kind;
    const linked = upRes as LinkedResponse;
    linked.fulcrumExchange = this;
    this.upRes = linked;
    const res = this.res;
    res.writeHead(status, forwardResponseHeaders(upRes.rawHeaders, this.responseExtras()));
    // Stream.pipe would allocate a set of closures per response; shared listeners do the same
    // job (write, pause on backpressure, resume on drain, end).
    linked.on('error', ignore);
    linked.on('close', onUpResClose);
    linked.on('end', onUpResEnd);
    res.on('drain', onResDrain);
    linked.on('data', onUpResData);
  }

  private responseExtras(): string[] {
    const extra = ['x-request-id', this.requestId];
    if (this.audit && this.host !== undefined) extra.push('x-fulcrum-backend', this.host.name);
    if (this.trace !== undefined) extra.push('x-fulcrum-explain', this.explainValue());
    if (this.listener.closing) extra.push('connection', 'close');
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
    this.req.off('data', onClientData);
    this.abandonCall();
    this.finishTry('success');
    this.fail('FULCRUM_ERR_PROXY_CLIENT_TIMEOUT');
  }

  /** Answer on the backend's behalf (or cut the response if its headers already went out). */
  fail(code: ErrorCode): void {
    this.error = code;
    const res = this.res;
    if (res.headersSent) {
      res.destroy();
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
    if (
      this.listener.closing ||
      code === 'FULCRUM_ERR_PROXY_BODY_TOO_LARGE' ||
      code === 'FULCRUM_ERR_PROXY_CLIENT_TIMEOUT'
    ) {
      headers.push('connection', 'close');
    }
    res.writeHead(ERRORS[code].status, headers);
    res.end(body);
  }

  /** The client response closed (finished or not): settle the try and report the outcome once. */
  finish(): void {
    if (this.done) return;
    this.done = true;
    this.disarm();
    const res = this.res;
    const upRes = this.upRes;
    const clientLeft = !res.writableFinished;
    if (this.call !== undefined && (!this.responding || (upRes !== undefined && !upRes.complete)))
      this.abandonCall();
    // A client that leaves is not the backend's fault.
    this.finishTry(this.upBroken ? 'local-failure' : this.responding ? this.upKind : 'success');
    const counters = this.counters;
    if (counters !== undefined) {
      counters.active--;
      if (this.retryCounted) counters.retrying--;
    }
    let error: string | undefined = this.error;
    if (this.upBroken) error = 'FULCRUM_ERR_PROXY_UPSTREAM_RESET';
    const status = clientLeft && !this.upBroken && this.error === undefined ? CLIENT_CLOSED : res.statusCode;
    this.req.exchange = undefined;
    res.exchange = undefined;
    // A body still arriving after the answer (backend answered early) is drained, not left stuck.
    if (this.hasBody && !this.bodyEnded && this.req.isPaused()) this.req.resume();
    this.core.hub.requests.emit({
      listener: this.listener.name,
      pool: this.pool?.name ?? '',
      backend: this.responding ? this.host?.name : this.failedHost?.name,
      status,
      durationMs: performance.now() - this.startedAt,
      error,
      retries: this.retries,
      requestId: this.requestId,
      method: this.req.method ?? '',
      hashKey: this.hashKey,
    });
    this.core.exchangeDone(this.listener);
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

// Shared listeners: the exchange is found through the objects, no closures per request.
function onResClose(this: ProxyResponse): void {
  this.exchange?.finish();
}

function onClientData(this: ProxyRequest, chunk: Buffer): void {
  this.exchange?.onClientData(chunk);
}

function onClientEnd(this: ProxyRequest): void {
  this.exchange?.onClientEnd();
}

function onTimer(ex: Exchange): void {
  ex.onTimer();
}

function onUpResData(this: LinkedResponse, chunk: Buffer): void {
  const ex = this.fulcrumExchange;
  if (ex !== undefined && !ex.res.write(chunk)) this.pause();
}

function onUpResEnd(this: LinkedResponse): void {
  this.fulcrumExchange?.res.end();
}

function onResDrain(this: ProxyResponse): void {
  this.exchange?.upRes?.resume();
}

function onUpResClose(this: LinkedResponse): void {
  const ex = this.fulcrumExchange;
  this.fulcrumExchange = undefined;
  if (ex === undefined || this.complete || ex.done) return;
  // The backend broke off mid-body: the status is out, so the only honest signal is a cut.
  ex.upBroken = true;
  ex.res.destroy();
}

function ignore(): void {}
