import { describe, expect, it } from 'vitest';
import { LentSlabs, fitsSlab, slabsOut } from './write-slabs.ts';

describe('LentSlabs', () => {
  it('lends a slab of the size a read needs and takes it back in write order, per size', () => {
    const slabs = new LentSlabs();
    const small = slabs.take(65_536);
    const large = slabs.take(65_537);
    // A 64 KiB upstream read never pins a 256 KiB slab; a client read gets room for its framing.
    expect([small.length, large.length, slabsOut()]).toEqual([65_552, 262_160, 2]);
    slabs.written();
    slabs.written();
    expect(slabsOut()).toBe(0);
    // Given back to the pool of its size: the next take of that size reuses it.
    expect([slabs.take(262_144) === large, slabs.take(4096) === small]).toEqual([true, true]);
    // After a write error nothing the socket may still hold is reused.
    slabs.written(new Error('EPIPE'));
    expect(slabsOut()).toBe(0);
    expect([slabs.take(262_144) === large, slabs.take(4096) === small]).toEqual([false, false]);
    slabs.written(new Error('EPIPE'));
  });

  it('takes copies from 4 KiB up to one client read', () => {
    expect([fitsSlab(4095), fitsSlab(4096), fitsSlab(262_144), fitsSlab(262_145)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });
});
