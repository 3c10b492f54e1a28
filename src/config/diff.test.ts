import { describe, expect, it } from 'vitest';
import { diffConfigs } from './diff.ts';
import { renderDiffText } from './diff/format-text.ts';
import { estimateKeysMoved } from './diff/keys-moved.ts';
import { loadOrThrow } from '../testing/config-kit.ts';
import type { Config } from './schema.ts';

function cfg(pools: string, extra = ''): Config {
  const text = `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes: [{ pool: app }]
pools:
${pools}
${extra}`;
  return loadOrThrow(text, { env: {} }).config;
}

const app = (weights: number[], more = '', policy = 'weighted-round-robin') =>
  `  app:
    policy: ${policy}
    backends:
${weights.map((w, i) => `      - { name: app-${i + 1}, address: 127.0.0.1:${9001 + i}, weight: ${w} }`).join('\n')}
${more}`;

describe('diffConfigs', () => {
  it('reports no change for equal configs', () => {
    const d = diffConfigs(cfg(app([1, 1, 1])), cfg(app([1, 1, 1])));
    expect(d.changed).toBe(false);
    expect(d.changes).toEqual([]);
    expect(d.pools.map((p) => p.status)).toEqual(['unchanged']);
    expect(renderDiffText(d, { color: false })).toMatch(/^No changes/);
  });

  it('shows a weight change with old → new and the predicted shares', () => {
    const d = diffConfigs(cfg(app([1, 1, 1])), cfg(app([10, 1, 1])));
    expect(d.changes).toEqual([
      {
        kind: 'changed',
        path: 'pools.app.backends[0].weight',
        before: 1,
        after: 10,
        beforeText: '1',
        afterText: '10',
      },
    ]);
    const pool = d.pools[0]!;
    expect(pool.status).toBe('changed');
    expect(pool.backends[0]).toEqual({ backend: 'app-1', before: 1 / 3, after: 10 / 12 });
    const text = renderDiffText(d, { color: false });
    expect(text).toContain('~ pools.app.backends[0].weight: 1 → 10');
    expect(text).toMatch(/app-1 +33\.3% → 83\.3%/);
    expect(text).toMatch(/app-2 +33\.3% → +8\.3%/);
    expect(text).not.toContain('\u001b[');
  });

  it('prints durations, percentages and sizes back as config text', () => {
    const before = cfg(app([1, 1, 1], '    timeouts: { response: 30s }\n    panicThreshold: 50%'));
    const after = cfg(app([1, 1, 1], '    timeouts: { response: 1500ms }\n    panicThreshold: 12.5%'));
    const byPath = Object.fromEntries(diffConfigs(before, after).changes.map((c) => [c.path, c]));
    expect(byPath['pools.app.timeouts.response']).toMatchObject({
      before: 30000,
      after: 1500,
      beforeText: '30s',
      afterText: '1500ms',
    });
    expect(byPath['pools.app.panicThreshold']).toMatchObject({ beforeText: '50%', afterText: '12.5%' });
  });

  it('matches backends by name: removing one is one removal, not a shifted list', () => {
    const d = diffConfigs(cfg(app([1, 1, 1])), cfg(app([1, 1, 1]).replace(/.*app-2.*\n/, '')));
    // The removal names the backend at its old index and nothing else changes.
    expect(d.changes).toHaveLength(1);
    expect(d.changes[0]).toMatchObject({ kind: 'removed', path: 'pools.app.backends[1]' });
    expect(d.changes[0]!.beforeText).toContain('name: app-2');
    expect(d.pools[0]!.backends.find((b) => b.backend === 'app-2')).toEqual({
      backend: 'app-2',
      before: 1 / 3,
    });
  });

  it('lists added and removed pools with their shares', () => {
    const before = cfg(
      app([1, 1]) + '\n' + '  old:\n    backends: [{ name: o-1, address: 127.0.0.1:9101 }]',
      '',
    );
    const after = cfg(
      app([1, 1]) + '\n' + '  new:\n    backends: [{ name: n-1, address: 127.0.0.1:9201 }]',
      '',
    );
    const d = diffConfigs(before, after);
    expect(d.changes.map((c) => `${c.kind} ${c.path}`)).toEqual(['added pools.new', 'removed pools.old']);
    expect(d.pools.map((p) => `${p.pool}:${p.status}`)).toEqual([
      'app:unchanged',
      'new:added',
      'old:removed',
    ]);
  });

  it('against no running config, lists each top-level section as added', () => {
    const d = diffConfigs(undefined, cfg(app([1, 1])));
    expect(d.changes.map((c) => c.path)).toEqual([
      'version',
      'workers',
      'listeners',
      'pools',
      'monitor',
      'audit',
      'admin',
      'store',
      'log',
      'lint',
    ]);
    expect(d.pools[0]!.backends.map((b) => b.after)).toEqual([0.5, 0.5]);
  });

  it('switching to round-robin predicts equal shares', () => {
    const d = diffConfigs(cfg(app([3, 1])), cfg(app([3, 1], '', 'round-robin')));
    expect(d.changes.map((c) => `${c.path}: ${c.beforeText} → ${c.afterText}`)).toEqual([
      'pools.app.policy: weighted-round-robin → round-robin',
    ]);
    expect(d.pools[0]!.backends.map((b) => [b.before, b.after])).toEqual([
      [0.75, 0.5],
      [0.25, 0.5],
    ]);
  });

  it('never prints secrets: tokens and header values are (sensitive), URLs only scheme://host:port', () => {
    const before = cfg(app([1, 1]), 'admin: { token: old-secret }');
    const after = cfg(
      app([1, 1]),
      'admin: { token: new-secret }\nmonitor: { notify: [{ webhook: "http://127.0.0.1:9/T0/hook-secret?k=q-secret", headers: { authorization: Bearer-abc } }] }',
    );
    const d = diffConfigs(before, after);
    const text = renderDiffText(d, { color: false });
    expect(text).toContain('~ admin.token: (sensitive) → (sensitive)');
    expect(text).toContain(
      '+ monitor.notify[0]: { webhook: http://127.0.0.1:9, headers: { authorization: (sensitive) } }',
    );
    const json = JSON.stringify(d);
    for (const secret of ['old-secret', 'new-secret', 'Bearer-abc', 'hook-secret', 'q-secret']) {
      expect(text).not.toContain(secret);
      expect(json).not.toContain(secret);
    }
  });

  it('colours only when asked', () => {
    const text = renderDiffText(diffConfigs(cfg(app([1, 1])), cfg(app([2, 1]))), { color: true });
    expect(text).toContain('\u001b[33m~ pools.app.backends[0].weight: 1 → 2\u001b[0m');
  });
});

