// Number and duration wording shared by the alert rules' annotations.
import type { PoolStatsView } from '../pool-stats-view.ts';

export function pct(f: number): string {
  const v = f * 100;
  return `${v >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1)}%`;
}

export function fmtMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.round(ms / 1000)}s`;
}

export function fmtLatency(ms: number | null): string {
  return ms === null ? 'n/a' : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${Math.round(ms)}ms`;
}

/** "Worst backend: …" for an availability alert; "" when no backend failed. */
export function worstBackendText(stats: PoolStatsView): string {
  let worst: PoolStatsView['backends'][number] | undefined;
  for (const b of stats.backends)
    if (b.requests > 0 && (!worst || b.errorRatio > worst.errorRatio)) worst = b;
  if (!worst || worst.errors === 0) return '';
  return `Worst backend: ${worst.backend} with ${pct(worst.errorRatio)} 5xx over ${worst.requests} requests (share ${pct(worst.observedShare)}). `;
}

export const statusCommand = (pool: string): string => `fulcrum status --pool ${pool}`;
