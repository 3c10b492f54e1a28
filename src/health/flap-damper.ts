// Flap dampening, as a pure function over host state: a backend whose health flips `flips`
// times within `window` is held out of rotation for holdTime, doubling for each repeat up to
// maxHoldTime (a repeat is a hold starting within `window` of the previous hold's end).
import type { HostState } from '../data-plane/host-state.ts';

export interface FlapOptions {
  flips: number;
  window: number;
  holdTime: number;
  maxHoldTime: number;
}

/** Record one flip at `now`; returns the hold to apply in ms, or 0 for none. */
export function recordFlip(h: HostState, now: number, o: FlapOptions): number {
  h.flaps++;
  const times = h.flipTimes;
  times.push(now);
  while (times.length > 0 && (times[0] as number) <= now - o.window) times.shift();
  if (times.length > o.flips) times.splice(0, times.length - o.flips);
  if (times.length < o.flips) return 0;
  times.length = 0;
  h.holdLevel = now - h.lastHoldEnd <= o.window ? h.holdLevel + 1 : 0;
  h.holds++;
  return Math.min(o.holdTime * 2 ** h.holdLevel, o.maxHoldTime);
}
