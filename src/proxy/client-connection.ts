// One client connection of a listener, over a raw TCP or TLS socket: reads request heads
// (http1.ts), hands each request to an exchange, streams its body, and writes the response the
// exchange gives, one request at a time (pipelined requests wait in the buffer). Keep-alive,
// `100 Continue`, header/request/idle deadlines and lingering reads after an early answer live
// here; routing, picking and forwarding live in the exchange.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from '../core/errors.ts';
import { rawErrorResponse } from './answers.ts';
import {
  ChunkedScanner,
  MALFORMED,
  NEED_MORE,
  parseRequestHead,
  encodeChunk,
  encodeHead,
  encodeLastChunk,
  type ChunkSink,
  type HeadError,
  type RequestHead,
} from './http1.ts';
import type { BodyFraming } from './upstream.ts';
import { LentSlabs, fitsSlab } from './write-slabs.ts';
import { isShared, readShared, unshareReads } from './shared-read.ts';

/** The listener side of a connection (limits and deadlines are read per request, so reloads apply). */
export interface ConnectionOwner {
  readonly maxHeaderSize: number;
  readonly headerTimeout: number;
  /** 0 = none. */
  readonly requestTimeout: number;
  readonly idleTimeout: number;
  readonly maxBodySize: number;
  /** Upgrade protocols that may be tunnelled (lower case; `h2c` never). */
  readonly upgrades: readonly string[];
  /** The listener is closing: answer with `connection: close` and take no further request. */
  readonly closing: boolean;
  /** A request head arrived: create its exchange (conn.exchange) and start it. */
  onRequest(conn: ClientConnection, head: RequestHead): void;
  /** An upgrade request: the socket now belongs to the callee, `rest` are bytes read past the head. */
  onUpgrade(conn: ClientConnection, head: RequestHead, rest: Buffer): void;
  onClose(conn: ClientConnection): void;
}

/** What the connection tells the exchange of the request it carries. */
export interface ClientExchange {
  /**
   * Request body bytes. `borrowed`: a view of the shared read buffer, valid only during the
   * call; whatever the exchange keeps past it, it copies.
   */
  onClientData(chunk: Buffer, borrowed: boolean): void;
  onClientEnd(): void;
  /** The client socket accepts more response bytes. */
  onClientDrain(): void;
  /** The request deadline passed while the body was still arriving. */
  clientTimedOut(): void;
  /** The request body turned out malformed after the head went on: refuse and close. */
  clientFailed(code: ErrorCode): void;
  /** The response was written in full, or the connection closed first. Called once. */
  finish(): void;
}

// Where the connection is in its current request.
const HEAD = 0; // waiting for a request head
const BODY = 1; // streaming the request body to the exchange
const AWAIT = 2; // request read, response not finished
const CLOSED = 3; // closing: further bytes are read and dropped

// What the deadline guards.
const NONE = 0;
const IDLE = 1;
const HEADER = 2;
const REQUEST = 3;

type ConnSocket = Socket & { conn: ClientConnection };

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

/** The answer to each way a request head can be refused. */
const HEAD_ERRORS: Record<HeadError, ErrorCode> = {
  'too-large': 'FULCRUM_ERR_PROXY_HEADERS_TOO_LARGE',
  'bad-request': 'FULCRUM_ERR_PROXY_BAD_REQUEST',
  'not-implemented': 'FULCRUM_ERR_PROXY_UNSUPPORTED_CODING',
  'bad-target': 'FULCRUM_ERR_PROXY_BAD_TARGET',
  connect: 'FULCRUM_ERR_PROXY_METHOD_NOT_ALLOWED',
  preface: 'FULCRUM_ERR_PROXY_HTTP2_PREFACE',
  'unknown-method': 'FULCRUM_ERR_PROXY_UNKNOWN_METHOD',
};

/** Every protocol an Upgrade field offers is on the listener's list (`websocket/13` is `websocket`). */
function upgradeAllowed(value: string, allowed: readonly string[]): boolean {
  let any = false;
  for (const part of value.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '') continue;
    const slash = t.indexOf('/');
    if (!allowed.includes(slash < 0 ? t : t.slice(0, slash))) return false;
    any = true;
  }
  return any;
}

