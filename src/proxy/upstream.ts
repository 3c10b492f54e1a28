// The upstream side of the data plane: keep-alive connections to each backend over raw TCP
// sockets, HTTP/1.1 framed by `http1.ts`. Measured against node:http agents and undici pools
// (bench/RESULTS.md), which cost 3-4x more CPU per request for the same forwarding.
//
// One pool per backend, at most `maxRequests` connections (requests beyond wait in FIFO order),
// the most recently used idle connection first so surplus ones age out, idle connections closed
// after the pool's idle timeout (below the usual 5 s keep-alive of backends). Response bodies
// are handed over as payload: a chunked body is de-chunked here (strictly, trailers parsed)
// and the client connection frames what it forwards itself.
import net from 'node:net';
import {
  MALFORMED,
  ChunkedScanner,
  encodeHead,
  parseResponseHead,
  type ChunkSink,
  type ResponseHead,
} from './http1.ts';
import { LentSlabs, fitsSlab } from './write-slabs.ts';

/** What the upstream needs to know about a backend. */
export interface UpstreamTarget {
  readonly hostname: string;
  readonly port: number;
  readonly maxRequests: number;
}

/**
 * How the response body is delimited: none (HEAD, 204, 304, Content-Length 0), a length, chunked
 * framing (payload handed over de-chunked), or the end of the connection.
 */
export type BodyFraming = 'none' | 'length' | 'chunked' | 'close';

export type UpstreamErrorStage = 'connect' | 'stale' | 'unanswered' | 'sent';

/** Receives the events of one try. No call arrives after abandon() or detach(). */
export interface UpstreamHandler {
  /**
   * The connection is established. For a reused one it is called only when the call waited in
   * the queue; otherwise UpstreamCall.connected is already true when request() returns.
   */
  onUpstreamConnected(): void;
  /** An interim answer (1xx other than 101); the final one follows. */
  onUpstreamInformational(head: ResponseHead): void;
  /** The final response head. */
  onUpstreamResponse(head: ResponseHead, framing: BodyFraming): void;
  /**
   * Body payload (de-chunked); false asks for a pause until UpstreamCall.resume(). The bytes are
   * only valid during the call (the read buffer is reused): copy what is kept.
   */
  onUpstreamData(chunk: Buffer): boolean;
  /** The body is complete; `trailers` of a chunked body, when it had any. */
  onUpstreamEnd(trailers?: readonly string[]): void;
  /**
   * The try failed. `connect`: no connection (refused, unreachable): nothing was sent; `stale`:
   * a reused keep-alive connection closed with no answer byte (the backend's idle close crossing
   * the request, or a backend that read it and closed: the two cannot be told apart);
   * `unanswered`: a new connection closed with no answer byte after the request was written (a
   * backend that died: even its kernel's accept queue is reset); `sent`: the answer had begun
   * when the connection broke, or it was malformed (also mid-body).
   * A pooled connection already known closed (its end read) is never written to.
   */
  onUpstreamError(err: Error & { code?: string }, stage: UpstreamErrorStage): void;
  /** The request body sink accepts more after write() returned false. */
  onUpstreamDrain(): void;
}

/** The request side of one try. */
export interface UpstreamCall {
  /** The try runs on an established connection already (a reused one). */
  readonly connected: boolean;
  /** Request body bytes, already framed as the request head says; the call may keep them. */
  write(chunk: Buffer): boolean;
  /** As write(), for bytes valid only during the call (a view of a shared read buffer). */
  writeBorrowed(view: Buffer): boolean;
  /**
   * The request is complete. A connection whose request was not completed is never reused,
   * even when the backend answered early in full.
   */
  end(): void;
  /** Abandon the try: no more handler calls, the connection is destroyed. */
  abandon(): void;
  /** Stop reporting but read the answer to its end, so the connection can be reused. */
  detach(): void;
  /** Resume response data after onUpstreamData returned false. */
  resume(): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat raw header list [name, value, name, value, ...], already filtered. */
  headers: string[];
}

export interface Upstream {
  /** `fresh`: open a new connection, skip the idle ones (after a stale one failed). */
  request(
    target: UpstreamTarget,
    idleMs: number,
    req: UpstreamRequest,
    handler: UpstreamHandler,
    fresh?: boolean,
  ): UpstreamCall;
  /** Close the pools of targets no longer in use (after their running requests). */
  retain(targets: ReadonlySet<UpstreamTarget>): void;
  close(): void;
}

/** A backend's response head may not exceed this (node's default header limit is 16 KiB). */
const MAX_RESPONSE_HEAD = 65_536;

