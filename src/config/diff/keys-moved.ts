// Estimate of the fraction of hash keys that land on a different backend when a
// consistent-hash pool changes. It hashes a fixed set of sample keys onto a ring of virtual
// nodes (weight-proportional) built from each config and counts changed owners. Bounded
// load is ignored: the estimate is for a pool without hot spots.
import type { PoolConfig } from '../schema.ts';

const SAMPLE_KEYS = 10_000;
/** Virtual nodes per backend at average weight; enough for a ±2% estimate. */
const VNODES_PER_BACKEND = 160;

/** FNV-1a with a murmur3 finaliser: fast, deterministic, well spread over 32 bits. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

interface Ring {
  readonly points: Uint32Array;
  readonly owners: string[];
}

function buildRing(pool: PoolConfig): Ring | undefined {
  const serving = pool.backends.filter((b) => !b.drain && b.weight > 0);
  const total = serving.reduce((s, b) => s + b.weight, 0);
  if (serving.length === 0) return undefined;
  const entries: { point: number; owner: string }[] = [];
  for (const b of serving) {
    const n = Math.max(1, Math.round((VNODES_PER_BACKEND * serving.length * b.weight) / total));
    for (let i = 0; i < n; i++) entries.push({ point: hash32(`${b.name}#${i}`), owner: b.name });
  }
  entries.sort((a, b) => a.point - b.point);
  return { points: Uint32Array.from(entries, (e) => e.point), owners: entries.map((e) => e.owner) };
}

function ownerOf(ring: Ring, h: number): string {
  // First point clockwise at or after h, wrapping to the start.
  let lo = 0;
  let hi = ring.points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ring.points[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return ring.owners[lo === ring.points.length ? 0 : lo] as string;
}

/**
 * Fraction (0..1) of sample keys whose backend changes from `before` to `after`; undefined
 * unless both pools use consistent-hash. A changed hash key source moves every key.
 */
export function estimateKeysMoved(before: PoolConfig | undefined, after: PoolConfig): number | undefined {
  if (before?.policy !== 'consistent-hash' || after.policy !== 'consistent-hash') return undefined;
  if ((before.hash?.key ?? 'source-ip') !== (after.hash?.key ?? 'source-ip')) return 1;
  const a = buildRing(before);
  const b = buildRing(after);
  if (a === undefined || b === undefined) return a === b ? 0 : 1;
  let moved = 0;
  for (let k = 0; k < SAMPLE_KEYS; k++) {
    const h = hash32(`sample-key-${k}`);
    if (ownerOf(a, h) !== ownerOf(b, h)) moved++;
  }
  return moved / SAMPLE_KEYS;
}
