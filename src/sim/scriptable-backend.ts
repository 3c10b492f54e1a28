/**
 * A real loopback HTTP backend that can be scripted to fail: the one implementation behind the
 * test fake (src/testing/fake-backend.ts), the drill's capacity-limited backends
 * (src/drill/drill-backend.ts) and the demo's backends (src/demo/demo-backends.ts). It ships in
 * dist/ because drill and demo do.
 *
 * Every answer carries `x-backend: <name>`. Routes (any mode permitting):
 * - health paths (`/healthz`, and any given in `healthPaths`): each driven by setHealth()
 *   independently of the traffic mode, never queued behind traffic or capacity
 * - with `routes: 'test'` (the default):
 *   - `GET /echo`             JSON `{ method, url, headers, bytes }` of the request received
 *   - `GET /bytes/N`          streams N bytes (backpressure respected, one reused chunk: nothing buffered)
 *   - `POST|PUT *`            body consumed streaming, answers JSON `{ bytes }`
 *   - WebSocket-style upgrade answers `101 Switching Protocols` and echoes every byte back
 * - anything else             200, the greeting (default `text/plain` `<name>\n`)
 * Beyond `capacity` requests at once it answers 503 at once; `latencyMs` (settable) delays
 * every normal answer.
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

export type HealthMode = 'ok' | 'fail' | 'hang';

export interface ScriptableBackendOptions {
  name: string;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  port?: number;
  /** Base latency added before every normal answer (default 0). */
  latencyMs?: number;
  /** Concurrent requests; beyond it answer 503. */
  capacity?: number;
  /** Half-period of 'flap' mode (default 200 ms). */
  flapPeriodMs?: number;
  /** How long an idle keep-alive connection stays open (default node's). */
  keepAliveTimeoutMs?: number;
  /** Health paths beside `/healthz` (always one), with their first state: `{ '/ready': 'fail' }`. */
  healthPaths?: Record<string, HealthMode>;
  /** 'test' (default) serves the routes above; 'plain' answers every traffic request with the greeting. */
  routes?: 'test' | 'plain';
  /** Body of the plain answer (default `<name>\n`). */
  greeting?: (req: http.IncomingMessage) => string;
  /** Content type of the plain answer (default `text/plain`). */
  greetingType?: string;
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const DEFAULT_SLOW_MS = 1000;
const DEFAULT_FLAP_MS = 200;

export class ScriptableBackend {
  readonly name: string;
  readonly host: string;
  /** The bound port once listening (the asked one, or the one the system chose for 0). */
  port: number;
  /** Concurrent requests served at once; beyond it 503. */
  readonly capacity: number;
  /** Added before every normal answer; settable while running (a backend that slows down). */
  latencyMs: number;
  /** Requests received, excluding health checks. */
  requests = 0;
  /** The same requests by method. */
  readonly methods: Record<string, number> = {};
  /** Requests answered 503 for capacity. */
  rejected = 0;
  /**
   * Of `requests`, those whose answer was written out in full ('finish'). A balancer that
   * retries a request whose connection reset makes the backend see it twice but answer it once.
   */
  answered = 0;
  healthChecks = 0;
  inFlight = 0;
  /** TCP connections accepted (to check keep-alive reuse). */
  connections = 0;

  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  /** Requests seen per connection (for 'close-reused'). */
  private readonly perSocket = new WeakMap<Socket, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly flapPeriodMs: number;
  private readonly testRoutes: boolean;
  private readonly greeting: (req: http.IncomingMessage) => string;
  private readonly greetingType: string;
  private readonly health: Map<string, HealthMode>;
  private mode: BackendMode = 'ok';
  private slowMs = DEFAULT_SLOW_MS;
  private failStatus = 503;
  private extra: Record<string, string> = {};
  private listening = false;
  private closed = false;
  private flapTimer: NodeJS.Timeout | undefined;
  /** Listen/close transitions are serialised so flapping and setMode never race. */
  private transition: Promise<void> = Promise.resolve();