/**
 * Every upstream connection reads into this one buffer (net's `onread`): reads are handled one
 * at a time, synchronously, and whatever is kept past a read is copied (a partial head here,
 * body bytes by the client connection). Node otherwise allocates an ArrayBuffer per read, and
 * sweeping those was most of each young-generation GC pause (bench/RESULTS.md).
 */
const READ_BUFFER = Buffer.allocUnsafe(65_536);
const SWEEP_MS = 250;

const HEAD = 0;
const BODY = 1;

/** Interim answers a backend may send before its final one (a 100 and a few 103s in practice). */
const MAX_INTERIM = 16;

class ProtocolError extends Error {
  readonly code = 'FULCRUM_UPSTREAM_PROTOCOL';
}

class WireCall implements UpstreamCall {
  handler: UpstreamHandler | undefined;
  readonly head: Buffer;
  readonly isHead: boolean;
  conn: UpConn | undefined;
  /** Body written while the call waits for a connection. */
  pending: Buffer[] | undefined;
  connected = false;
  ended = false;
  /** Interim (1xx) answers read so far. */
  interim = 0;
  readonly pool: HostPool;

  constructor(pool: HostPool, req: UpstreamRequest, handler: UpstreamHandler) {
    this.pool = pool;
    this.handler = handler;
    this.head = encodeHead(req.method, ' ', req.path, ' HTTP/1.1', req.headers);
    this.isHead = req.method === 'HEAD';
  }

  write(chunk: Buffer): boolean {
    const conn = this.conn;
    if (conn === undefined) {
      (this.pending ??= []).push(chunk);
      return false;
    }
    return conn.socket.write(chunk);
  }

  writeBorrowed(view: Buffer): boolean {
    const conn = this.conn;
    // Waiting for a connection, the bytes are kept: a copy of their own.
    if (conn === undefined) return this.write(Buffer.from(view));
    return conn.writeCopy(view);
  }

  end(): void {
    this.ended = true;
  }

  abandon(): void {
    this.handler = undefined;
    const conn = this.conn;
    if (conn === undefined) this.pool.unqueue(this);
    else conn.socket.destroy();
  }

  detach(): void {
    this.handler = undefined;
    if (this.conn === undefined) this.pool.unqueue(this);
    else this.conn.socket.resume();
  }

  resume(): void {
    this.conn?.socket.resume();
  }
}

type ConnSocket = net.Socket & { conn: UpConn };

class UpConn implements ChunkSink {
  readonly socket: ConnSocket;
  readonly pool: HostPool;
  call: WireCall | undefined;
  connected = false;
  uses = 0;
  lastUsed = 0;
  state = HEAD;
  /** Head bytes received so far, when the head spans reads. */
  partial: Buffer | undefined;
  /** Bytes of the current response seen (0 = the backend said nothing yet). */
  received = 0;
  framing: BodyFraming = 'none';
  remaining = 0;
  scanner: ChunkedScanner | undefined;
  reusable = false;
  /** A chunk sink call of this read asked for a pause. */
  stall = false;
  error: (Error & { code?: string }) | undefined;
  /** The slabs this socket's request-body writes hold (from the first large borrowed write). */
  slabs: LentSlabs | undefined;