export class ClientConnection implements ChunkSink {
  readonly socket: ConnSocket;
  readonly owner: ConnectionOwner;
  readonly remoteAddress: string;
  exchange: ClientExchange | undefined;
  #phase = HEAD;
  /** Bytes read and not consumed yet (a partial head, or pipelined requests). */
  #buf: Buffer | undefined;
  #bodyLeft = 0;
  #scanner: ChunkedScanner | undefined;
  /** The body still arriving belongs to an exchange that already answered: read and drop it. */
  #discard = false;
  #requestKeepAlive = false;
  #versionMinor = 1;
  /** The client closed its sending side: answer what was asked, then close. */
  #clientEnded = false;
  /** A chunked request's head, parsed, waiting in the buffer for its first chunk-size line. */
  #waiting: RequestHead | undefined;
  /** The request said `TE: trailers` (and is HTTP/1.1): response trailers are forwarded. */
  #teTrailers = false;

  // The response in progress.
  headersSent = false;
  statusCode = 0;
  /** The whole response was handed to the socket. */
  responseEnded = false;
  /** Bytes of the current response handed to the socket (for the access log). */
  bytesOut = 0;
  #keepAlive = false;
  /** The response head not written yet (it goes out with the first body bytes). */
  #pendingHead: string[] | undefined;
  #phrase = '';
  /** The response body goes out in chunks fulcrum frames (the exchange hands over payload). */
  #chunked = false;
  /** Body copies lent to socket writes not finished yet (made on first use). */
  #slabs: LentSlabs | undefined;

  deadline = 0;
  #deadlineKind = NONE;
  /** Reads arrive through the shared buffer (shared-read.ts), not 'data' events. */
  readonly #shared: boolean;

