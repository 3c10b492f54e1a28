// Slots of the shared tables, handed out by the main thread. A released slot waits before it
// is reused: requests that started on the old host may still finish on another thread and
// decrement its counters, and those must not land on a new host.
export class SlotAllocator<K> {
  readonly #slots = new Map<K, number>();
  readonly #released: { slot: number; at: number }[] = [];
  #next = 0;
  readonly #capacity: number;
  readonly #quarantineMs: number;
  readonly #idle: (slot: number) => boolean;

  /** `idle(slot)`: nothing in flight on the slot any more (checked before reuse). */
  constructor(capacity: number, idle: (slot: number) => boolean = () => true, quarantineMs = 30_000) {
    this.#capacity = capacity;
    this.#idle = idle;
    this.#quarantineMs = quarantineMs;
  }

  get(key: K): number | undefined {
    return this.#slots.get(key);
  }

  /** The key's slot, or a new one; throws when the table is full (the config limits prevent it). */
  assign(key: K, now = performance.now()): number {
    const have = this.#slots.get(key);
    if (have !== undefined) return have;
    let slot: number | undefined;
    if (this.#next < this.#capacity) slot = this.#next++;
    else {
      const i = this.#released.findIndex((r) => now - r.at >= this.#quarantineMs && this.#idle(r.slot));
      if (i >= 0) slot = (this.#released.splice(i, 1)[0] as { slot: number }).slot;
    }
    if (slot === undefined) throw new Error(`shared table full (${this.#capacity} slots)`);
    this.#slots.set(key, slot);
    return slot;
  }

  /** Give back the slots of every key not in `keep`. */
  retain(keep: ReadonlySet<K>, now = performance.now()): number[] {
    const freed: number[] = [];
    for (const [key, slot] of this.#slots) {
      if (keep.has(key)) continue;
      this.#slots.delete(key);
      this.#released.push({ slot, at: now });
      freed.push(slot);
    }
    return freed;
  }
}
