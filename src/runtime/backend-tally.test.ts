import { describe, expect, it } from 'vitest';
import { BackendTally } from './backend-tally.ts';

describe('BackendTally', () => {
  it('counts requests and errors per pool and backend, and hands out copies', () => {
    const t = new BackendTally();
    t.count('app', 'b1', false);
    t.count('app', 'b1', true);
    t.count('app', 'b2', false);
    t.count('api', 'b1', true);
    const s = t.snapshot();
    expect(Object.fromEntries(s)).toEqual({
      'app/b1': { requests: 2, errors: 1 },
      'app/b2': { requests: 1, errors: 0 },
      'api/b1': { requests: 1, errors: 1 },
    });
    s.get('app/b1')!.requests = 99;
    expect(t.snapshot().get('app/b1')).toEqual({ requests: 2, errors: 1 });
    t.clear();
    expect(t.snapshot().size).toBe(0);
  });
});