  constructor(opts: ScriptableBackendOptions) {
    this.name = opts.name;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.latencyMs = opts.latencyMs ?? 0;
    this.capacity = opts.capacity ?? Infinity;
    this.flapPeriodMs = opts.flapPeriodMs ?? DEFAULT_FLAP_MS;
    this.testRoutes = (opts.routes ?? 'test') === 'test';
    this.greeting = opts.greeting ?? (() => `${this.name}\n`);
    this.greetingType = opts.greetingType ?? 'text/plain';
    this.health = new Map(Object.entries({ '/healthz': 'ok', ...opts.healthPaths }));
    this.server = http.createServer({ keepAlive: true }, (req, res) => this.handle(req, res));
    if (opts.keepAliveTimeoutMs !== undefined) this.server.keepAliveTimeout = opts.keepAliveTimeoutMs;
    this.server.on('connection', (s: Socket) => {
      this.connections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    // Without an 'upgrade' listener node answers an upgrade request as a plain one.
    if (this.testRoutes) {
      this.server.on('upgrade', (req, socket: Socket, head: Buffer) => this.upgrade(req, socket, head));
    }
    this.server.on('clientError', (_err, socket: Socket) => socket.destroy());
  }

  /** 'HOST:PORT' */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Starts listening (a no-op when listening or closed); rejects with the listen error (EADDRINUSE...). */
  listen(): Promise<void> {
    if (this.listening || this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.port, this.host, () => {
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

  /**
   * Mode of normal requests; 'down' closes the listening socket (connection refused) and destroys
   * open sockets, leaving 'down' re-listens on the same port. `latencyMs` is the delay of 'slow'
   * (default 1000 ms, on top of the base latency), `status` the answer of '5xx' (default 503).
   */
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

  /** A health path answers separately (so a test can fail checks while traffic is ok, or the reverse). */
  setHealth(mode: HealthMode, path = '/healthz'): void {
    this.health.set(path, mode);
  }

  healthOf(path = '/healthz'): HealthMode | undefined {
    return this.health.get(path);
  }

  /** A header every response carries (e.g. a lame-duck header). */
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
    const health = this.health.get(url);
    if (health !== undefined) {
      this.healthChecks++;
      req.resume();
      if (health === 'hang') return;
      res.writeHead(health === 'ok' ? 200 : 503, this.headers('text/plain'));
      res.end(health === 'ok' ? 'ok\n' : 'fail\n');
      return;
    }
    this.requests++;
    res.on('finish', () => this.answered++);
    const method = req.method ?? '?';
    this.methods[method] = (this.methods[method] ?? 0) + 1;
    const nth = (this.perSocket.get(req.socket) ?? 0) + 1;
    this.perSocket.set(req.socket, nth);
    if (this.inFlight >= this.capacity) {
      this.rejected++;
      req.resume();
      res.writeHead(503, this.headers('text/plain'));
      res.end('over capacity\n');
      return;
    }
    this.inFlight++;
    // Capacity counts requests in service: a slot frees when the answer is written (as a real
    // server's worker frees once its response is in the kernel's buffer), or when the request
    // ends unanswered. Freed on the response's 'close' instead, a slot stayed taken until the
    // write completed a loop turn later: on a busy machine a stall could let the next request
    // arrive first, so 1:1:1 under capacity read as over it and good configs drew 503s.
    let done = false;
    const free = (): void => {
      if (done) return;
      done = true;
      this.inFlight--;
    };
    res.on('close', free);

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
        this.later(this.latencyMs, () => {
          free();
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
        this.later(this.slowMs + this.latencyMs, () => this.answer(req, res, url, free));
        return;
      default:
        if (this.latencyMs > 0) this.later(this.latencyMs, () => this.answer(req, res, url, free));
        else this.answer(req, res, url, free);
    }
  }

  /**
   * Normal answer; consumes the request body first, counting its bytes. `free` gives the capacity
   * slot back as the answer is written (a streamed `/bytes/N` holds it until the stream closes).
   */
  private answer(req: http.IncomingMessage, res: http.ServerResponse, url: string, free: () => void): void {
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (res.destroyed) return;
      const streams = this.testRoutes && url.startsWith('/bytes/');
      if (!streams) free();
      if (this.testRoutes && (url === '/echo' || url.startsWith('/echo?'))) {
        res.writeHead(200, this.headers('application/json'));
        res.end(JSON.stringify({ method: req.method, url, headers: req.headers, bytes }));
      } else if (streams) {
        this.streamBytes(res, Number(url.slice(7)));
      } else if (this.testRoutes && (req.method === 'POST' || req.method === 'PUT')) {
        res.writeHead(200, this.headers('application/json'));
        res.end(JSON.stringify({ bytes }));
      } else {
        res.writeHead(200, this.headers(this.greetingType));
        res.end(this.greeting(req));
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

/** A backend, listening. */
export async function startScriptableBackend(opts: ScriptableBackendOptions): Promise<ScriptableBackend> {
  const b = new ScriptableBackend(opts);
  await b.listen();
  return b;
}
