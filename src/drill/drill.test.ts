import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfigText } from '../config/load.ts';
import { DrillBackend } from './drill-backend.ts';
import { drillSummaryLine, POSTMORTEM, progressLine, renderDrillText } from './drill-report.ts';
import { settledAt, type DrillResult } from './drill-runner.ts';
import { LoadGenerator, summarize, type LoadRecord } from './load-generator.ts';
import { drillConfig } from './scenario.ts';
import { SCENARIOS } from './scenarios/index.ts';

const open: DrillBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function get(port: number, path = '/'): Promise<{ status: number; backend: string | undefined }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, backend: res.headers['x-backend'] as string | undefined }),
      );
    });
    req.once('error', () => resolve({ status: 0, backend: undefined }));
  });
}

describe('DrillBackend', () => {
  it('serves up to its capacity at once and answers 503 beyond it; health never queues', async () => {
    const b = await new DrillBackend({ name: 'b1', capacity: 2, serviceMs: 150, readyOk: false }).start();
    open.push(b);
    const answers = await Promise.all([
      get(b.port),
      get(b.port),
      get(b.port),
      get(b.port, '/healthz'),
      get(b.port, '/ready'),
    ]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 503, 503]);
    expect(answers[3]).toEqual({ status: 200, backend: 'b1' });
    expect(answers[4]!.status).toBe(503); // /ready fails on this backend
    expect({ requests: b.requests, rejected: b.rejected }).toEqual({ requests: 3, rejected: 1 });
  });

  it('a crash refuses new connections', async () => {
    const b = await new DrillBackend({ name: 'b2', capacity: 5, serviceMs: 1 }).start();
    open.push(b);
    expect((await get(b.port)).status).toBe(200);
    await b.crash();
    expect((await get(b.port)).status).toBe(0);
  });
});

describe('LoadGenerator', () => {
  it('sends at a steady rate, bounded by its duration, recording status and backend', async () => {
    const b = await new DrillBackend({ name: 'b1', capacity: 50, serviceMs: 5 }).start();
    open.push(b);
    const load = new LoadGenerator({
      host: '127.0.0.1',
      port: b.port,
      rate: 200,
      maxDurationMs: 300,
      timeoutMs: 1000,
    });
    load.start();
    await new Promise((r) => setTimeout(r, 600));
    await load.stop();
    // 200/s for 300 ms is 60 requests, and no more however long it runs.
    expect(load.records).toHaveLength(60);
    expect(load.records.every((r) => r.status === 200 && r.backend === 'b1')).toBe(true);
    expect(summarize(load.records)).toMatchObject({ requests: 60, failed: 0, failedShare: 0 });
  });
});

describe('settledAt', () => {
  const rec = (at: number, status: number): LoadRecord => ({ at, latencyMs: 1, status, backend: undefined });
  it('needs three quiet seconds in a row, not one quiet second between bursts', () => {
    const records: LoadRecord[] = [];
    for (let t = 0; t < 8000; t += 10)
      records.push(rec(t, t >= 1000 && t < 1100 ? 503 : t >= 2500 && t < 2600 ? 503 : 200));
    expect(settledAt(records, 0, 8000, 0.01)).toBe(2750);
    expect(settledAt(records, 0, 3000, 0.01)).toBeUndefined();
  });
});

describe('scenarios', () => {
  it('every scenario config loads, and the bad ones differ from the good', () => {
    const backends = ['b1', 'b2', 'b3'].map((name, i) =>
      Object.assign(new DrillBackend({ name, capacity: 1, serviceMs: 1 }), { port: 9000 + i }),
    );
    for (const short of [true, false]) {
      const env = { backends, short, rate: 100, serviceMs: 100 };
      for (const s of SCENARIOS) {
        expect(loadConfigText(s.goodConfig(env)).ok, s.name).toBe(true);
        if (s.badConfig) {
          expect(loadConfigText(s.badConfig(env)).ok, s.name).toBe(true);
          expect(s.badConfig(env)).not.toBe(s.goodConfig(env));
        }
      }
    }
    expect(
      drillConfig({ backends, short: true, rate: 1, serviceMs: 1 }, { short: true, weights: [10, 1, 1] }),
    ).toContain('weight: 10');
  });
});

