// The hash ring behind `consistent-hash`, as pure functions so that the config diff can
// predict how many keys a change moves (keysMoved) with exactly the ring the policy uses.
//
// Each member owns points on a 32-bit ring in proportion to its weight; a key belongs to
// the owner of the first point at or after its hash (clockwise). Point positions depend
// only on the member's name and the point's number, so every balancer instance builds the
// same ring, and a weight change only adds or removes that member's own points: keys move
// to or from that member and no one else.

/** Ring points per unit of weight, so a member's points depend on its own weight only. */
export const POINTS_PER_WEIGHT = 400;
/**
 * Bounds on the ring's size. A pool whose total weight × POINTS_PER_WEIGHT falls outside
 * them (total weight under 0.64 or over 40.96) gets its points per unit of weight scaled by
 * a power of two (ringScale), so lookups stay within about 14 comparisons and rebuilds
 * within a millisecond or two. Inside them, a weight change never moves another member's
 * points; crossing a bound rescales every member once.
 */
export const MIN_RING_POINTS = 256;
export const MAX_RING_POINTS = 16_384;

export interface RingMember {
  readonly name: string;
  readonly weight: number;
}

export interface Ring {
  /** Point positions, ascending. */
  readonly points: Uint32Array;
  /** Owner of each point: an index into the members the ring was built from. */
  readonly owners: Int32Array;
}

/** 32-bit FNV-1a over UTF-16 code units, then murmur3's finaliser for avalanche. No allocation. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Points per unit of weight for a pool of this total weight: POINTS_PER_WEIGHT × 2^k. */
export function ringScale(totalWeight: number): number {
  let scale = POINTS_PER_WEIGHT;
  if (!(totalWeight > 0) || !Number.isFinite(totalWeight)) return scale;
  while (scale * totalWeight > MAX_RING_POINTS) scale /= 2;
  while (scale * totalWeight < MIN_RING_POINTS) scale *= 2;
  return scale;
}

/** Ring points of a member of weight `weight` at `scale` points per unit (at least 1). */
export function pointCount(weight: number, scale: number): number {
  if (!(weight > 0) || !Number.isFinite(weight)) return 0;
  return Math.max(1, Math.round(scale * weight));
}

/** Build the ring; members of weight 0 get no points. O(P log P) for P points. */
export function buildRing(members: readonly RingMember[]): Ring {
  let totalWeight = 0;
  for (const m of members) if (m.weight > 0 && Number.isFinite(m.weight)) totalWeight += m.weight;
  const scale = ringScale(totalWeight);
  let total = 0;
  const counts = members.map((m) => pointCount(m.weight, scale));
  for (const c of counts) total += c;
  // Pack (position, owner) into one float so a plain numeric sort orders both at once.
  const OWNER_BITS = 2 ** 20;
  const packed = new Float64Array(total);
  let k = 0;
  members.forEach((m, owner) => {
    const c = counts[owner] as number;
    for (let j = 0; j < c; j++) packed[k++] = hash32(`${m.name}#${j}`) * OWNER_BITS + owner;
  });
  packed.sort();
  const points = new Uint32Array(total);
  const owners = new Int32Array(total);
  for (let i = 0; i < total; i++) {
    const v = packed[i] as number;
    const owner = v % OWNER_BITS;
    owners[i] = owner;
    points[i] = (v - owner) / OWNER_BITS;
  }
  return { points, owners };
}

/** Index of the first point at or after `hash`, wrapping to 0; binary search, O(log P). */
export function ringFind(ring: Ring, hash: number): number {
  const points = ring.points;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as number) < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo === points.length ? 0 : lo;
}

/** Name of the member owning `key`, or undefined for an empty ring. */
export function ringOwner(ring: Ring, members: readonly RingMember[], key: string): string | undefined {
  if (ring.points.length === 0) return undefined;
  return members[ring.owners[ringFind(ring, hash32(key))] as number]?.name;
}

/**
 * Fraction (0..1) of keys whose backend changes between two member sets, measured on
 * `sampleKeys` synthetic keys, ignoring load bounds. For `fulcrum diff`'s prediction.
 */
export function keysMoved(
  before: readonly RingMember[],
  after: readonly RingMember[],
  sampleKeys = 10_000,
): number {
  if (sampleKeys <= 0) return 0;
  const a = buildRing(before);
  const b = buildRing(after);
  let moved = 0;
  for (let i = 0; i < sampleKeys; i++) {
    const key = `key-${i}`;
    if (ringOwner(a, before, key) !== ringOwner(b, after, key)) moved++;
  }
  return moved / sampleKeys;
}
