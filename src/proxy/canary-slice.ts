// The per-request decision of a traffic-slice canary (`fulcrum apply FILE --canary 10%`): which
// new requests start on the canary snapshot instead of the running one. Deterministic and
// allocation-free: an integer accumulator adds the share (in parts per million) per request and
// takes the request whenever it crosses a whole million, so over any n requests the slice holds
// floor(n × ppm / 1e6) or one more of them — at 10%, exactly every 10th request.
import type { Router } from '../data-plane/router.ts';
import type { DataPlaneSnapshot } from '../data-plane/snapshot.ts';

/** The share's resolution: parts per million (0.0001%). */
export const SLICE_SCALE = 1_000_000;

export class CanarySlice {
  readonly snapshot: DataPlaneSnapshot;
  /** The share asked for, in (0, 1). */
  readonly fraction: number;
  /** The share in parts per million, as the accumulator adds it. */
  readonly ppm: number;
  #acc = 0;
  /** Requests decided so far, and how many of them went to the canary. */
  seen = 0;
  taken = 0;

  constructor(snapshot: DataPlaneSnapshot, fraction: number) {
    const ppm = Math.round(fraction * SLICE_SCALE);
    if (!(ppm > 0 && ppm < SLICE_SCALE))
      throw new RangeError(`canary share must be in (0, 1), got ${fraction}`);
    this.snapshot = snapshot;
    this.fraction = fraction;
    this.ppm = ppm;
  }

  /** One new request: true when it runs on the canary snapshot. */
  take(): boolean {
    this.seen++;
    this.#acc += this.ppm;
    if (this.#acc < SLICE_SCALE) return false;
    this.#acc -= SLICE_SCALE;
    this.taken++;
    return true;
  }

  /** The canary snapshot's router for a listener (same names as the running snapshot's). */
  router(listener: string): Router | undefined {
    return this.snapshot.listeners.get(listener)?.router;
  }
}
