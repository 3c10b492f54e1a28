import { describe, expect, it } from 'vitest';
import { AlertEngine, fingerprint, type AlertView, type RuleDef } from './alerts.ts';

const rule: RuleDef = {
  name: 'X',
  severity: 'warning',
  category: 'fairness',
  forMs: 30_000,
  keepFiringForMs: 10_000,
};
const sample = (backend: string, value = 1) => ({
  labels: { backend },
  annotations: { summary: `s ${value}` },
  value,
});

describe('AlertEngine', () => {
  it('goes pending → firing after `for`, keeps firing for `keepFiringFor`, then resolves', () => {
    const e = new AlertEngine();
    const seen: AlertView[] = [];
    e.transitions.subscribe((a) => seen.push(a));
    const wall = (t: number) => 1_000_000 + t;
    for (let t = 0; t <= 30_000; t += 1000) e.evaluate(rule, [sample('a')], t, wall(t));
    expect(seen.map((a) => a.state)).toEqual(['firing']);
    expect(seen[0]).toMatchObject({
      activeAt: wall(0),
      firedAt: wall(30_000),
      labels: { alertname: 'X', severity: 'warning', backend: 'a' },
    });
    // Inactive, but kept firing for 10 s.
    for (let t = 31_000; t < 40_000; t += 1000) e.evaluate(rule, [], t, wall(t));
    expect(e.firing()).toHaveLength(1);
    e.evaluate(rule, [], 40_000, wall(40_000));
    expect(seen.map((a) => a.state)).toEqual(['firing', 'resolved']);
    expect(seen[1]?.resolvedAt).toBe(wall(40_000));
    expect(e.views()[0]?.state).toBe('resolved');
  });

  it('a pending alert that clears before `for` never fires and is forgotten', () => {
    const e = new AlertEngine();
    const seen: AlertView[] = [];
    e.transitions.subscribe((a) => seen.push(a));
    e.evaluate(rule, [sample('a')], 0, 0);
    expect(e.views()[0]?.state).toBe('pending');
    e.evaluate(rule, [], 29_000, 29_000);
    e.evaluate(rule, [sample('a')], 30_000, 30_000);
    expect(seen).toEqual([]);
    expect(e.views()[0]?.activeAt).toBe(30_000);
  });

  it('keepFiringFor swallows a flap: one page, not two', () => {
    const e = new AlertEngine();
    const seen: AlertView[] = [];
    e.transitions.subscribe((a) => seen.push(a));
    const r0 = { ...rule, forMs: 0 };
    e.evaluate(r0, [sample('a')], 0, 0);
    e.evaluate(r0, [], 5000, 5000);
    e.evaluate(r0, [sample('a', 2)], 8000, 8000);
    expect(seen.map((a) => a.state)).toEqual(['firing']);
    expect(e.firing()[0]?.annotations['summary']).toBe('s 2');
  });

  it('instances are per label set; rules do not resolve each other', () => {
    const e = new AlertEngine();
    const other: RuleDef = { ...rule, name: 'Y', forMs: 0 };
    e.evaluate({ ...rule, forMs: 0 }, [sample('a'), sample('b')], 0, 0);
    e.evaluate(other, [], 1000, 1000);
    expect(
      e
        .firing()
        .map((a) => a.labels['backend'])
        .sort(),
    ).toEqual(['a', 'b']);
    expect(fingerprint({ a: '1', b: '2' })).toBe(fingerprint({ b: '2', a: '1' }));
    expect(fingerprint({ a: '1' })).not.toBe(fingerprint({ a: '2' }));
  });
});
