// Per-second series of the window for the dashboard's charts: requests, errors and share
// ratio per backend, oldest slot first.
import { ERR, EXP, REQ, SLOT_MS, type PoolTrack } from './pool-track.ts';

export interface SeriesView {
  slotMs: number;
  /** Wall time (ms) of the newest slot's start; slots are oldest first. */
  end: number;
  pools: {
    pool: string;
    backends: { backend: string; requests: number[]; errors: number[]; shareRatio: (number | null)[] }[];
  }[];
}

export function series(tracks: Iterable<PoolTrack>, now: number, wall: number, windowMs: number): SeriesView {
  const slots = Math.max(1, Math.round(windowMs / SLOT_MS));
  const pools: SeriesView['pools'] = [];
  for (const p of tracks) {
    for (const b of p.list) b.ring.advance(now);
    pools.push({
      pool: p.name,
      backends: p.list.map((b) => {
        const requests: number[] = [];
        const errors: number[] = [];
        const shareRatio: (number | null)[] = [];
        for (let age = slots - 1; age >= 0; age--) {
          const r = b.ring.at(age, REQ);
          // Flushed by the caller: the slot's expected requests (expected-counts.ts).
          const exp = b.ring.at(age, EXP);
          requests.push(r);
          errors.push(b.ring.at(age, ERR));
          shareRatio.push(exp > 0 ? r / exp : null);
        }
        return { backend: b.name, requests, errors, shareRatio };
      }),
    });
  }
  return { slotMs: SLOT_MS, end: wall - (wall % SLOT_MS), pools };
}
