// Issue 14 "done when": the postmortem's bad config (10:1:1 over backends of finite capacity)
// sent with `fulcrum apply --canary 10% --guard 30s` is rolled back, and fewer than 1% of all
// requests fail during the drill. The canary slice sends ~83% of its requests to app-1 where
// the baseline slice sends a third, so app-1 overloads (503 beyond its capacity) and the canary
// slice's error ratio rises well above the baseline slice's over the same seconds, although the
// overloaded backend answers both.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { runCli } from '../helpers/cli.ts';
import { startLoad, type RunningLoad } from '../helpers/load.ts';
import { until } from '../helpers/fleet.ts';
import type { BackendSlices } from '../../src/runtime/canary.ts';

/**
 * app-1 serves at most 4 requests at once (100 ms each). With 11 client connections 1:1:1 keeps about 3.7 of
 * them on each backend (no 503 before the canary); the 10% canary at 10:1:1 raises app-1's
 * share from 33% to 38% (4.2 at once: past its capacity), and sends 83% of its own requests
 * there against the baseline slice's 33%.
 */
const CAPACITY = 4;
const CONCURRENCY = 11;
const SERVICE_MS = 100;

let backends: FakeBackend[];
let tb: TestBalancer;
let port = 0;

// `workers: 1` spelled out: the slice lives in the single-thread data plane, also when
// FULCRUM_TEST_WORKERS asks for threads.
const config = (weights: number[]): Record<string, unknown> => ({
  ...weightedConfig(port, backends, weights),
  workers: 1,
});

async function getJson(path: string): Promise<any> {
  return (await fetch(`${tb.adminUrl}${path}`)).json();
}