  constructor(pool: HostPool) {
    this.pool = pool;
    const t = pool.target;
    const socket = net.connect({
      host: t.hostname,
      port: t.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: onRead },
    }) as ConnSocket;
    socket.conn = this;
    socket.on('connect', onConnect);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
    this.socket = socket;
  }

  assign(call: WireCall): void {
    this.call = call;
    call.conn = this;
    call.connected = this.connected;
    this.uses++;
    this.state = HEAD;
    this.received = 0;
    const socket = this.socket;
    socket.write(call.head);
    const pending = call.pending;
    if (pending !== undefined) {
      call.pending = undefined;
      for (const chunk of pending) socket.write(chunk);
      call.handler?.onUpstreamDrain();
    }
  }

  /**
   * Write a copy of borrowed body bytes: into a pooled slab, given back once the socket has
   * written it, as the client side copies response bytes (write-slabs.ts).
   */
  writeCopy(view: Buffer): boolean {
    if (!fitsSlab(view.length)) return this.socket.write(Buffer.from(view));
    const slabs = (this.slabs ??= new LentSlabs());
    return this.socket.write(slabs.copy(view), slabs.written);
  }

  onData(chunk: Buffer): void {
    const call = this.call;
    if (call === undefined) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.socket.destroy();
      return;
    }
    this.received += chunk.length;
    let buf = chunk;
    let at = 0;
    while (this.state === HEAD) {
      if (this.partial !== undefined) {
        buf = Buffer.concat([this.partial, buf.subarray(at)]);
        at = 0;
        this.partial = undefined;
      }
      const head = parseResponseHead(buf, at, buf.length, MAX_RESPONSE_HEAD);
      if (head === undefined) {
        // A copy: the read buffer is reused by the next read.
        this.partial = Buffer.from(buf.subarray(at));
        return;
      }
      if (typeof head === 'string') return this.fail(new ProtocolError(`malformed response head (${head})`));
      at += head.headBytes;
      if (head.status < 200) {
        // 100 Continue, 103 Early Hints: informational, relayed; the final answer follows.
        if (head.status === 101) return this.fail(new ProtocolError('unexpected 101 on a pooled connection'));
        // Each one refreshes the response deadline and is written to the client without
        // backpressure: an endless stream of them would hold the request and grow buffers.
        if (++call.interim > MAX_INTERIM) return this.fail(new ProtocolError('too many 1xx answers'));
        call.handler?.onUpstreamInformational(head);
        if (this.call !== call || at >= buf.length) return;
        continue;
      }
      // A chunked body is checked as far as this read goes before the head is handed on, so a
      // malformed one that came with it is a 502, not a cut after the head went out.
      if (head.chunked && at < buf.length && !call.isHead && head.status !== 204 && head.status !== 304) {
        if (new ChunkedScanner().feed(buf, at, buf.length) === MALFORMED)
          return this.fail(new ProtocolError('malformed chunked body'));
      }
      this.begin(call, head, at < buf.length);
      if (this.call !== call) return;
    }
    if (at < buf.length) this.body(call, at === 0 ? buf : buf.subarray(at));
  }

  /** `more`: bytes follow the head in this read. */
  begin(call: WireCall, head: ResponseHead, more: boolean): void {
    const s = head.status;
    let framing: BodyFraming;
    if (call.isHead || s === 204 || s === 304 || head.contentLength === 0) framing = 'none';
    else if (head.chunked) framing = 'chunked';
    else if (head.contentLength > 0) framing = 'length';
    else framing = 'close';
    this.framing = framing;
    this.remaining = head.contentLength;
    if (framing === 'chunked') this.scanner = new ChunkedScanner();
    // An answer that starts before the whole request was sent (an early 413, say) may leave
    // request bytes the backend never reads ahead of the next request: not reused.
    this.reusable =
      call.ended &&
      framing !== 'close' &&
      (head.versionMinor === 1 ? !head.close : head.keepAlive && !head.close);
    this.state = BODY;
    call.handler?.onUpstreamResponse(head, framing);
    // Bytes after a body-less answer: the connection's framing can no longer be trusted.
    if (this.call === call && framing === 'none') this.complete(call, more);
  }

  body(call: WireCall, buf: Buffer): void {
    const framing = this.framing;
    let end = buf.length;
    let done = false;
    if (framing === 'length') {
      if (end >= this.remaining) {
        end = this.remaining;
        done = true;
      }
      this.remaining -= end;
    } else if (framing === 'chunked') {
      // The payload goes to the handler through onChunkData.
      this.stall = false;
      const r = (this.scanner as ChunkedScanner).feed(buf, 0, end, this);
      if (r === MALFORMED) return this.fail(new ProtocolError('malformed chunked body'));
      if (this.stall) this.socket.pause();
      if (r >= 0 && this.call === call) this.complete(call, r < buf.length);
      return;
    }
    const h = call.handler;
    if (h !== undefined && end > 0 && !h.onUpstreamData(end === buf.length ? buf : buf.subarray(0, end))) {
      this.socket.pause();
    }
    if (done && this.call === call) this.complete(call, end < buf.length);
  }

  onChunkData(buf: Buffer, start: number, end: number): void {
    const h = this.call?.handler;
    if (h !== undefined && !h.onUpstreamData(buf.subarray(start, end))) this.stall = true;
  }

  complete(call: WireCall, extraBytes: boolean): void {
    const h = call.handler;
    call.handler = undefined;
    call.conn = undefined;
    this.call = undefined;
    const trailers = this.scanner?.trailers;
    this.scanner = undefined;
    this.state = HEAD;
    h?.onUpstreamEnd(trailers);
    // Bytes still queued for the backend would precede the next request.
    const socket = this.socket;
    if (extraBytes || !this.reusable || socket.writableLength > 0 || socket.destroyed) {
      socket.destroy();
    } else {
      this.pool.release(this);
    }
  }

  fail(err: Error & { code?: string }): void {
    this.error = err;
    this.socket.destroy();
  }

  onClose(): void {
    const call = this.call;
    this.call = undefined;
    this.pool.remove(this);
    if (call === undefined) return;
    call.conn = undefined;
    const h = call.handler;
    call.handler = undefined;
    if (h === undefined) return;
    // A close-delimited body ends with the connection.
    if (this.state === BODY && this.framing === 'close' && this.error === undefined) {
      h.onUpstreamEnd();
      return;
    }
    const err = this.error ?? Object.assign(new Error('upstream connection closed'), { code: 'ECONNRESET' });
    const stage: UpstreamErrorStage = !this.connected
      ? 'connect'
      : this.received !== 0 || this.state !== HEAD
        ? 'sent'
        : this.uses > 1
          ? 'stale'
          : 'unanswered';
    h.onUpstreamError(err, stage);
  }
}

