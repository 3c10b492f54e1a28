/**
 * Real loopback HTTP backends that can be told to fail, for end-to-end tests.
 *
 * Every answer carries `x-backend: <name>`. Routes (any mode permitting):
 * - `GET /healthz`           health endpoint, driven by setHealth() independently of the traffic mode
 * - `GET /echo`              JSON `{ method, url, headers, bytes }` of the request received
 * - `GET /bytes/N`           streams N bytes (backpressure respected, one reused chunk: nothing buffered)
 * - `POST|PUT *`             body consumed streaming, answers JSON `{ bytes }`
 * - anything else            200 `text/plain` `<name>\n`
 * - WebSocket-style upgrade  answers `101 Switching Protocols` and echoes every byte back
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type BackendMode =
  | 'ok'
  | 'down'
  | 'hang'
  | 'slow'
  | '5xx'
  | 'reset-mid-body'
  | 'flap'
  /** A connection's first request is answered; every later one is read in full, then the connection is closed unanswered. */
  | 'close-reused';

export interface FakeBackendOptions {
  name: string;
  port?: number;
  /** Base latency added before every normal answer (default 0). */
  latencyMs?: number;
  /** Concurrent requests; beyond it answer 503. */
  capacity?: number;
  /** Half-period of 'flap' mode (default 200 ms). */
  flapPeriodMs?: number;
}

export interface FakeBackend {
  readonly name: string;
  readonly port: number;
  /** '127.0.0.1:PORT' */
  readonly address: string;
  /** Requests received, excluding health checks (path /healthz). */
  requests: number;
  /** The same requests by method. */
  readonly methods: Record<string, number>;
  healthChecks: number;
  inFlight: number;
  /** TCP connections accepted (to check keep-alive reuse). */
  connections: number;
  /**
   * Mode of normal requests; 'down' closes the listening socket (connection refused) and destroys
   * open sockets, leaving 'down' re-listens on the same port.
   */
  setMode(mode: BackendMode, opts?: { latencyMs?: number; status?: number }): Promise<void>;
  /** Health endpoint answers separately (so a test can fail checks while traffic is ok, or the reverse). */
  setHealth(mode: 'ok' | 'fail' | 'hang'): void;
  /** Optional: a header every response carries (e.g. a lame-duck header). */
  setExtraHeaders(h: Record<string, string>): void;
  close(): Promise<void>;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const DEFAULT_SLOW_MS = 1000;
const DEFAULT_FLAP_MS = 200;

class FakeBackendImpl implements FakeBackend {
  readonly name: string;
  port: number;
  requests = 0;
  readonly methods: Record<string, number> = {};
  healthChecks = 0;
  inFlight = 0;
  connections = 0;

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  /** Requests seen per connection (for 'close-reused'). */
  private readonly perSocket = new WeakMap<Socket, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly baseLatencyMs: number;
  private readonly capacity: number;
  private readonly flapPeriodMs: number;
  private mode: BackendMode = 'ok';
  private slowMs = DEFAULT_SLOW_MS;
  private failStatus = 503;
  private health: 'ok' | 'fail' | 'hang' = 'ok';
  private extra: Record<string, string> = {};
  private listening = false;
  private closed = false;
  private flapTimer: NodeJS.Timeout | undefined;
  /** Listen/close transitions are serialised so flapping and setMode never race. */
  private transition: Promise<void> = Promise.resolve();

