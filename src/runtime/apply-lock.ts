// Serialises config applies in one process: a queue of promises, so two applies never
// interleave their build → warm → swap → commit steps. Across processes sharing a store,
// the store's optimistic version check (expectedLatest) does the same job.

export class ApplyLock {
  #tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    // The tail only orders the next run: it settles with nothing, so the lock does not keep
    // the last result alive until the next apply (an ApplyResult's diff of a first apply
    // holds a copy of every backend's config and its text, ~0.3 KB each: bench/RESULTS.md).
    this.#tail = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }
}
