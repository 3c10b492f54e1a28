// Response body bytes arrive in the one read buffer all upstream connections share
// (upstream.ts), so they are copied before a client socket write may keep them. A fresh
// Buffer per copy cost an ArrayBuffer allocation (malloc and page faults) per 64 KiB read and
// its sweep in GC: on a 1 MiB-response run those were a third of fulcrum's busy time
// (bench/RESULTS.md, "Cost per unit"). The copies go into pooled slabs instead: a connection
// takes them through its LentSlabs, which gives each back once the socket has written it.
// Request bodies take the same path the other way: client reads share one buffer too
// (shared-read.ts), and an upstream connection copies what it forwards into its own slabs.
// Client reads are 256 KiB, upstream reads 64 KiB (bench/RESULTS.md: a 256 KiB client read
// cut the CPU per uploaded GiB by a third; a 256 KiB upstream read did not help responses).

/** Slab payload sizes: one upstream read, one client read (shared-read.ts). */
const SMALL = 65_536;
const LARGE = 262_144;

/** Room for the framing of one chunk around the payload. */
const FRAMING = 16;

/** Below this a copy comes from Node's own 8 KiB pool, which is cheaper than a slab's callback. */
const SLAB_MIN = 4096;

/** Free slabs kept per size (4 MiB each); the rest go to the GC. */
const MAX_FREE_SMALL = 64;
const MAX_FREE_LARGE = 16;

const freeSmall: Buffer[] = [];
const freeLarge: Buffer[] = [];
/** Slabs handed out and not given back or dropped yet (tests). */
let out = 0;

/** A copy of `n` bytes goes into a slab. */
export function fitsSlab(n: number): boolean {
  return n >= SLAB_MIN && n <= LARGE;
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
    if (done.length > SMALL + FRAMING) {
      if (freeLarge.length < MAX_FREE_LARGE) freeLarge.push(done);
    } else if (freeSmall.length < MAX_FREE_SMALL) freeSmall.push(done);
  };

  /** A copy of `view` in a slab of its own: write it with `written` as the callback. */
  copy(view: Buffer): Buffer {
    const slab = this.take(view.length);
    view.copy(slab, 0);
    return slab.subarray(0, view.length);
  }

  /**
   * A free slab for `n` bytes of payload (at most a client read), lent until the write it is
   * handed to calls `written`. Two sizes, so a 64 KiB response read never pins 256 KiB.
   */
  take(n: number): Buffer {
    const slab =
      n > SMALL
        ? (freeLarge.pop() ?? Buffer.allocUnsafeSlow(LARGE + FRAMING))
        : (freeSmall.pop() ?? Buffer.allocUnsafeSlow(SMALL + FRAMING));
    out++;
    this.#lent.push(slab);
    return slab;
  }
}

/** Slabs lent to writes right now, over all sockets (tests). */
export function slabsOut(): number {
  return out;
}
