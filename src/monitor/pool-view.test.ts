import { describe, expect, it } from 'vitest';
import type { BackendHealthView, PoolHealthView } from '../health/health-manager.ts';
import type { BackendStatsView, PoolStatsView } from './pool-stats-view.ts';
import { poolViews } from './pool-view.ts';

const backend = (name: string, status: BackendHealthView['status']) =>
  ({ name, address: `127.0.0.1:${name.length}`, status }) as BackendHealthView;
const health: PoolHealthView[] = [
  {
    name: 'app',
    policy: 'round-robin',
    panic: false,
    panicThreshold: 0.5,
    available: 1,
    total: 2,
    backends: [backend('a', 'healthy'), backend('b', 'unhealthy')],
  },
  {
    name: 'idle',
    policy: 'round-robin',
    panic: false,
    panicThreshold: 0.5,
    available: 1,
    total: 1,
    backends: [backend('c', 'healthy')],
  },
];
const stats = [
  {
    pool: 'app',
    requests: 10,
    backends: [{ backend: 'a', status: 'healthy', requests: 10 } as BackendStatsView],
  },
] as PoolStatsView[];

describe('poolViews', () => {
  it('joins traffic to health by pool and backend name, with one status field', () => {
    const [app, idle] = poolViews(health, stats);
    expect(app?.traffic?.requests).toBe(10);
    expect(app?.backends.map((b) => [b.name, b.status, b.traffic?.requests ?? null])).toEqual([
      ['a', 'healthy', 10],
      ['b', 'unhealthy', null],
    ]);
    expect(app?.backends[0]?.traffic?.status).toBe(app?.backends[0]?.status);
    expect(idle?.traffic).toBeUndefined();
    expect(idle?.backends.map((b) => b.traffic)).toEqual([null]);
  });
});
