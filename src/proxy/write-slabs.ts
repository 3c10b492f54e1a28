// Response body bytes arrive in the one read buffer all upstream connections share
// (upstream.ts), so they are copied before a client socket write may keep them. A fresh
// Buffer per copy cost an ArrayBuffer allocation (malloc and page faults) per 64 KiB read and
// its sweep in GC: on a 1 MiB-response run those were a third of fulcrum's busy time
// (bench/RESULTS.md, "Cost per unit"). The copies go into pooled slabs instead: a connection
// takes them through its LentSlabs, which gives each back once the socket has written it.
// Request bodies take the same path the other way: client reads share one buffer too
// (shared-read.ts), and an upstream connection copies what it forwards into its own slabs.

/** The most payload a slab takes: one read (both read buffers are 64 KiB). */
export const SLAB_PAYLOAD = 65_536;

/** Payload plus the framing of one chunk around it. */
const SLAB_SIZE = SLAB_PAYLOAD + 16;

/** Below this a copy comes from Node's own 8 KiB pool, which is cheaper than a slab's callback. */
const SLAB_MIN = 4096;

/** Free slabs kept (4 MiB); the rest go to the GC. */
const MAX_FREE = 64;

const free: Buffer[] = [];
/** Slabs handed out and not given back or dropped yet (tests). */
let out = 0;

/** A copy of `n` bytes goes into a slab. */
export function fitsSlab(n: number): boolean {
  return n >= SLAB_MIN && n <= SLAB_PAYLOAD;
}

/**
 * The slabs one socket's writes hold, oldest first. `written` is the callback of each slab's
 * write: writes finish in order, so the oldest slab is the one written. After a write error
 * the socket is gone and what it may still hold is left to the GC, never reused.
 */
export class LentSlabs {
  readonly #lent: Buffer[] = [];

  readonly written = (err?: Error | null): void => {
    const lent = this.#lent;
    if (err !== null && err !== undefined) {
      out -= lent.length;
      lent.length = 0;
      return;
    }
    const done = lent.shift();
    if (done === undefined) return;
    out--;
    if (free.length < MAX_FREE) free.push(done);
  };

  /** A free slab, lent until the write it is handed to calls `written`. */
  take(): Buffer {
    const slab = free.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE);
    out++;
    this.#lent.push(slab);
    return slab;
  }
}

/** Slabs lent to writes right now, over all sockets (tests). */
export function slabsOut(): number {
  return out;
}
