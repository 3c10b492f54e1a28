// A steady open-loop load: requests start on a fixed schedule (rate per second) whether or
// not earlier ones finished, as real users arrive, so an overloaded backend shows up as
// failures and latency rather than as a slower test. Bounded in count and time; loopback
// only; every request has a timeout.
import http from 'node:http';

export interface LoadOptions {
  host: string;
  port: number;
  /** Requests per second. */
  rate: number;
  /** Hard limit on the run; stop() may end it earlier. */
  maxDurationMs: number;
  timeoutMs: number;
  path?: string;
  /** Extra headers of request i (a hash key, say). */
  headers?: (i: number) => Record<string, string>;
}

export interface LoadRecord {
  /** Start time, ms since the load began. */
  at: number;
  latencyMs: number;
  /** HTTP status; 0 = no answer (connect error, reset, timeout). */
  status: number;
  backend: string | undefined;
}

const TICK_MS = 5;

export function isFailure(r: LoadRecord): boolean {
  return r.status === 0 || r.status >= 500;
}

export class LoadGenerator {
  readonly records: LoadRecord[] = [];
  readonly #o: LoadOptions;
  readonly #agent: http.Agent;
  #t0 = 0;
  #sent = 0;
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #drained: (() => void) | undefined;

  constructor(o: LoadOptions) {
    this.#o = o;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
  }

  /** ms since the load began (its own clock: performance.now based). */
  elapsed(): number {
    return performance.now() - this.#t0;
  }

  get sent(): number {
    return this.#sent;
  }

  start(): void {
    this.#t0 = performance.now();
    const max = Math.floor((this.#o.rate * this.#o.maxDurationMs) / 1000);
    this.#timer = setInterval(() => {
      const due = Math.min(max, Math.floor((this.elapsed() * this.#o.rate) / 1000));
      while (this.#sent < due && !this.#stopped) this.#send(this.#sent++);
      if (this.#sent >= max) void this.stop();
    }, TICK_MS);
  }

  #send(i: number): void {
    const at = this.elapsed();
    this.#inFlight++;
    let settled = false;
    const done = (status: number, backend: string | undefined): void => {
      if (settled) return;
      settled = true;
      this.records.push({ at, latencyMs: this.elapsed() - at, status, backend });
      if (--this.#inFlight === 0 && this.#stopped) this.#drained?.();
    };
    const req = http.request(
      {
        host: this.#o.host,
        port: this.#o.port,
        path: this.#o.path ?? '/',
        agent: this.#agent,
        headers: this.#o.headers?.(i) ?? {},
        timeout: this.#o.timeoutMs,
      },
      (res) => {
        const b = res.headers['x-backend'];
        res.resume();
        res.once('end', () => done(res.statusCode ?? 0, typeof b === 'string' ? b : undefined));
        res.once('error', () => done(0, undefined));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', () => done(0, undefined));
    req.end();
  }

  /** Stop sending and wait (at most the request timeout) for requests in flight. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#stopped) {
      this.#stopped = true;
      if (this.#inFlight > 0) {
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
          setTimeout(resolve, this.#o.timeoutMs + 100).unref();
        });
      }
      this.#agent.destroy();
    }
  }
}

export interface LoadSummary {
  requests: number;
  failed: number;
  failedShare: number;
  p99Ms: number | null;
}

/** Failures and p99 of the records started in [from, to). */
export function summarize(
  records: readonly LoadRecord[],
  from = 0,
  to = Number.POSITIVE_INFINITY,
): LoadSummary {
  const lat: number[] = [];
  let failed = 0;
  for (const r of records) {
    if (r.at < from || r.at >= to) continue;
    lat.push(r.latencyMs);
    if (isFailure(r)) failed++;
  }
  lat.sort((a, b) => a - b);
  const n = lat.length;
  return {
    requests: n,
    failed,
    failedShare: n > 0 ? failed / n : 0,
    p99Ms: n > 0 ? Math.round(lat[Math.min(n - 1, Math.ceil(n * 0.99) - 1)] as number) : null,
  };
}
