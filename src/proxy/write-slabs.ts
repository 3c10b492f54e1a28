// Response body bytes arrive in the one read buffer all upstream connections share
// (upstream.ts), so they are copied before a client socket write may keep them. A fresh
// Buffer per copy cost an ArrayBuffer allocation (malloc and page faults) per 64 KiB read and
// its sweep in GC: on a 1 MiB-response run those were a third of fulcrum's busy time
// (bench/RESULTS.md, "Cost per unit"). The copies go into pooled slabs instead, which a
// connection gives back once its socket has written them (writeSlab in client-connection.ts).

/** One upstream read (64 KiB) plus the framing of one chunk around it. */
export const SLAB_SIZE = 65_536 + 16;

/** Below this a copy comes from Node's own 8 KiB pool, which is cheaper than a slab's callback. */
export const SLAB_MIN = 4096;

/** Free slabs kept (4 MiB); the rest go to the GC. */
const MAX_FREE = 64;

const free: Buffer[] = [];

export function takeSlab(): Buffer {
  return free.pop() ?? Buffer.allocUnsafeSlow(SLAB_SIZE);
}

export function giveSlab(slab: Buffer): void {
  if (free.length < MAX_FREE) free.push(slab);
}

/** Slabs kept free right now (tests). */
export function freeSlabs(): number {
  return free.length;
}
