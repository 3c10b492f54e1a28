import { describe, expect, it } from 'vitest';
import type { DataPlaneSnapshot } from '../data-plane/snapshot.ts';
import { CanarySlice } from './canary-slice.ts';

const snapshot = { version: 2, listeners: new Map(), pools: new Map() } as unknown as DataPlaneSnapshot;

function run(fraction: number, n: number): { taken: number; picks: number[] } {
  const slice = new CanarySlice(snapshot, fraction);
  const picks: number[] = [];
  for (let i = 1; i <= n; i++) if (slice.take()) picks.push(i);
  expect(slice.seen).toBe(n);
  expect(slice.taken).toBe(picks.length);
  return { taken: picks.length, picks };
}

describe('canary slice', () => {
  it('10% takes exactly every 10th request', () => {
    const { taken, picks } = run(0.1, 1000);
    expect(taken).toBe(100);
    expect(picks.slice(0, 3)).toEqual([10, 20, 30]);
  });

  it('any share: floor(n × ppm / 1e6) of n requests, for every prefix', () => {
    for (const fraction of [0.01, 0.05, 0.125, 0.333333, 0.5, 0.9, 0.999999]) {
      const slice = new CanarySlice(snapshot, fraction);
      const ppm = Math.round(fraction * 1e6);
      for (let n = 1; n <= 5000; n++) {
        slice.take();
        expect(slice.taken).toBe(Math.floor((n * ppm) / 1e6));
      }
    }
  });

  it('a share of 0.0001% takes one request in a million', () => {
    expect(run(0.000001, 2_000_000).taken).toBe(2);
  });

  it('refuses shares outside (0, 1) at its resolution', () => {
    for (const f of [0, 1, -0.1, 1.5, 0.0000001, Number.NaN]) {
      expect(() => new CanarySlice(snapshot, f)).toThrow(RangeError);
    }
  });
});
