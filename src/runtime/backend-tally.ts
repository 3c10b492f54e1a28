// Requests and 5xx answers per pool and backend, counted on every request outcome without
// building a `pool/backend` key string per request: a map of pools, each a map of backends.

/** Requests and 5xx answers of one backend. */
export interface BackendCounts {
  requests: number;
  errors: number;
}

export class BackendTally {
  readonly #pools = new Map<string, Map<string, BackendCounts>>();

  count(pool: string, backend: string, error: boolean): void {
    let backends = this.#pools.get(pool);
    if (backends === undefined) this.#pools.set(pool, (backends = new Map()));
    let c = backends.get(backend);
    if (c === undefined) backends.set(backend, (c = { requests: 0, errors: 0 }));
    c.requests++;
    if (error) c.errors++;
  }

  clear(): void {
    this.#pools.clear();
  }

  /** A copy keyed `pool/backend`, for verdicts and views (read a few times a second, not per request). */
  snapshot(): Map<string, BackendCounts> {
    const out = new Map<string, BackendCounts>();
    for (const [pool, backends] of this.#pools)
      for (const [backend, c] of backends) out.set(`${pool}/${backend}`, { ...c });
    return out;
  }
}
