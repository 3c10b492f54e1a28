// Serialises config applies in one process: a queue of promises, so two applies never
// interleave their build → warm → swap → commit steps. Across processes sharing a store,
// the store's optimistic version check (expectedLatest) does the same job.

export class ApplyLock {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
