import { describe, expect, it } from 'vitest';
import { configDelta } from './config-delta.ts';

describe('configDelta', () => {
  it('is empty for equal values, whatever the key order', () => {
    expect(configDelta({ a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it('names changed, added and removed paths in lint path style', () => {
    const running = { pools: { app: { backends: [{ weight: 10 }, { weight: 1 }] } }, extra: true };
    const desired = {
      pools: { app: { backends: [{ weight: 1 }, { weight: 1 }, { weight: 1 }] } },
      gone: 'x',
    };
    expect(configDelta(running, desired)).toEqual([
      { path: 'pools.app.backends[0].weight', kind: 'changed', running: 10, desired: 1 },
      { path: 'pools.app.backends[2]', kind: 'removed', desired: { weight: 1 } },
      { path: 'gone', kind: 'removed', desired: 'x' },
      { path: 'extra', kind: 'added', running: true },
    ]);
  });
});