beforeAll(async () => {
  // Each backend serves at most CAPACITY requests at once and answers 503 beyond, like the postmortem's.
  backends = await Promise.all(
    // 100 ms a request: a busy machine's scheduling jitter (a few ms) barely moves how many are
    // in flight at once, which is what the capacity counts (at 20 ms, beside another file's
    // load, 1:1:1 itself overflowed and both slices failed alike).
    [1, 2, 3].map((i) => startFakeBackend({ name: `app-${i}`, latencyMs: SERVICE_MS, capacity: CAPACITY })),
  );
  tb = await startTestBalancer(config([1, 1, 1]), { force: true });
  port = Number(new URL(tb.url()).port);
  // Re-apply with the bound port, so the canary config differs from the running one only in weights.
  const res = await fetch(`${tb.adminUrl}/api/v1/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: YAML.stringify(config([1, 1, 1])),
  });
  expect(res.status).toBe(200);
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('canary of the postmortem weight skew', () => {
  it('rolls the 10:1:1 canary back by itself; 1:1:1 runs again; the canary failed a small share of the run', async () => {
    const base = await getJson('/api/v1/config');
    // A client that gets a 503 tries again a service time later, as users do (load.ts says why
    // a closed loop that re-sends at once measures its own storm instead: on CI, 1:1:1 after the
    // rollback failed 33% of requests that way).
    const load = startLoad({
      url: `${tb.url()}/`,
      concurrency: CONCURRENCY,
      maxMs: 120_000,
      failurePauseMs: SERVICE_MS,
    });
    let running: RunningLoad | undefined = load;
    try {
      await until(() => load.result.ok >= 400 || undefined, 30_000, 'traffic before the canary');
      // What this machine fails with 1:1:1 alone (capacity jitter under a busy machine): the
      // canary is judged on what it adds to that, as an operator would read the drill.
      const failedBefore = load.result.failures;
      const sentBefore = load.result.sent;
      const rejectedBefore = backends.map((b) => b.rejected);
      const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-canary-skew-')), 'skewed.yaml');
      writeFileSync(file, YAML.stringify(config([10, 1, 1])));
      const t0 = Date.now();
      const cli = await runCli(
        [
          'apply',
          file,
          '--admin',
          tb.adminUrl,
          '--force',
          '--canary',
          '10%',
          '--guard',
          '30s',
          '-m',
          'skew app-1 10:1:1',
        ],
        {},
        60_000,
      );
      const detectMs = Date.now() - t0;
      const rejectedDuring = backends.map((b, i) => b.rejected - (rejectedBefore[i] ?? 0));
      const sentAtRollback = load.result.sent;
      const guard = (await getJson('/api/v1/guard')).guard;
      // Keep the load for the guard's whole time, as the issue counts failures "during the drill".
      await until(
        () => (Date.now() > guard.endsAt && load.result.sent >= sentAtRollback + 400) || undefined,
        60_000,
        'the end of the guard time',
      );
      running = undefined;
      const result = await load.stop();
      const rejectedAfter = backends.map(
        (b, i) => b.rejected - (rejectedBefore[i] ?? 0) - (rejectedDuring[i] ?? 0),
      );
      const share = result.failures / result.sent;
      const baselineRate = failedBefore / sentBefore;
      const added = (result.failures - baselineRate * result.sent) / result.sent;
      console.log(
        `canary weight-skew: rolled back ${detectMs} ms after the apply; ${result.failures} of ${result.sent} requests failed (${(share * 100).toFixed(2)}%; ${(baselineRate * 100).toFixed(2)}% before the apply, so the canary added ${(added * 100).toFixed(2)}%); 503s by backend during the canary ${JSON.stringify(rejectedDuring)} and after it ${JSON.stringify(rejectedAfter)}; failed answers ${JSON.stringify(result.statuses)} (fulcrum's own ${JSON.stringify(result.codes)}); 2xx by backend ${JSON.stringify(result.backends)}; canary slice ${JSON.stringify(guard.canary.canary)} vs baseline slice ${JSON.stringify(guard.canary.baseline)}; reason: ${guard.reason}`,
      );
      expect(cli.code, cli.stdout + cli.stderr).toBe(2);
      expect(cli.stdout).toMatch(/canary: version \d+ runs 10% of new requests beside version \d+/);
      expect(cli.stderr).toMatch(/canary rolled back: version \d+: canary (error ratio|sends)/);
      expect(guard.state).toBe('rolled-back');
      // The canary slice really ran 10:1:1: app-1, which takes 83% of it, overloaded (503s).
      expect(rejectedDuring[0]).toBeGreaterThan(0);
      // What the verdict read, per backend over both slices since the canary started: the canary
      // routed most of its slice to app-1, the baseline a third, and app-1 failed more than the
      // others. Whichever rule spoke first (the slices' error ratios, or where each slice's
      // routing sends requests that fail), it said so in those words.
      const rows: BackendSlices[] = guard.canary.backends;
      const canaryAll = rows.reduce((n, r) => n + r.canary.requests, 0);
      const baselineAll = rows.reduce((n, r) => n + r.baseline.requests, 0);
      const app1 = rows.find((r) => r.backend === 'app/app-1')!;
      const rest = rows.filter((r) => r !== app1);
      const failed = (rs: typeof rows): number =>
        rs.reduce((n, r) => n + r.canary.errors + r.baseline.errors, 0) /
        rs.reduce((n, r) => n + r.canary.requests + r.baseline.requests, 0);
      expect(app1.canary.requests / canaryAll).toBeGreaterThan(0.7);
      expect(app1.baseline.requests / baselineAll).toBeLessThan(0.4);
      expect(failed([app1])).toBeGreaterThan(2 * failed(rest));
      expect(guard.reason).toMatch(
        /^(canary error ratio \d+\.\d% \(\d+ of \d+ requests\) against|canary sends \d+\.\d% of its requests to app\/app-1, which failed)/,
      );
      // The bound: fewer than 1% of all requests failed during the drill (0.48-0.53% with
      // three CPU hogs beside; before the capacity slot was freed as the answer is written, 1:1:1
      // itself drew 503s on a busy machine and the slices parted slowly: 2.6% on CI).
      // Every request got an HTTP answer.
      expect(share).toBeLessThan(0.01);
      expect(Object.keys(result.errors)).toEqual([]);

      // 1:1:1 runs again, and the store says why.
      const current = await getJson('/api/v1/config');
      expect(current.text).toBe(base.text);
      expect(current.canary).toBeNull();
      expect(current.source).toBe('guard');
      expect(current.message).toMatch(
        /^canary of version \d+ rolled back: guard: canary (error ratio|sends)/,
      );
      const history = await getJson('/api/v1/config/versions?limit=3');
      expect(history.versions[0].version).toBe(current.version);
      expect(history.versions[1].message).toBe('canary 10%: skew app-1 10:1:1');
      const events = await getJson('/api/v1/config/events');
      const rollback = events.events.find((e: any) => e.type === 'canary-rollback');
      expect(rollback.data.reason).toMatch(/canary (error ratio|sends)/);
      expect(rollback.data.rollbackVersion).toBe(current.version);
      const after = await startLoad({ url: `${tb.url()}/`, concurrency: 3, maxRequests: 300 }).done;
      expect(after.backends).toEqual({ 'app-1': 100, 'app-2': 100, 'app-3': 100 });
    } finally {
      if (running) await running.stop();
    }
  }, 150_000);
});
