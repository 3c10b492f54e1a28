// Byte-level HTTP/1.1 test kit for the smuggling suites: a raw client that writes exact bytes
// and reads exact responses, a strict origin (node:http, llhttp without lenient flags) that
// records every message it parsed and every parse error, and a raw backend that records the
// bytes it received and answers with exactly what a case needs.
import http from 'node:http';
import net from 'node:net';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RawResponse {
  statusLine: string;
  status: number;
  /** Lower-case names; repeats joined with ", ". */
  headers: Record<string, string>;
  /** How many times each lower-case name appeared. */
  counts: Record<string, number>;
  /** The payload (de-chunked when chunked). */
  body: string;
  /** Trailer lines of a chunked body. */
  trailers: string[];
}

/** Where a chunked body starting at `from` ends; undefined while incomplete; throws when malformed. */
export function parseChunked(
  buf: Buffer,
  from: number,
): { end: number; body: Buffer; trailers: string[] } | undefined {
  const parts: Buffer[] = [];
  let at = from;
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const line = buf.toString('latin1', at, eol);
    if (!/^[0-9a-f]+$/.test(line))
      throw new Error(`not a canonical chunk-size line: ${JSON.stringify(line)}`);
    const size = parseInt(line, 16);
    at = eol + 2;
    if (size === 0) break;
    if (buf.length < at + size + 2) return undefined;
    parts.push(buf.subarray(at, at + size));
    if (buf.toString('latin1', at + size, at + size + 2) !== '\r\n')
      throw new Error('chunk data overruns its size');
    at += size + 2;
  }
  const trailers: string[] = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', at, 'latin1');
    if (eol < 0) return undefined;
    const line = buf.toString('latin1', at, eol);
    at = eol + 2;
    if (line === '') return { end: at, body: Buffer.concat(parts), trailers };
    trailers.push(line);
  }
}

function headLines(lines: string[]): { headers: Record<string, string>; counts: Record<string, number> } {
  const headers: Record<string, string> = {};
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    const name = line.slice(0, i).toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return { headers, counts };
}