  constructor(opts: FakeBackendOptions) {
    this.name = opts.name;
    this.port = opts.port ?? 0;
    this.baseLatencyMs = opts.latencyMs ?? 0;
    this.capacity = opts.capacity ?? Infinity;
    this.flapPeriodMs = opts.flapPeriodMs ?? DEFAULT_FLAP_MS;
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    this.server.on('connection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('upgrade', (req, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    this.server.on('clientError', (_err, socket: Socket) => socket.destroy());
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  listen(): Promise<void> {
    if (this.listening || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.port, '127.0.0.1', () => {
        this.server.off('error', onError);
        this.port = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }

  private unlisten(): Promise<void> {
    if (!this.listening) return Promise.resolve();
    this.listening = false;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }

  setMode(mode: BackendMode, opts?: { latencyMs?: number; status?: number }): Promise<void> {
    this.mode = mode;
    this.slowMs = opts?.latencyMs ?? DEFAULT_SLOW_MS;
    this.failStatus = opts?.status ?? 503;
    if (this.flapTimer) {
      clearInterval(this.flapTimer);
      this.flapTimer = undefined;
    }
    if (mode === 'flap') {
      let up = true;
      this.flapTimer = setInterval(() => {
        up = !up;
        void this.enqueue(() => (up ? this.listen() : this.unlisten()));
      }, this.flapPeriodMs);
      this.flapTimer.unref();
      return this.enqueue(() => this.listen());
    }
    return this.enqueue(() => (mode === 'down' ? this.unlisten() : this.listen()));
  }

  setHealth(mode: 'ok' | 'fail' | 'hang'): void {
    this.health = mode;
  }

  setExtraHeaders(h: Record<string, string>): void {
    this.extra = { ...h };
  }

  async close(): Promise<void> {
    if (this.flapTimer) clearInterval(this.flapTimer);
    this.flapTimer = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.enqueue(() => this.unlisten());
    this.closed = true;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.timers.add(t);
  }

  private headers(contentType?: string): Record<string, string> {
    const h: Record<string, string> = { ...this.extra, 'x-backend': this.name };
    if (contentType) h['content-type'] = contentType;
    return h;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    if (url === '/healthz') {
      this.healthChecks++;
      req.resume();
      if (this.health === 'hang') return;
      res.writeHead(this.health === 'ok' ? 200 : 503, this.headers('text/plain'));
      res.end(this.health === 'ok' ? 'ok\n' : 'fail\n');
      return;
    }
    this.requests++;
    const method = req.method ?? '?';
    this.methods[method] = (this.methods[method] ?? 0) + 1;
    const nth = (this.perSocket.get(req.socket) ?? 0) + 1;
    this.perSocket.set(req.socket, nth);
    this.inFlight++;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.inFlight--;
    };
    res.on('close', finish);

    if (this.inFlight > this.capacity) {
      req.resume();
      res.writeHead(503, this.headers('text/plain'));
      res.end('over capacity\n');
      return;
    }
    if (this.mode === 'close-reused' && nth > 1) {
      req.resume();
      req.on('end', () => req.socket.destroy());
      return;
    }
    switch (this.mode) {
      case 'hang':
        req.resume();
        return;
      case '5xx':
        req.resume();
        this.later(this.baseLatencyMs, () => {
          res.writeHead(this.failStatus, this.headers('text/plain'));
          res.end(`${this.failStatus}\n`);
        });
        return;
      case 'reset-mid-body':
        req.resume();
        res.writeHead(200, { ...this.headers('application/octet-stream'), 'content-length': '1000000' });
        res.write(CHUNK.subarray(0, 1000), () => req.socket.destroy());
        return;
      case 'slow':
        this.later(this.slowMs + this.baseLatencyMs, () => this.answer(req, res, url));
        return;
      default:
        if (this.baseLatencyMs > 0) this.later(this.baseLatencyMs, () => this.answer(req, res, url));
        else this.answer(req, res, url);
    }
  }

  /** Normal answer; consumes the request body first, counting its bytes. */
  private answer(req: http.IncomingMessage, res: http.ServerResponse, url: string): void {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (res.destroyed) return;
      if (url === '/echo' || url.startsWith('/echo?')) {
        res.writeHead(200, this.headers('application/json'));
        res.end(JSON.stringify({ method: req.method, url, headers: req.headers, bytes }));
      } else if (url.startsWith('/bytes/')) {
        this.streamBytes(res, Number(url.slice(7)));
      } else if (req.method === 'POST' || req.method === 'PUT') {
        res.writeHead(200, this.headers('application/json'));
        res.end(JSON.stringify({ bytes }));
      } else {
        res.writeHead(200, this.headers('text/plain'));
        res.end(`${this.name}\n`);
      }
    });
  }

  private streamBytes(res: http.ServerResponse, total: number): void {
    if (!Number.isSafeInteger(total) || total < 0) {
      res.writeHead(400, this.headers('text/plain'));
      res.end('bad size\n');
      return;
    }
    res.writeHead(200, { ...this.headers('application/octet-stream'), 'content-length': String(total) });
    let left = total;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, CHUNK.length);
        left -= n;
        if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => res.off('drain', pump));
    pump();
  }

  private upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    this.requests++;
    if (this.mode !== 'ok' && this.mode !== 'slow' && this.mode !== 'flap') {
      socket.destroy();
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        `upgrade: ${req.headers.upgrade ?? 'websocket'}\r\n` +
        'connection: Upgrade\r\n' +
        `x-backend: ${this.name}\r\n\r\n`,
    );
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
    socket.on('error', () => socket.destroy());
  }
}

export async function startFakeBackend(opts: FakeBackendOptions): Promise<FakeBackend> {
  const b = new FakeBackendImpl(opts);
  await b.listen();
  return b;
}

/** `n` backends named `${prefix}0`, `${prefix}1`, ... (default prefix 'b'). */
export function startFakeBackends(n: number, prefix = 'b'): Promise<FakeBackend[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => startFakeBackend({ name: `${prefix}${i}` })));
}