function onConnect(this: ConnSocket): void {
  const conn = this.conn;
  conn.connected = true;
  const call = conn.call;
  if (call !== undefined) {
    call.connected = true;
    call.handler?.onUpstreamConnected();
  }
}

function onRead(this: ConnSocket, n: number, buf: Buffer): boolean {
  this.conn.onData(buf.subarray(0, n));
  return true;
}

function onError(this: ConnSocket, err: Error): void {
  this.conn.error ??= err;
}

function onClose(this: ConnSocket): void {
  this.conn.onClose();
}

function onDrain(this: ConnSocket): void {
  this.conn.call?.handler?.onUpstreamDrain();
}

/** The connections to one backend. */
class HostPool {
  readonly target: UpstreamTarget;
  idleMs = 4000;
  /** Connections open or opening, busy or idle. */
  total = 0;
  readonly idle: UpConn[] = [];
  readonly queue: WireCall[] = [];
  retired = false;

  constructor(target: UpstreamTarget) {
    this.target = target;
  }

  dispatch(call: WireCall, fresh = false): void {
    const conn = fresh ? undefined : this.takeIdle();
    if (conn !== undefined) {
      conn.assign(call);
      return;
    }
    if (this.total < this.target.maxRequests) {
      this.total++;
      new UpConn(this).assign(call);
      return;
    }
    this.queue.push(call);
  }

  /**
   * The most recent idle connection still open both ways. One whose end was already read (the
   * backend closed it, the close not reported yet) is dropped unwritten: a request is never sent
   * on a connection provably closed before the write.
   */
  takeIdle(): UpConn | undefined {
    for (;;) {
      const conn = this.idle.pop();
      if (conn === undefined) return undefined;
      const s = conn.socket;
      if (!s.destroyed && s.writable && !s.readableEnded) return conn;
      s.destroy();
    }
  }

  unqueue(call: WireCall): void {
    const i = this.queue.indexOf(call);
    if (i >= 0) this.queue.splice(i, 1);
  }

  release(conn: UpConn): void {
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.assign(next);
      next.handler?.onUpstreamConnected();
      return;
    }
    if (this.retired) {
      conn.socket.destroy();
      return;
    }
    conn.lastUsed = performance.now();
    conn.socket.resume();
    this.idle.push(conn);
  }

  remove(conn: UpConn): void {
    this.total--;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A waiting call gets the freed slot.
    const next = this.queue.shift();
    if (next === undefined) return;
    this.dispatch(next);
    // Given an idle connection at once: its handler still waits to hear it is connected.
    if (next.connected) next.handler?.onUpstreamConnected();
  }

  sweep(now: number): void {
    const idle = this.idle;
    // Oldest first: the front of the list has been idle longest.
    while (idle.length > 0 && now - (idle[0] as UpConn).lastUsed > this.idleMs) {
      (idle.shift() as UpConn).socket.destroy();
    }
  }

  destroyAll(): void {
    for (const conn of this.idle.splice(0)) conn.socket.destroy();
    this.queue.length = 0;
  }
}

export class WireUpstream implements Upstream {
  readonly #pools = new Map<UpstreamTarget, HostPool>();
  #sweeper: NodeJS.Timeout | undefined;

  request(
    target: UpstreamTarget,
    idleMs: number,
    req: UpstreamRequest,
    handler: UpstreamHandler,
    fresh = false,
  ): UpstreamCall {
    let pool = this.#pools.get(target);
    if (pool === undefined) {
      pool = new HostPool(target);
      this.#pools.set(target, pool);
      this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    }
    pool.idleMs = idleMs;
    const call = new WireCall(pool, req, handler);
    pool.dispatch(call, fresh);
    return call;
  }

  retain(targets: ReadonlySet<UpstreamTarget>): void {
    for (const [t, pool] of this.#pools) {
      if (targets.has(t)) continue;
      // Running requests finish; their connections close when released.
      pool.retired = true;
      for (const conn of pool.idle.splice(0)) conn.socket.destroy();
      this.#pools.delete(t);
    }
  }

  close(): void {
    for (const pool of this.#pools.values()) pool.destroyAll();
    this.#pools.clear();
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const pool of this.#pools.values()) pool.sweep(now);
  }
}