  constructor(socket: Socket, owner: ConnectionOwner) {
    this.socket = socket as ConnSocket;
    this.socket.conn = this;
    this.owner = owner;
    this.remoteAddress = socket.remoteAddress ?? '';
    // Plain and TLS sockets alike (the server option would cover plain ones only).
    socket.setNoDelay(true);
    this.#shared = readShared(socket, onSharedRead);
    if (!this.#shared) socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('error', onError);
    socket.on('close', onClose);
    socket.on('drain', onDrain);
    this.#setDeadline(HEADER, owner.headerTimeout);
  }

  /**
   * The owner has registered the connection: bytes already in the socket's stream buffer,
   * which shared reads would never look at, are read now. Node reports a TLS connection
   * before it decrypts what came with the handshake (300 of 300 TLS 1.3 connections whose
   * request went with the client's Finished had none buffered), so this finds nothing today;
   * it costs one check per connection and keeps a Node that reports later from leaving a
   * request unread.
   */
  start(): void {
    if (!this.#shared || this.socket.readableLength === 0) return;
    const early = this.socket.read() as Buffer | null;
    if (early !== null) this.onData(early);
  }

  /** No request in progress: the connection may be closed without cutting anyone off. */
  get idle(): boolean {
    return this.#phase === HEAD && this.exchange === undefined;
  }

  #setDeadline(kind: number, ms: number): void {
    this.#deadlineKind = ms > 0 ? kind : NONE;
    this.deadline = ms > 0 ? performance.now() + ms : 0;
  }

  /** Called by the listener's sweep when `deadline` has passed. */
  expire(): void {
    const kind = this.#deadlineKind;
    this.#deadlineKind = NONE;
    this.deadline = 0;
    if (kind === IDLE) {
      this.socket.destroy();
    } else if (kind === HEADER) {
      this.reject('FULCRUM_ERR_PROXY_CLIENT_TIMEOUT');
    } else if (kind === REQUEST && this.#phase === BODY) {
      if (this.exchange !== undefined && !this.#discard) this.exchange.clientTimedOut();
      else this.socket.destroy();
    }
  }

  // --- reading ------------------------------------------------------------------------

  /**
   * Bytes read, borrowed: `chunk` may be the shared read buffer (shared-read.ts), valid only
   * during the call. What outlives it (a partial head, pipelined requests, body bytes handed
   * to the exchange, bytes past an upgrade) is copied.
   */
  onData(chunk: Buffer): void {
    this.#read(chunk);
    const left = this.#buf;
    if (left !== undefined && isShared(left)) this.#buf = Buffer.from(left);
  }

  #read(chunk: Buffer): void {
    const phase = this.#phase;
    if (phase === BODY) {
      this.#body(chunk);
      return;
    }
    if (phase === CLOSED) return;
    const buf = this.#buf;
    this.#buf = buf === undefined ? chunk : Buffer.concat([buf, chunk]);
    if (phase === HEAD) {
      if (this.#deadlineKind === IDLE) this.#setDeadline(HEADER, this.owner.headerTimeout);
      this.#parse();
    } else if ((this.#buf as Buffer).length > this.owner.maxHeaderSize) {
      // Pipelined requests beyond one head's worth wait in the kernel until the answer is out.
      this.socket.pause();
    }
  }

  #parse(): void {
    while (this.#phase === HEAD) {
      const buf = this.#buf;
      if (buf === undefined) return;
      const owner = this.owner;
      const head = this.#waiting ?? parseRequestHead(buf, 0, buf.length, owner.maxHeaderSize);
      if (head === undefined) return;
      if (typeof head === 'string') return this.reject(HEAD_ERRORS[head]);
      const rest = head.headBytes < buf.length ? buf.subarray(head.headBytes) : undefined;
      // Upgrade is an HTTP/1.1 mechanism: a 1.0 request carrying one is a plain request.
      const tunnel =
        head.versionMinor === 1 &&
        head.upgrade !== undefined &&
        head.connectionUpgrade &&
        upgradeAllowed(head.upgrade, owner.upgrades);
      // A tunnel has no request body: the backend would wait for it until the 101 never came.
      if (tunnel && (head.chunked || head.contentLength > 0))
        return this.reject('FULCRUM_ERR_PROXY_UPGRADE_BODY');
      if (head.chunked && !this.#chunkedStartOk(head, rest)) return;
      this.#buf = undefined;
      // A head that waited got its `100 Continue` then.
      const continued = this.#waiting !== undefined;
      this.#waiting = undefined;
      if (tunnel) {
        this.#phase = CLOSED;
        this.#setDeadline(NONE, 0);
        this.#detachSocket();
        owner.onUpgrade(this, head, rest === undefined ? Buffer.alloc(0) : Buffer.from(rest));
        return;
      }
      this.#versionMinor = head.versionMinor;
      this.#requestKeepAlive = head.versionMinor === 1 ? !head.close : head.keepAlive && !head.close;
      this.#teTrailers = head.teTrailers && head.versionMinor === 1;
      this.#resetResponse();
      const hasBody = head.chunked || head.contentLength > 0;
      if (hasBody) {
        this.#phase = BODY;
        this.#discard = false;
        this.#bodyLeft = head.contentLength;
        this.#scanner = head.chunked ? new ChunkedScanner() : undefined;
        this.#setDeadline(REQUEST, owner.requestTimeout);
        if (head.expectContinue && head.versionMinor === 1 && !continued)
          this.socket.write(CONTINUE, 'latin1');
      } else {
        this.#phase = AWAIT;
        this.#setDeadline(NONE, 0);
      }
      owner.onRequest(this, head);
      if (hasBody && rest !== undefined && this.#phase === BODY) this.#body(rest);
      else if (rest !== undefined)
        this.#buf = this.#buf === undefined ? rest : Buffer.concat([rest, this.#buf]);
    }
  }

  /**
   * A chunked request's head goes upstream only once its first chunk-size line is read and good
   * and what is buffered of the body is well-formed and within the body limit, so a malformed
   * or oversized body is refused before anything is forwarded. False: refused, or waiting for
   * more bytes with the head left in the buffer (kept parsed in #waiting; bounded by the
   * size-line limits and the header deadline).
   */
  #chunkedStartOk(head: RequestHead, rest: Buffer | undefined): boolean {
    const check = new ChunkedScanner();
    const r = rest === undefined ? NEED_MORE : check.feed(rest, 0, rest.length);
    if (r === MALFORMED) {
      this.reject('FULCRUM_ERR_PROXY_BAD_CHUNK');
      return false;
    }
    if (check.declared > this.owner.maxBodySize) {
      this.reject('FULCRUM_ERR_PROXY_BODY_TOO_LARGE');
      return false;
    }
    if (check.sizeLines > 0) return true;
    if (this.#waiting === undefined) {
      this.#waiting = head;
      if (head.expectContinue && head.versionMinor === 1) this.socket.write(CONTINUE, 'latin1');
    }
    return false;
  }

  #body(chunk: Buffer): void {
    let end = chunk.length;
    let done = false;
    const scanner = this.#scanner;
    if (scanner === undefined) {
      if (end >= this.#bodyLeft) {
        end = this.#bodyLeft;
        done = true;
      }
      this.#bodyLeft -= end;
      const ex = this.exchange;
      if (end > 0 && ex !== undefined && !this.#discard) {
        const part = end === chunk.length ? chunk : chunk.subarray(0, end);
        ex.onClientData(part, isShared(part));
      }
    } else {
      // The payload goes on in canonical chunks (onChunkData): no received framing byte does.
      const r = scanner.feed(chunk, 0, end, this);
      if (r === MALFORMED) {
        const ex = this.exchange;
        this.#phase = CLOSED;
        if (ex !== undefined && !this.#discard) ex.clientFailed('FULCRUM_ERR_PROXY_BAD_CHUNK');
        else this.socket.destroy();
        return;
      }
      if (this.#phase !== BODY) return;
      if (r >= 0) {
        end = r;
        done = true;
        const ex = this.exchange;
        if (ex !== undefined && !this.#discard) ex.onClientData(encodeLastChunk(scanner.trailers), false);
      }
    }
    if (!done) return;
    this.#scanner = undefined;
    if (end < chunk.length) this.#buf = chunk.subarray(end);
    if (this.#discard) {
      // The answer went out before the body ended; the connection can carry the next request.
      this.#discard = false;
      this.#next();
      return;
    }
    if (this.#phase !== BODY) return;
    this.#phase = AWAIT;
    this.#setDeadline(NONE, 0);
    this.exchange?.onClientEnd();
  }

  /** The client half-closed (the listener allows half-open connections). */
  onEnd(): void {
    this.#clientEnded = true;
    const phase = this.#phase;
    // A request being answered is answered; end() then closes.
    if (phase === AWAIT) return;
    // A truncated request body or head cannot be answered.
    if (phase === BODY || (phase === HEAD && this.#buf !== undefined)) {
      this.socket.destroy();
      return;
    }
    this.#close();
  }

  /** FIN after the bytes already written; what the client still sends is read and dropped. */
  #close(): void {
    this.#phase = CLOSED;
    this.#buf = undefined;
    // A client that never closes its side is cut after the idle timeout.
    this.#setDeadline(IDLE, this.owner.idleTimeout);
    // Once: after our FIN (a `connection: close` answer, a refusal) the client's FIN comes
    // back here, and end() on a finished socket builds an ERR_STREAM_ALREADY_FINISHED (7.9%
    // of the samples of the connection-per-request profile). With both sides shut the
    // socket closes by itself.
    if (!this.socket.writableEnded) this.socket.end();
  }

  /** Pause reading the request body (the backend is not keeping up). */
  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  // --- writing ------------------------------------------------------------------------

  #resetResponse(): void {
    this.headersSent = false;
    this.responseEnded = false;
    this.statusCode = 0;
    this.bytesOut = 0;
    this.#pendingHead = undefined;
    this.#chunked = false;
  }

  /**
   * Start the response. `headers` carry the end-to-end fields (Content-Length included when
   * framing is 'length' or 'none'); Transfer-Encoding and Connection are added here, from the
   * framing and the client's keep-alive wish. The head goes out with the first body bytes.
   * With 'chunked' framing write() takes payload, which goes out in chunks fulcrum frames.
   */
  writeHead(status: number, reason: string, headers: string[], framing: BodyFraming, close = false): void {
    this.statusCode = status;
    this.headersSent = true;
    let keepAlive = this.#requestKeepAlive && !close && !this.owner.closing && framing !== 'close';
    if (framing === 'chunked') {
      if (this.#versionMinor === 1) {
        headers.push('transfer-encoding', 'chunked');
        this.#chunked = true;
      } else {
        // An HTTP/1.0 client cannot read chunked framing: the payload as is, ended by closing.
        keepAlive = false;
      }
    }
    if (!keepAlive) headers.push('connection', 'close');
    else if (this.#versionMinor === 0) headers.push('connection', 'keep-alive');
    this.#keepAlive = keepAlive;
    this.#phrase = reason !== '' ? reason : (STATUS_CODES[status] ?? '');
    this.#pendingHead = headers;
  }

  /** The pending head as bytes, followed by `body` when given. */
  #takeHead(body?: Buffer): Buffer {
    const headers = this.#pendingHead as string[];
    this.#pendingHead = undefined;
    return encodeHead('HTTP/1.1 ', `${this.statusCode}`, ' ', this.#phrase, headers, body);
  }

  /**
   * An interim (1xx) answer of the backend, relayed to an HTTP/1.1 client before the final one
   * (RFC 9110 §15.2); an HTTP/1.0 client cannot take one.
   */
  writeInformational(status: number, reason: string, headers: readonly string[]): void {
    if (this.#versionMinor !== 1 || this.headersSent) return;
    const phrase = reason !== '' ? reason : (STATUS_CODES[status] ?? '');
    this.#send(encodeHead('HTTP/1.1 ', `${status}`, ' ', phrase, headers));
  }

  /**
   * Response body bytes (payload, framed here as writeHead said), borrowed: they are copied
   * before the call returns (upstream reads reuse one buffer). False: wait for onClientDrain.
   */
  write(chunk: Buffer): boolean {
    const socket = this.socket;
    const pending = this.#pendingHead !== undefined;
    if (this.#chunked) {
      if (chunk.length === 0) return !socket.writableNeedDrain;
      if (!pending && fitsSlab(chunk.length))
        return this.#sendSlab(encodeChunk(chunk, 0, chunk.length, this.#lent().take(chunk.length)));
      const framed = encodeChunk(chunk, 0, chunk.length);
      return this.#send(pending ? this.#takeHead(framed) : framed);
    }
    // Head and first bytes in one buffer, one write: cheaper than cork + writev, and most
    // answers fit in it whole.
    if (pending) return this.#send(this.#takeHead(chunk));
    if (fitsSlab(chunk.length)) return this.#sendSlab(this.#lent().copy(chunk));
    return this.#send(Buffer.from(chunk));
  }

  #lent(): LentSlabs {
    return (this.#slabs ??= new LentSlabs());
  }

  #sendSlab(view: Buffer): boolean {
    this.bytesOut += view.length;
    return this.socket.write(view, (this.#slabs as LentSlabs).written);
  }

  #send(buf: Buffer): boolean {
    this.bytesOut += buf.length;
    return this.socket.write(buf);
  }

  /** Payload of a chunked request body: on to the exchange in canonical chunks. */
  onChunkData(buf: Buffer, start: number, end: number): void {
    const ex = this.exchange;
    if (ex !== undefined && !this.#discard && this.#phase === BODY)
      ex.onClientData(encodeChunk(buf, start, end), false);
  }

  /**
   * The response is complete. `trailers`: of a chunked backend body, forwarded when the client
   * asked for them with `TE: trailers`, otherwise dropped (RFC 9110 §6.5.1 lets a recipient).
   */
  end(body?: Buffer, trailers?: readonly string[]): void {
    if (this.responseEnded) return;
    if (body !== undefined) this.write(body);
    if (this.#chunked) {
      const last = encodeLastChunk(this.#teTrailers ? trailers : undefined);
      this.#send(this.#pendingHead !== undefined ? this.#takeHead(last) : last);
    } else if (this.#pendingHead !== undefined) this.#send(this.#takeHead());
    this.responseEnded = true;
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.finish();
    if (!this.#keepAlive) {
      this.#close();
      return;
    }
    if (this.#phase === BODY) {
      this.#discard = true;
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    this.#next();
  }

  /** Ready for the next request on this connection. */
  #next(): void {
    this.#phase = HEAD;
    // The previous answer is out: a refusal from here on writes its own status line.
    this.#resetResponse();
    this.#setDeadline(IDLE, this.owner.idleTimeout);
    if (this.owner.closing) {
      this.socket.destroy();
      return;
    }
    if (this.#clientEnded && this.#buf === undefined) {
      this.#close();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.#buf !== undefined) {
      this.#setDeadline(HEADER, this.owner.headerTimeout);
      this.#parse();
    }
  }

  /**
   * Take back a response head not written yet (it waits for the first body bytes), so the
   * request can still be answered otherwise. False when the head is already out.
   */
  retractHead(): boolean {
    if (this.#pendingHead === undefined || this.responseEnded) return false;
    this.#resetResponse();
    return true;
  }

  /** Cut the connection (a response that cannot be completed, a client gone). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Answer a request that never reached an exchange, then close. */
  reject(code: ErrorCode): void {
    this.#phase = CLOSED;
    this.#buf = undefined;
    this.#waiting = undefined;
    this.#setDeadline(NONE, 0);
    if (this.headersSent || !this.socket.writable) {
      this.socket.destroy();
      return;
    }
    this.headersSent = true;
    this.socket.end(rawErrorResponse(code), 'latin1');
  }

  #detachSocket(): void {
    const s = this.socket;
    s.off('data', onData);
    s.off('end', onEnd);
    s.off('error', onError);
    s.off('drain', onDrain);
    // The tunnel pipes the socket: its reads become a plain stream again.
    unshareReads(s);
    // onClose stays, so the listener forgets the connection when the tunnel ends.
  }

  onClose(): void {
    this.#phase = CLOSED;
    this.#setDeadline(NONE, 0);
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.finish();
    this.owner.onClose(this);
  }
}

function onSharedRead(this: Socket, n: number, buf: Buffer): boolean {
  (this as ConnSocket).conn.onData(buf.subarray(0, n));
  return true;
}

function onData(this: ConnSocket, chunk: Buffer): void {
  this.conn.onData(chunk);
}

function onEnd(this: ConnSocket): void {
  this.conn.onEnd();
}

function onError(this: ConnSocket): void {
  // 'close' follows and settles the exchange.
}

function onClose(this: ConnSocket): void {
  this.conn.onClose();
}

function onDrain(this: ConnSocket): void {
  this.conn.exchange?.onClientDrain();
}
