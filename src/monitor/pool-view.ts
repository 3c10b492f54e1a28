// What /api/v1/pools, the dashboard and `fulcrum status` show of a pool: one view per pool and
// one per backend, health facts and traffic facts together. A backend is identified everywhere
// by its pool and its configured name (unique within the pool, checked by the schema): health
// views, monitor stats, alerts' `pool`/`backend` labels, metrics and events all use that pair,
// and `status` (a HostStatus) is the one name of its health state.
import type { BackendHealthView, PoolHealthView } from '../health/health-manager.ts';
import type { BackendStatsView, PoolStatsView } from './pool-stats-view.ts';

export interface BackendView extends BackendHealthView {
  /** Traffic over the monitor window; null before the monitor first saw the pool. */
  traffic: BackendStatsView | null;
}

export interface PoolView extends Omit<PoolHealthView, 'backends'> {
  /** The pool's traffic over the monitor window; absent before the monitor first saw it. */
  traffic?: Omit<PoolStatsView, 'backends'>;
  backends: BackendView[];
}

/** Each pool's health view with its traffic, matched by pool and backend name. */
export function poolViews(health: readonly PoolHealthView[], stats: readonly PoolStatsView[]): PoolView[] {
  const byPool = new Map(stats.map((s) => [s.pool, s]));
  return health.map((h) => {
    const s = byPool.get(h.name);
    if (s === undefined) return { ...h, backends: h.backends.map((b) => ({ ...b, traffic: null })) };
    const { backends, ...traffic } = s;
    const byBackend = new Map(backends.map((b) => [b.backend, b]));
    return {
      ...h,
      traffic,
      backends: h.backends.map((b) => ({ ...b, traffic: byBackend.get(b.name) ?? null })),
    };
  });
}