describe('consistent-hash keys moved', () => {
  const hashPool = (n: number, key = 'header:x-user') =>
    cfg(
      app(
        Array.from({ length: n }, () => 1),
        `    hash: { key: "${key}" }`,
        'consistent-hash',
      ),
    );

  it('moves about 1/(n+1) of the keys when one backend joins, and none for an unrelated change', () => {
    const d = diffConfigs(hashPool(4), hashPool(5));
    const moved = d.pools[0]!.keysMoved!;
    expect(moved).toBeGreaterThan(0.2 - 0.05);
    expect(moved).toBeLessThan(0.2 + 0.05);
    expect(renderDiffText(d, { color: false })).toMatch(/\d+\.\d% of hash keys move to another backend/);
    const same = diffConfigs(
      hashPool(4),
      cfg(app([1, 1, 1, 1], '    hash: { key: "header:x-user" }\n    slowStart: 5s', 'consistent-hash')),
    );
    expect(same.pools[0]!.keysMoved).toBe(0);
    expect(same.pools[0]!.status).toBe('unchanged');
  });

  it('moves every key when the hash key source changes', () => {
    expect(diffConfigs(hashPool(3), hashPool(3, 'cookie:sid')).pools[0]!.keysMoved).toBe(1);
  });

  it('is undefined for pools that are not consistent-hash on both sides', () => {
    const a = cfg(app([1, 1])).pools.app!;
    const b = hashPool(2).pools.app!;
    expect(estimateKeysMoved(a, b)).toBeUndefined();
    expect(estimateKeysMoved(undefined, b)).toBeUndefined();
  });
});
