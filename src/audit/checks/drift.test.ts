import { describe, expect, it } from 'vitest';
import { driftChanges } from './drift.ts';

describe('driftChanges', () => {
  it('is empty for equal values, whatever the key order', () => {
    expect(driftChanges({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it('names changed, added and removed paths in lint path style, one per differing path', () => {
    const running = { pools: { app: { backends: [{ weight: 10 }, { weight: 1 }] } }, extra: true };
    const desired = {
      pools: { app: { backends: [{ weight: 1 }, { weight: 1 }, { weight: 1 }] } },
      gone: 'x',
    };
    expect(driftChanges(running, desired)).toEqual([
      { path: 'pools.app.backends[0].weight', kind: 'changed', running: 10, desired: 1 },
      { path: 'pools.app.backends[2]', kind: 'removed', desired: { weight: 1 } },
      { path: 'extra', kind: 'added', running: true },
      { path: 'gone', kind: 'removed', desired: 'x' },
    ]);
  });

  it('matches backends by name, and never carries a secret', () => {
    const running = {
      admin: { token: 'new-secret' },
      backends: [{ name: 'b', weight: 1 }],
    };
    const desired = {
      admin: { token: 'old-secret' },
      backends: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1 },
      ],
    };
    expect(driftChanges(running, desired)).toEqual([
      { path: 'admin.token', kind: 'changed', running: '(sensitive)', desired: '(sensitive)' },
      { path: 'backends[0]', kind: 'removed', desired: { name: 'a', weight: 1 } },
    ]);
  });
});
