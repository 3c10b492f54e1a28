// A steady, bounded client load for e2e tests: N keep-alive workers issue requests back to
// back until stopped (or until maxRequests / maxMs), recording every outcome.
import http from 'node:http';

export interface LoadResult {
  sent: number;
  ok: number;
  /** Status code → count (non-2xx answers). */
  statuses: Record<number, number>;
  /** Client-side errors (code → count): the request got no HTTP answer. */
  errors: Record<string, number>;
  /** x-backend header → count over 2xx answers. */
  backends: Record<string, number>;
  /** x-fulcrum-error header → count over non-2xx answers that carry one. */
  codes: Record<string, number>;
  failures: number;
}

export interface LoadOptions {
  url: string;
  concurrency?: number;
  method?: string;
  headers?: Record<string, string>;
  /** Hard bounds: the load stops by itself at whichever comes first. */
  maxRequests?: number;
  maxMs?: number;
  /** Pause between a worker's requests (open-ish loop); default 0. */
  pauseMs?: number;
  /**
   * After a failed request, the worker waits this long before its next one, as a user who got
   * an error page tries again a moment later; default 0. A closed loop whose failures cost no
   * time re-sends at once: one backend at its capacity then turns into a storm of fast 503s
   * that counts far more failures than requests a steady user population would have lost, and
   * the re-sends reshuffle which request lands where (round-robin near capacity never settles).
   */
  failurePauseMs?: number;
  timeoutMs?: number;
}

export interface RunningLoad {
  /** Stop issuing new requests, wait for the ones in flight, return the totals. */
  stop(): Promise<LoadResult>;
  readonly result: LoadResult;
  readonly done: Promise<LoadResult>;
}

export function startLoad(o: LoadOptions): RunningLoad {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.concurrency ?? 4 });
  const result: LoadResult = {
    sent: 0,
    ok: 0,
    statuses: {},
    errors: {},
    backends: {},
    codes: {},
    failures: 0,
  };
  const maxRequests = o.maxRequests ?? 100_000;
  const deadline = Date.now() + (o.maxMs ?? 60_000);
  let stopping = false;
  /** One request; resolves true when it failed. */
  const one = (): Promise<boolean> =>
    new Promise((resolve) => {
      result.sent++;
      const req = http.request(
        o.url,
        { method: o.method ?? 'GET', agent, headers: o.headers, timeout: o.timeoutMs ?? 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            const s = res.statusCode ?? 0;
            if (s >= 200 && s < 300) {
              result.ok++;
              const b = String(res.headers['x-backend'] ?? '?');
              result.backends[b] = (result.backends[b] ?? 0) + 1;
              resolve(false);
              return;
            }
            result.statuses[s] = (result.statuses[s] ?? 0) + 1;
            const code = res.headers['x-fulcrum-error'];
            if (typeof code === 'string') result.codes[code] = (result.codes[code] ?? 0) + 1;
            result.failures++;
            resolve(true);
          });
          res.on('error', () => {
            result.errors['EBODY'] = (result.errors['EBODY'] ?? 0) + 1;
            result.failures++;
            resolve(true);
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'EUNKNOWN';
        result.errors[code] = (result.errors[code] ?? 0) + 1;
        result.failures++;
        resolve(true);
      });
      req.end();
    });
  const worker = async (): Promise<void> => {
    while (!stopping && result.sent < maxRequests && Date.now() < deadline) {
      const failed = await one();
      const pause = (o.pauseMs ?? 0) + (failed ? (o.failurePauseMs ?? 0) : 0);
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  };
  const done = Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker)).then(() => {
    agent.destroy();
    return result;
  });
  return {
    result,
    done,
    stop() {
      stopping = true;
      return done;
    },
  };
}

/** Send n sequential GETs over one keep-alive agent; returns x-backend counts. */
export async function countBackends(url: string, n: number, concurrency = 1): Promise<LoadResult> {
  return startLoad({ url, concurrency, maxRequests: n, maxMs: 120_000 }).done;
}
