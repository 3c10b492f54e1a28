// The fleet judge on hand-made records: window deltas of cumulative counters, fleet-wide
// shares as sums, the odd instance out and its cause, lost versus cleanly stopped instances.
import { describe, expect, it } from 'vitest';
import { FleetJudge, LOST_RETAIN_MS } from './fleet-judge.ts';
import type { LoadReport, MemberRecord } from './fleet-records.ts';

const member = (instance: string, version = 1, state: MemberRecord['state'] = 'running'): MemberRecord => ({
  fleet: 'edge',
  instance,
  host: 'h',
  pid: 1,
  admin: '',
  startedAt: 0,
  version,
  sha256: null,
  health: 'ok',
  reasons: [],
  listeners: {},
  state,
});

/** A report with cumulative `requests` per backend b1..b3 (errors 0), b3's status as given. */
const report = (instance: string, at: number, counts: number[], b3 = 'healthy', version = 1): LoadReport => ({
  instance,
  at,
  version,
  pools: {
    app: Object.fromEntries(
      counts.map((n, i) => [
        `b${i + 1}`,
        { requests: n, errors: 0, latencyMs: 1, status: i === 2 ? b3 : 'healthy', weight: 1 },
      ]),
    ),
  },
});

const expected = new Map([
  [
    'app',
    new Map([
      ['b1', 1 / 3],
      ['b2', 1 / 3],
      ['b3', 1 / 3],
    ]),
  ],
]);

function run(
  judge: FleetJudge,
  members: MemberRecord[],
  reports: LoadReport[],
  now: number,
  left: string[] = [],
  latestVersion: number | null = 1,
) {
  return judge.judge(
    { members, reports, left: new Set(left), latestVersion, expected, now },
    'a',
    'edge',
    'reachable',
  );
}

describe('FleetJudge', () => {
  it('sums window deltas across instances and names the instance whose health view differs', () => {
    const j = new FleetJudge({ windowMs: 10_000 });
    const members = ['a', 'b', 'c'].map((i) => member(i));
    // Counters started long before: only the differences count.
    run(
      j,
      members,
      [report('a', 1, [1000, 1000, 1000]), report('b', 1, [500, 500, 500]), report('c', 1, [7, 7, 7])],
      0,
    );
    const v = run(
      j,
      members,
      [
        report('a', 2, [1100, 1100, 1100]),
        report('b', 2, [600, 600, 600]),
        report('c', 2, [157, 157, 7], 'unhealthy'),
      ],
      1000,
    );
    const app = v.pools.find((p) => p.pool === 'app');
    expect(app?.requests).toBe(900);
    const b3 = app?.backends.find((b) => b.backend === 'b3');
    expect(b3?.requests).toBe(200);
    expect(b3?.observedShare).toBeCloseTo(200 / 900, 10);
    expect(b3?.shareRatio).toBeCloseTo((200 / 900) * 3, 10);
    expect(b3?.byInstance).toEqual({ a: 1 / 3, b: 1 / 3, c: 0 });
    expect(v.skewed).toHaveLength(1);
    expect(v.skewed[0]).toMatchObject({
      instance: 'c',
      pool: 'app',
      backend: 'b3',
      share: 0,
      cause: 'health-view',
    });
    expect(v.skewed[0]?.fleetShare).toBeCloseTo(1 / 3, 10);
    expect(v.skewed[0]?.detail).toContain('app/b3 is unhealthy here, healthy on the others');
  });

  it('blames the version when health views agree, else the instance’s own traffic', () => {
    const j = new FleetJudge();
    const members = [member('a'), member('b'), member('c', 0)];
    run(j, members, [report('a', 1, [0, 0, 0]), report('b', 1, [0, 0, 0]), report('c', 1, [0, 0, 0])], 0);
    const v = run(
      j,
      members,
      [report('a', 2, [100, 100, 100]), report('b', 2, [100, 100, 100]), report('c', 2, [300, 0, 0])],
      1000,
    );
    expect(v.skewed.map((s) => [s.instance, s.cause])).toEqual([['c', 'version']]);
    expect(v.instances.find((i) => i.instance === 'c')?.configSkewSince).toBe(0);

    const k = new FleetJudge();
    const same = ['a', 'b', 'c'].map((i) => member(i));
    run(k, same, [report('a', 1, [0, 0, 0]), report('b', 1, [0, 0, 0]), report('c', 1, [0, 0, 0])], 0);
    const w = run(
      k,
      same,
      [report('a', 2, [100, 100, 100]), report('b', 2, [100, 100, 100]), report('c', 2, [300, 0, 0])],
      1000,
    );
    expect(w.skewed.map((s) => [s.instance, s.cause])).toEqual([['c', 'traffic-local']]);
  });

  it('judges nothing below the minimum traffic and takes a counter that went back as a reset', () => {
    const j = new FleetJudge();
    const members = ['a', 'b'].map((i) => member(i));
    run(j, members, [report('a', 1, [0, 0, 0]), report('b', 1, [500, 500, 500])], 0);
    const v = run(j, members, [report('a', 2, [10, 0, 0]), report('b', 2, [20, 20, 20])], 1000);
    expect(v.skewed).toEqual([]);
    expect(v.pools[0]?.requests).toBe(70);
  });

  it('calls an instance whose lease vanished lost, unless it left cleanly, and forgets it later', () => {
    const j = new FleetJudge();
    run(j, [member('a'), member('b'), member('c')], [], 0);
    const v = run(j, [member('a')], [], 1000, ['c']);
    expect(v.lost).toEqual([{ instance: 'b', lostAt: 1000, lastVersion: 1 }]);
    expect(v.instances.map((i) => i.instance)).toEqual(['a']);
    expect(run(j, [member('a')], [], 1000 + LOST_RETAIN_MS + 1).lost).toEqual([]);
    // Back again: no longer lost.
    run(j, [member('a'), member('d')], [], 2000);
    expect(run(j, [member('a')], [], 3000).lost.map((l) => l.instance)).toEqual(['d']);
    expect(run(j, [member('a'), member('d')], [], 4000).lost).toEqual([]);
  });
});
