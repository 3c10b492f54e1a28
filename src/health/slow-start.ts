// Slow start: a backend that is added or recovers ramps its weight linearly from 10% to 100%
// over `slowStart` ms, so a cold cache or JIT is not handed a full share at once.

/** Weight share at the start of the ramp. */
export const RAMP_FLOOR = 0.1;

/** Ramp factor after `elapsedMs` of a `slowStartMs` ramp (1 = done, or no slow start). */
export function rampFactor(elapsedMs: number, slowStartMs: number): number {
  if (slowStartMs <= 0 || elapsedMs >= slowStartMs) return 1;
  return RAMP_FLOOR + (1 - RAMP_FLOOR) * (Math.max(0, elapsedMs) / slowStartMs);
}

/** How often to refresh ramping weights: a tenth of the ramp, at least 250 ms (off the request path). */
export function rampTick(slowStartMs: number): number {
  return Math.max(250, Math.round(slowStartMs / 10));
}
