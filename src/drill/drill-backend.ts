// A backend with finite capacity, as the postmortem's servers had: it serves at most
// `capacity` requests at once, each taking `serviceMs`, and answers 503 at once beyond
// that. Health endpoints never queue behind traffic (an overloaded server still says it is
// healthy, which is how the incident stayed invisible to health checks).
//   GET /healthz  200 while running
//   GET /ready    200 only when `readyOk` (a health path that fails on most backends)
//   anything else capacity-limited; 200 after serviceMs, `x-backend: <name>`
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface DrillBackendOptions {
  name: string;
  capacity: number;
  serviceMs: number;
  readyOk?: boolean;
}

export class DrillBackend {
  readonly name: string;
  readonly capacity: number;
  serviceMs: number;
  readyOk: boolean;
  port = 0;
  inFlight = 0;
  /** Traffic requests received (health checks excluded) and those refused for capacity. */
  requests = 0;
  rejected = 0;
  crashed = false;
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();

  constructor(o: DrillBackendOptions) {
    this.name = o.name;
    this.capacity = o.capacity;
    this.serviceMs = o.serviceMs;
    this.readyOk = o.readyOk ?? true;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    this.#server.keepAliveTimeout = 10_000;
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    const headers = { 'content-type': 'text/plain', 'x-backend': this.name };
    if (req.url === '/healthz') {
      res.writeHead(200, headers).end('ok\n');
      return;
    }
    if (req.url === '/ready') {
      res.writeHead(this.readyOk ? 200 : 503, headers).end(this.readyOk ? 'ready\n' : 'not ready\n');
      return;
    }
    this.requests++;
    if (this.inFlight >= this.capacity) {
      this.rejected++;
      res.writeHead(503, headers).end('over capacity\n');
      return;
    }
    this.inFlight++;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      this.inFlight--;
    };
    res.once('close', finish);
    setTimeout(() => {
      if (!res.destroyed) res.writeHead(200, headers).end(`${this.name}\n`);
      finish();
    }, this.serviceMs);
  }

  /** Dies mid-load: stops listening (connection refused) and drops every open connection. */
  async crash(): Promise<void> {
    if (this.crashed) return;
    this.crashed = true;
    const closed = new Promise<void>((r) => this.#server.close(() => r()));
    for (const s of this.#sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    if (this.crashed) return;
    await this.crash();
  }
}
