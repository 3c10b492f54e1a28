// Issue 14, item 5: `fulcrum apply FILE --canary 10% --guard 30s` on one instance. A share of
// new requests runs on the new snapshot beside the running one; the guard compares both slices
// over the same seconds; a broken canary is rolled back with fewer than 1% of the run's
// requests failed, a clean one is promoted and then takes every request.
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

let good: FakeBackend[];
let broken: FakeBackend[];
let fresh: FakeBackend[];
let tb: TestBalancer;
let port = 0;

// `workers: 1` spelled out: the slice lives in the single-thread data plane (with worker threads
// a canary is refused, tested below), also when FULCRUM_TEST_WORKERS asks for threads.
const config = (backends: FakeBackend[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ...weightedConfig(
    port,
    backends,
    backends.map(() => 1),
    extra,
  ),
  workers: 1,
});

async function post(
  query: string,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, any> }> {
  const res = await fetch(`${tb.adminUrl}/api/v1/config?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: YAML.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function getJson(path: string): Promise<any> {
  return (await fetch(`${tb.adminUrl}${path}`)).json();
}

function yamlFile(name: string, body: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-canary-')), name);
  writeFileSync(file, YAML.stringify(body));
  return file;
}

beforeAll(async () => {
  good = await Promise.all([1, 2, 3].map((i) => startFakeBackend({ name: `good-${i}` })));
  broken = await Promise.all([1, 2].map((i) => startFakeBackend({ name: `broken-${i}` })));
  fresh = await Promise.all([1, 2].map((i) => startFakeBackend({ name: `fresh-${i}` })));
  // Broken backends answer every request 503 and pass their health checks: only traffic shows it.
  for (const b of broken) await b.setMode('5xx');
  tb = await startTestBalancer(config(good), { force: true });
  port = Number(new URL(tb.url()).port);
  // Re-apply with the bound port, so the canary configs keep the listener exactly as it runs.
  const r = await post('', config(good));
  expect(r.status).toBe(200);
});
afterAll(async () => {
  await tb.close();
  await Promise.all([...good, ...broken, ...fresh].map((b) => b.close()));
});

describe('traffic-slice canary', () => {
  it('refuses bad shares, fleet flags together, and listener changes, with codes; nothing changes', async () => {
    const before = await getJson('/api/v1/config');
    for (const share of ['0%', '100%', '0.1', 'abc', '250%']) {
      const r = await post(`canary=${encodeURIComponent(share)}&guard=5s`, config(fresh));
      expect(r.status, share).toBe(400);
      expect(r.body['error'].code, share).toBe('FULCRUM_ERR_CANARY_INVALID');
    }
    const both = await post('canary=10%25&canaryInstances=1', config(fresh));
    expect(both.body['error'].code).toBe('FULCRUM_ERR_CANARY_INVALID');
    const withListener = config(fresh);
    (withListener['listeners'] as Record<string, unknown>)['extra'] = {
      address: '127.0.0.1:0',
      routes: [{ pool: 'app' }],
    };
    const added = await post('canary=10%25&guard=5s', withListener);
    expect(added.status).toBe(409);
    expect(added.body['error'].code).toBe('FULCRUM_ERR_CANARY_LISTENERS');
    expect(added.body['error'].message).toContain('adds listener extra');
    const cli = await runCli([
      'apply',
      yamlFile('c.yaml', config(fresh)),
      '--admin',
      tb.adminUrl,
      '--canary',
      '0.1',
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('FULCRUM_ERR_CANARY_INVALID');
    const cli2 = await runCli([
      'apply',
      yamlFile('c.yaml', config(fresh)),
      '--admin',
      tb.adminUrl,
      '--canary',
      '10%',
      '--canary-instances',
      '1',
    ]);
    expect(cli2.code).toBe(1);
    expect(cli2.stderr).toContain('FULCRUM_ERR_CANARY_INVALID');
    const after = await getJson('/api/v1/config');
    expect(after.version).toBe(before.version);
    expect(after.canary).toBeNull();
    expect(fresh.reduce((n, b) => n + b.requests, 0)).toBe(0);
  });

  it('rolls a broken canary back: the baseline keeps serving, under 1% of the run failed, history says why', async () => {
    const base = await getJson('/api/v1/config');
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 8, maxMs: 120_000 });
    let stopped: RunningLoad | undefined = load;
    try {
      await until(() => load.result.ok >= 2000 || undefined, 30_000, 'traffic before the canary');
      const cli = await runCli(
        [
          'apply',
          yamlFile('broken.yaml', config(broken)),
          '--admin',
          tb.adminUrl,
          '--canary',
          '10%',
          '--guard',
          '5s',
          '-m',
          'broken pool',
        ],
        {},
        60_000,
      );
      expect(cli.code, cli.stdout + cli.stderr).toBe(2);
      expect(cli.stdout).toMatch(/canary: version \d+ runs 10% of new requests beside version \d+/);
      expect(cli.stderr).toMatch(/canary rolled back: version \d+: canary error ratio/);
      const guard = (await getJson('/api/v1/guard')).guard;
      expect(guard.state).toBe('rolled-back');
      // Over the guard's whole time, as the issue counts it: keep the load until it is over.
      const okAtRollback = load.result.ok;
      await until(
        () => (Date.now() > guard.endsAt && load.result.ok >= okAtRollback + 2000) || undefined,
        30_000,
        'the end of the guard time',
      );
      const brokenHitsBefore = broken.reduce((n, b) => n + b.requests, 0);
      stopped = undefined;
      const result = await load.stop();
      console.log(
        `canary rollback: ${result.sent} requests, ${result.failures} failed (${((result.failures / result.sent) * 100).toFixed(2)}%), canary slice ${guard.canary.totals.canary} requests; reason: ${guard.reason}`,
      );
      expect(brokenHitsBefore).toBeGreaterThan(0);
      expect(result.failures / result.sent).toBeLessThan(0.01);
      expect(Object.keys(result.errors)).toEqual([]);

      // The baseline takes every request again.
      const after = await startLoad({ url: `${tb.url()}/`, concurrency: 4, maxRequests: 300 }).done;
      expect(after.ok).toBe(300);
      expect(broken.reduce((n, b) => n + b.requests, 0)).toBe(brokenHitsBefore);

      // The store names what runs (the baseline's text again) and why.
      const current = await getJson('/api/v1/config');
      expect(current.text).toBe(base.text);
      expect(current.source).toBe('guard');
      expect(current.canary).toBeNull();
      expect(current.message).toMatch(/^canary of version \d+ rolled back: guard: canary error ratio/);
      const history = await getJson('/api/v1/config/versions?limit=3');
      expect(history.versions[1].message).toBe('canary 10%: broken pool');
      const events = await getJson('/api/v1/config/events');
      const rollback = events.events.find((e: any) => e.type === 'canary-rollback');
      expect(rollback.data.reason).toMatch(/canary error ratio/);
      expect(rollback.data.rollbackVersion).toBe(current.version);
    } finally {
      if (stopped) await stopped.stop();
    }
  }, 120_000);

  it('promotes a clean canary after the guard; the slice holds ~10% meanwhile, then 100% runs on it', async () => {
    const base = await getJson('/api/v1/config');
    const freshBefore = fresh.reduce((n, b) => n + b.requests, 0);
    const started = await post('canary=10%25&guard=12s', config(fresh));
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    expect(started.body['canary'].fraction).toBeCloseTo(0.1, 9);
    expect(started.body['guard'].state).toBe('watching');
    const canaryVersion = started.body['version'] as number;
    // While it runs, the running version is the baseline and the canary is named beside it.
    const during = await getJson('/api/v1/config');
    expect(during.version).toBe(base.version);
    expect(during.canary.version).toBe(canaryVersion);

    // A bounded number of requests, and only ours: the slice's share of them.
    const sample = await startLoad({ url: `${tb.url()}/`, concurrency: 4, maxRequests: 1000 }).done;
    expect(sample.ok).toBe(1000);
    const onCanary = fresh.reduce((n, b) => n + b.requests, 0) - freshBefore;
    console.log(`canary slice: ${onCanary} of 1000 requests`);
    // The slice is a counter: exactly every 10th request here; any share stays within ±2 points.
    expect(onCanary / 1000).toBeGreaterThan(0.08);
    expect(onCanary / 1000).toBeLessThan(0.12);
    expect((await getJson('/api/v1/guard')).guard.state).toBe('watching');

    await until(
      async () => (await getJson('/api/v1/guard')).guard.state !== 'watching' || undefined,
      60_000,
      'the promotion',
    );
    const guard = (await getJson('/api/v1/guard')).guard;
    expect(guard.state, guard.reason).toBe('passed');
    const current = await getJson('/api/v1/config');
    expect(current.version).toBe(canaryVersion);
    expect(current.canary).toBeNull();

    const goodBefore = good.reduce((n, b) => n + b.requests, 0);
    const freshAtPromotion = fresh.reduce((n, b) => n + b.requests, 0);
    const after = await startLoad({ url: `${tb.url()}/`, concurrency: 4, maxRequests: 300 }).done;
    expect(after.ok).toBe(300);
    expect(fresh.reduce((n, b) => n + b.requests, 0) - freshAtPromotion).toBe(300);
    expect(good.reduce((n, b) => n + b.requests, 0)).toBe(goodBefore);
    const events = await getJson('/api/v1/config/events');
    expect(events.events.some((e: any) => e.type === 'canary-promoted' && e.version === canaryVersion)).toBe(
      true,
    );
  }, 120_000);

  it('one canary at a time; fulcrum rollback ends a running canary and the guard stands down', async () => {
    const base = await getJson('/api/v1/config');
    const started = await post('canary=25%25&guard=5m', config(good));
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const canaryVersion = started.body['version'] as number;
    const second = await post('canary=10%25&guard=1m', config(broken));
    expect(second.status).toBe(409);
    expect(second.body['error'].code).toBe('FULCRUM_ERR_CANARY_RUNNING');

    const cli = await runCli(['rollback', '--admin', tb.adminUrl, '-m', 'not today']);
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/applied version \d+ \(was \d+\)/);
    const guard = (await getJson('/api/v1/guard')).guard;
    expect(guard.state).toBe('cancelled');
    expect(guard.appliedVersion).toBe(canaryVersion);
    expect(guard.reason).toBe('not today');
    const current = await getJson('/api/v1/config');
    expect(current.canary).toBeNull();
    expect(current.text).toBe(base.text);
    expect(current.source).toBe('rollback');
    expect(current.message).toBe(`canary of version ${canaryVersion} rolled back: not today`);
    // Every request is on the running config again.
    const goodBefore = good.reduce((n, b) => n + b.requests, 0);
    const after = await startLoad({ url: `${tb.url()}/`, concurrency: 4, maxRequests: 200 }).done;
    expect(after.ok).toBe(200);
    expect(good.reduce((n, b) => n + b.requests, 0)).toBe(goodBefore);
  }, 60_000);
});

describe('traffic-slice canary with worker threads', () => {
  it('is refused with a code and changes nothing (the slice lives in the single-thread data plane)', async () => {
    const backend = await startFakeBackend({ name: 'w-1' });
    const other = await startFakeBackend({ name: 'w-2' });
    const wb = await startTestBalancer({ ...weightedConfig(0, [backend], [1]), workers: 2 }, { force: true });
    try {
      const before = (await (await fetch(`${wb.adminUrl}/api/v1/config`)).json()) as { version: number };
      const p = Number(new URL(wb.url()).port);
      const res = await fetch(`${wb.adminUrl}/api/v1/config?canary=10%25&guard=5s`, {
        method: 'POST',
        headers: { 'content-type': 'application/yaml' },
        body: YAML.stringify({ ...weightedConfig(p, [other], [1]), workers: 2 }),
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status).toBe(400);
      expect(body.error.code).toBe('FULCRUM_ERR_CANARY_INVALID');
      expect(body.error.message).toContain('workers: 1');
      const after = (await (await fetch(`${wb.adminUrl}/api/v1/config`)).json()) as { version: number };
      expect(after.version).toBe(before.version);
      const load = await startLoad({ url: `${wb.url()}/`, concurrency: 2, maxRequests: 50 }).done;
      expect(load.ok).toBe(50);
      expect(other.requests).toBe(0);
    } finally {
      await wb.close();
      await backend.close();
      await other.close();
    }
  }, 60_000);
});