export class RawClient {
  readonly socket: net.Socket;
  buf: Buffer = Buffer.alloc(0);
  closed = false;
  #wake: (() => void) | undefined;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (c: Buffer) => {
      this.buf = this.buf.length === 0 ? c : Buffer.concat([this.buf, c]);
      this.#wake?.();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  static async open(port: number): Promise<RawClient> {
    const c = new RawClient(port);
    await new Promise<void>((resolve, reject) => {
      c.socket.once('connect', () => resolve());
      c.socket.once('error', reject);
    });
    return c;
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  async until(ready: () => boolean, what: string, ms = 5000): Promise<void> {
    const deadline = performance.now() + ms;
    while (!ready()) {
      const left = deadline - performance.now();
      if (left <= 0)
        throw new Error(
          `${what}: not within ${ms} ms; got ${JSON.stringify(this.buf.toString('latin1', 0, 300))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  async waitClosed(ms = 5000): Promise<void> {
    await this.until(() => this.closed, 'connection close', ms);
  }

  #take(n: number): string {
    const s = this.buf.toString('latin1', 0, n);
    this.buf = this.buf.subarray(n);
    return s;
  }

  /** Read one response (`head`: the answer to a HEAD request). */
  async response(opts: { head?: boolean } = {}, ms = 5000): Promise<RawResponse> {
    await this.until(
      () => this.buf.indexOf('\r\n\r\n', 0, 'latin1') >= 0 || this.closed,
      'response head',
      ms,
    );
    const end = this.buf.indexOf('\r\n\r\n', 0, 'latin1');
    if (end < 0)
      throw new Error(`closed before a response head; got ${JSON.stringify(this.buf.toString('latin1'))}`);
    const lines = this.#take(end + 4)
      .slice(0, -4)
      .split('\r\n');
    const statusLine = lines[0] as string;
    const m = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine);
    if (m === null) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
    const status = Number(m[1]);
    const { headers, counts } = headLines(lines.slice(1));
    const r: RawResponse = { statusLine, status, headers, counts, body: '', trailers: [] };
    if (opts.head === true || status < 200 || status === 204 || status === 304) return r;
    if (headers['transfer-encoding'] !== undefined) {
      let c: ReturnType<typeof parseChunked>;
      await this.until(
        () => (c = parseChunked(this.buf, 0)) !== undefined || this.closed,
        'chunked body',
        ms,
      );
      if (c === undefined) throw new Error('closed inside a chunked body');
      r.body = c.body.toString('latin1');
      r.trailers = c.trailers;
      this.#take(c.end);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      await this.until(() => this.buf.length >= len || this.closed, 'body', ms);
      if (this.buf.length < len) throw new Error('closed inside a body');
      r.body = this.#take(len);
    } else {
      await this.waitClosed(ms);
      r.body = this.#take(this.buf.length);
    }
    return r;
  }
}

/** One message the strict origin parsed in full. */
export interface OriginMessage {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  body: string;
  trailers: Record<string, string | undefined>;
}

export interface StrictOrigin {
  address: string;
  port: number;
  /** Messages parsed in full, in order. */
  messages: OriginMessage[];
  /** Request heads parsed (complete or not). */
  heads: number;
  /** llhttp parse errors (bytes on a connection that are not a valid request). */
  parseErrors: string[];
  connections: number;
  /** Answer for a message; default: 200 with `method url bodyLength` as the body. */
  answer: (m: OriginMessage, res: http.ServerResponse) => void;
  close(): Promise<void>;
}

/** A node:http origin with the strict llhttp parser (no `insecureHTTPParser`, no lenient flags). */
export async function strictOrigin(): Promise<StrictOrigin> {
  const origin: StrictOrigin = {
    address: '',
    port: 0,
    messages: [],
    heads: 0,
    parseErrors: [],
    connections: 0,
    answer: (m, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(`${m.method} ${m.url} ${m.body.length}`);
    },
    close: async () => {},
  };
  const server = http.createServer({ insecureHTTPParser: false, keepAliveTimeout: 10_000 }, (req, res) => {
    origin.heads++;
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const m: OriginMessage = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(parts).toString('latin1'),
        trailers: req.trailers,
      };
      origin.messages.push(m);
      origin.answer(m, res);
    });
  });
  server.on('connection', () => origin.connections++);
  server.on('clientError', (err: Error & { code?: string }, socket: net.Socket) => {
    origin.parseErrors.push(err.code ?? err.message);
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.port = (server.address() as net.AddressInfo).port;
  origin.address = `127.0.0.1:${origin.port}`;
  origin.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return origin;
}

export interface RawBackend {
  address: string;
  /** Every byte received, per connection, in order. */
  received: Buffer[];
  connections: number;
  close(): Promise<void>;
}

/**
 * A backend that reads raw bytes; `onBytes` gets everything received so far on a connection
 * and answers through the socket once it has seen what it waits for (it is called on every read).
 */
export async function rawBackend(
  onBytes: (all: Buffer, socket: net.Socket, connection: number) => void,
): Promise<RawBackend> {
  const b: RawBackend = { address: '', received: [], connections: 0, close: async () => {} };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    const index = b.connections++;
    b.received.push(Buffer.alloc(0));
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (c: Buffer) => {
      b.received[index] = Buffer.concat([b.received[index] as Buffer, c]);
      onBytes(b.received[index] as Buffer, s, index);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  b.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return b;
}

/** Poll until `ready()` or the deadline; returns whether it held. */
export async function eventually(ready: () => boolean, ms = 3000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!ready() && performance.now() < deadline) await sleep(10);
  return ready();
}

/**
 * An `onBytes` for body-less requests: answers the n-th request head of a connection (counted
 * by its empty line) with `answer(n)`, once each (n from 1).
 */
export function answerEachHead(answer: (n: number) => string): Parameters<typeof rawBackend>[0] {
  const answered = new Map<number, number>();
  return (all, socket, connection) => {
    const n = all.toString('latin1').split('\r\n\r\n').length - 1;
    if ((answered.get(connection) ?? 0) >= n) return;
    answered.set(connection, n);
    socket.write(answer(n));
  };
}