describe('drill report', () => {
  const result: DrillResult = {
    scenario: 'weight-skew',
    title: 'one backend weighted far above the others (the postmortem)',
    story: 'b1 weighted 10:1:1',
    short: false,
    rate: 200,
    backends: [{ name: 'b1', capacity: 13, serviceMs: 100, requests: 10, rejected: 3 }],
    lint: {
      of: 'bad config',
      findings: [
        {
          ruleId: 'weight-skew',
          severity: 'error',
          path: 'pools.app.backends[0].weight',
          message: 'b1 weight 10',
        },
      ],
    },
    timeline: [
      { atMs: -8000, kind: 'lint', text: 'lint says weight-skew' },
      { atMs: 0, kind: 'apply', text: 'bad config applied' },
      { atMs: 2800, kind: 'detect', text: 'BackendOverloaded fired' },
    ],
    culprit: 'b1',
    detection: {
      afterMs: 2800,
      alertname: 'BackendOverloaded',
      summary: 'backend b1 overloaded',
      cause: 'weights skewed',
    },
    firstNamed: {
      afterMs: 1000,
      alertname: 'BackendOverloaded',
      state: 'pending',
      summary: 'backend b1 overloaded',
    },
    recovery: { afterMs: 1200, how: 'the guard rolled back by itself' },
    misnamed: [],
    expected: [{ alertname: 'BackendOverloaded', backend: 'b1', causeKind: 'weight-skew', seen: true }],
    requests: {
      total: { requests: 1000, failed: 20, failedShare: 0.02, p99Ms: 120 },
      before: { requests: 600, failed: 0, failedShare: 0, p99Ms: 110 },
      incident: { requests: 100, failed: 20, failedShare: 0.2, p99Ms: 130 },
      after: { requests: 300, failed: 0, failedShare: 0, p99Ms: 110 },
    },
    budgets: { detectMs: 15_000, recoverMs: 60_000, failedShare: 0.05 },
    verdict: { detected: true, recovered: true, failures: true, named: true, passed: true },
  };

  it('prints the timeline in the postmortem style and a table beside its figures', () => {
    const text = renderDrillText(result);
    expect(text).toContain('- **T-8.0 s:** lint says weight-skew');
    expect(text).toContain('- **T+2.8 s:** BackendOverloaded fired');
    expect(text).toMatch(
      new RegExp(
        `time to detect the cause +${POSTMORTEM.detect.replace(/[()]/g, '\\$&')} +2\\.8 s \\(BackendOverloaded\\) +< 15\\.0 s +ok`,
      ),
    );
    expect(text).toMatch(/time to recover +4 h \(22:00 to 02:00\) +1\.2 s +< 60\.0 s +ok/);
    expect(text).toMatch(
      /failed requests +30% of users got 503 +2\.0% \(20 of 1000; 20\.0% during the incident\)/,
    );
    expect(text).toContain(
      'First alert naming the cause (pending, before its `for`): T+1.0 s BackendOverloaded',
    );
    expect(text.trimEnd().endsWith('PASS: weight-skew')).toBe(true);
    expect(
      renderDrillText({
        ...result,
        detection: null,
        verdict: { ...result.verdict, detected: false, passed: false },
      }),
    ).toMatch(/not detected .* MISSED[\s\S]*FAIL: weight-skew/);
  });

  it('fails a drill whose alerts misnamed the incident, and says which and why', () => {
    const text = renderDrillText({
      ...result,
      misnamed: [
        {
          alertname: 'NoBackendAvailable',
          labels: { pool: 'app' },
          summary: 'pool app has no backend available: clients get 503',
          why: 'NoBackendAvailable while two backends serve',
        },
      ],
      verdict: { ...result.verdict, named: false, passed: false },
    });
    expect(text).toContain(
      'MISSED: alerts that misnamed the incident:\n  NoBackendAvailable: NoBackendAvailable while two backends serve (pool app has no backend available: clients get 503)',
    );
    expect(text.trimEnd().endsWith('FAIL: weight-skew')).toBe(true);
    const unseen = renderDrillText({
      ...result,
      expected: [{ alertname: 'BackendOverfed', backend: 'b1', causeKind: 'retries', seen: false }],
      verdict: { ...result.verdict, named: false, passed: false },
    });
    expect(unseen).toContain(
      'MISSED: alerts that never fired naming their cause:\n  BackendOverfed on b1 (retries)',
    );
  });

  it('sums up several drills in one line naming each that missed, and what it missed', () => {
    const missed: DrillResult = {
      ...result,
      scenario: 'backend-crash',
      recovery: null,
      verdict: { detected: true, recovered: false, failures: true, named: false, passed: false },
    };
    expect(drillSummaryLine([result, missed])).toBe(
      '1 of 2 drills missed: backend-crash (recovery, cause named); passed: weight-skew',
    );
    expect(drillSummaryLine([result, { ...result, scenario: 'hash-hotspot' }])).toBe(
      'all 2 drills passed: weight-skew, hash-hotspot',
    );
  });

  it('has a one-line progress', () => {
    expect(
      progressLine({
        scenario: 'weight-skew',
        phase: 'incident',
        sinceFaultMs: 1500,
        sent: 900,
        failed: 12,
        detected: true,
        recovered: false,
      }),
    ).toBe('drill weight-skew: incident T+1.5 s, 900 sent, 12 failed, detected');
  });
});
