import { describe, expect, it } from 'vitest';
import { recordFlip, type FlapOptions } from './flap-damper.ts';
import { HostState } from '../data-plane/host-state.ts';
import { rampFactor, rampTick } from './slow-start.ts';

const mk = () =>
  new HostState({
    pool: 'p',
    name: 'b0',
    address: '127.0.0.1:9000',
    hostname: '127.0.0.1',
    port: 9000,
    weight: 1,
    maxRequests: 10,
    drain: false,
  });

describe('recordFlip', () => {
  const o: FlapOptions = { flips: 3, window: 10_000, holdTime: 1000, maxHoldTime: 3000 };

  it('holds after `flips` flips within the window, not when they are spread out', () => {
    const h = mk();
    expect([0, 6000, 12_000, 18_000].map((t) => recordFlip(h, t, o))).toEqual([0, 0, 0, 0]);
    expect(recordFlip(h, 19_000, o)).toBe(1000); // 12s, 18s, 19s
    expect(h.flaps).toBe(5);
    expect(h.holds).toBe(1);
  });

  it('doubles the hold per repeat up to maxHoldTime and resets after a calm window', () => {
    const h = mk();
    const burst = (t: number) => [t, t + 1, t + 2].map((x) => recordFlip(h, x, o)).at(-1);
    expect(burst(0)).toBe(1000);
    h.lastHoldEnd = 1002;
    expect(burst(2000)).toBe(2000);
    h.lastHoldEnd = 4002;
    expect(burst(5000)).toBe(3000);
    h.lastHoldEnd = 8002;
    expect(burst(9000)).toBe(3000);
    h.lastHoldEnd = 12_002;
    expect(burst(50_000)).toBe(1000);
  });
});

describe('slow start', () => {
  it('ramps linearly from 10% to 100%', () => {
    expect(rampFactor(0, 10_000)).toBeCloseTo(0.1);
    expect(rampFactor(5000, 10_000)).toBeCloseTo(0.55);
    expect(rampFactor(10_000, 10_000)).toBe(1);
    expect(rampFactor(123, 0)).toBe(1);
  });

  it('ticks every tenth of the ramp, at least 250ms', () => {
    expect(rampTick(30_000)).toBe(3000);
    expect(rampTick(1000)).toBe(250);
  });
});
