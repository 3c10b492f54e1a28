// Issue 14: a real Prometheus (Debian's `prometheus`) scrapes two fulcrum instances that both
// have a pool named `app` (3 backends on one, 4 on the other, fair round-robin), with the rule
// file `fulcrum alerts rules` generates (prometheusRules over a short monitor window). Judged per
// `instance`, the honest setup fires no BackendOverfed/BackendStarved and every share ratio is
// ~1.0 (the old bug merged both pools into one 7-backend pool and fired a false Overfed). Then
// one instance turns really unfair (consistent hashing with one hot key) and only that
// instance's backends alert.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { freePort } from '../../src/sim/free-port.ts';
import { prometheusRules } from '../../src/monitor/prometheus-rules.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { until } from '../helpers/fleet.ts';
import { startLoad, type RunningLoad } from '../helpers/load.ts';

const hasPrometheus = spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasPrometheus && !process.env['CI'])
  console.warn('[prometheus] prometheus not found (apt-get install -y prometheus): test skipped');

/** A short window and `for` so the alerts can fire within a test; thresholds stay the defaults. */
const MONITOR = { window: '20s', fairness: { for: '2s' } };
const W = '20s';
const ALERTS_RE = 'BackendOverfed|BackendStarved';

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

let dir: string;
let prom: ChildProcess | undefined;
let promLog = '';
let promUrl: string;
let backendsA: FakeBackend[] = [];
let backendsB: FakeBackend[] = [];
let a: TestBalancer;
let b: TestBalancer;
/** The `instance` label Prometheus gives each balancer: its admin host:port. */
let instA: string;
let instB: string;
const loads: RunningLoad[] = [];

function balancerConfig(
  backends: FakeBackend[],
  pool: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'round-robin',
        backends: backends.map((x) => ({ name: x.name, address: x.address })),
        healthCheck: { interval: '1s', timeout: '800ms' },
        ...pool,
      },
    },
    monitor: MONITOR,
    audit: { schedule: '' },
  };
}

async function query(q: string): Promise<Sample[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`, {
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as { status: string; error?: string; data: { result: Sample[] } };
  if (body.status !== 'success') throw new Error(`query ${q}: ${body.error ?? res.status}`);
  return body.data.result;
}

async function fairnessAlerts(): Promise<PromAlert[]> {
  const res = await fetch(`${promUrl}/api/v1/alerts`, { signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as { data: { alerts: PromAlert[] } };
  return body.data.alerts.filter((x) => new RegExp(`^(${ALERTS_RE})$`).test(x.labels['alertname'] ?? ''));
}

const key = (s: { labels?: Record<string, string>; metric?: Record<string, string> }) => {
  const l = s.labels ?? s.metric ?? {};
  return `${l['alertname'] ?? ''}|${l['instance']}|${l['pool']}|${l['backend']}`;
};

describe.skipIf(!hasPrometheus && !process.env['CI'])(
  'a real Prometheus over two fulcrum instances with a pool of the same name',
  () => {
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fulcrum-prometheus-'));
      backendsA = await Promise.all([1, 2, 3].map((i) => startFakeBackend({ name: `a-${i}` })));
      backendsB = await Promise.all([1, 2, 3, 4].map((i) => startFakeBackend({ name: `b-${i}` })));
      a = await startTestBalancer(balancerConfig(backendsA));
      b = await startTestBalancer(balancerConfig(backendsB));
      instA = new URL(a.adminUrl).host;
      instB = new URL(b.adminUrl).host;

      const monitor = configSchema.shape.monitor.parse(MONITOR);
      writeFileSync(
        join(dir, 'fulcrum-rules.yml'),
        YAML.stringify(prometheusRules(monitor), { lineWidth: 0 }),
      );
      writeFileSync(
        join(dir, 'prometheus.yml'),
        YAML.stringify({
          global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
          rule_files: ['fulcrum-rules.yml'],
          scrape_configs: [{ job_name: 'fulcrum', static_configs: [{ targets: [instA, instB] }] }],
        }),
      );
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prom = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--log.level=warn',
        ],
        { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      prom.stderr?.on('data', (d: Buffer) => {
        if (promLog.length < 16_384) promLog += d.toString();
      });
      await until(
        async () => {
          if (prom?.exitCode !== null) throw new Error(`prometheus exited: ${promLog}`);
          const r = await fetch(`${promUrl}/-/ready`, { signal: AbortSignal.timeout(1000) });
          return r.ok ? true : undefined;
        },
        30_000,
        'prometheus ready',
      );
      // Both balancers scraped: the rule file's series have an `instance` to group by.
      await until(
        async () => ((await query('up{job="fulcrum"} == 1')).length === 2 ? true : undefined),
        30_000,
        'both targets up',
      );
    }, 90_000);

    afterAll(async () => {
      await Promise.all(loads.map((l) => l.stop()));
      if (prom && prom.exitCode === null && prom.signalCode === null) {
        const gone = new Promise((r) => prom?.once('exit', r));
        prom.kill('SIGTERM');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
        if (prom.exitCode === null && prom.signalCode === null) {
          prom.kill('SIGKILL');
          await gone;
        }
      }
      await a?.close();
      await b?.close();
      await Promise.all([...backendsA, ...backendsB].map((x) => x.close()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    it('judges each instance apart: no Overfed/Starved, every share ratio ~1.0 with its instance label', async () => {
      // Instance a carries several times instance b's traffic: merged into one 7-backend pool,
      // a's backends would read as overfed.
      loads.push(startLoad({ url: `${a.url()}/`, concurrency: 2, pauseMs: 5, maxMs: 240_000 }));
      loads.push(startLoad({ url: `${b.url()}/`, concurrency: 1, pauseMs: 25, maxMs: 240_000 }));

      // The alerts' request gate (expected requests >= minRequestsPerBackend over the window) has
      // been open on all seven backends for at least 5 evaluations: an unfair share would fire.
      await until(
        async () => {
          const open = await query(
            `count_over_time((fulcrum:backend_expected_requests:increase${W} >= 100)[5m:1s])`,
          );
          return open.length === 7 && open.every((s) => Number(s.value[1]) >= 5) ? true : undefined;
        },
        120_000,
        'request gate open on all 7 backends for 5 evaluations',
      );

      const ratios = await query(`fulcrum:backend_share_ratio:ratio_rate${W}`);
      expect(
        ratios.map((s) => `${s.metric['instance']}/${s.metric['pool']}/${s.metric['backend']}`).sort(),
      ).toEqual(
        [
          ...backendsA.map((x) => `${instA}/app/${x.name}`),
          ...backendsB.map((x) => `${instB}/app/${x.name}`),
        ].sort(),
      );
      for (const s of ratios) {
        expect(s.metric['job']).toBe('fulcrum');
        expect(Number(s.value[1])).toBeGreaterThan(0.9);
        expect(Number(s.value[1])).toBeLessThan(1.1);
      }

      // Never pending or firing since Prometheus started, and none now.
      expect(await query(`count_over_time(ALERTS{alertname=~"${ALERTS_RE}"}[10m])`)).toEqual([]);
      expect(await fairnessAlerts()).toEqual([]);

      // The setup does reproduce the old bug: the same ratio grouped without instance/job
      // reads a's backends far above the Overfed threshold.
      const merged = await query(
        `(sum by (pool, backend) (rate(fulcrum_requests_total{backend!=""}[${W}]))` +
          ` / on (pool) group_left sum by (pool) (rate(fulcrum_requests_total{backend!=""}[${W}])))` +
          ` / (sum by (pool, backend) (fulcrum_backend_effective_weight)` +
          ` / on (pool) group_left sum by (pool) (fulcrum_backend_effective_weight))`,
      );
      expect(merged).toHaveLength(7);
      for (const s of merged.filter((x) => x.metric['backend']?.startsWith('a-')))
        expect(Number(s.value[1])).toBeGreaterThan(1.25);
    }, 150_000);

    it('one instance made unfair (a hot hash key) fires Overfed/Starved with its instance label only', async () => {
      // b's pool becomes consistent-hash on a header; every request carries the same key, so one
      // backend takes it all while the effective weights still say a quarter each.
      const res = await fetch(`${b.adminUrl}/api/v1/config`, {
        method: 'POST',
        body: YAML.stringify({
          version: 1,
          log: { level: 'silent', access: false },
          ...balancerConfig(backendsB, { policy: 'consistent-hash', hash: { key: 'header:x-user' } }),
        }),
        headers: { 'content-type': 'application/yaml' },
        signal: AbortSignal.timeout(20_000),
      });
      expect(res.status, JSON.stringify(await res.clone().json())).toBe(200);
      await (loads.pop() as RunningLoad).stop();
      const hotLoad = startLoad({
        url: `${b.url()}/`,
        concurrency: 1,
        pauseMs: 10,
        headers: { 'x-user': 'tenant-42' },
        maxMs: 240_000,
      });
      loads.push(hotLoad);
      const hot = await until(
        () => {
          const seen = Object.entries(hotLoad.result.backends);
          return hotLoad.result.ok >= 20 ? seen.sort((x, y) => y[1] - x[1])[0]?.[0] : undefined;
        },
        20_000,
        'hot-key requests answered',
      );
      expect(hotLoad.result.backends[hot]).toBe(hotLoad.result.ok);
      const others = backendsB.map((x) => x.name).filter((n) => n !== hot);

      const want = [
        `BackendOverfed|${instB}|app|${hot}`,
        ...others.map((n) => `BackendStarved|${instB}|app|${n}`),
      ].sort();
      const firing = await until(
        async () => {
          const all = await fairnessAlerts();
          const f = all
            .filter((x) => x.state === 'firing')
            .map(key)
            .sort();
          return want.every((w) => f.includes(w)) ? all : undefined;
        },
        120_000,
        'Overfed on the hot backend and Starved on the other three, firing, on instance b',
      );
      // Exactly those four, all of instance b; instance a stays quiet and fair.
      expect(firing.map(key).sort()).toEqual(want);
      for (const x of firing) {
        expect(x.labels['instance']).toBe(instB);
        expect(x.labels['job']).toBe('fulcrum');
        expect(x.labels['severity']).toBe('warning');
      }
      expect(await query(`ALERTS{alertname=~"${ALERTS_RE}", instance="${instA}"}`)).toEqual([]);
      const hotRatio = await query(
        `fulcrum:backend_share_ratio:ratio_rate${W}{instance="${instB}", backend="${hot}"}`,
      );
      expect(Number(hotRatio[0]?.value[1])).toBeGreaterThan(1.25);
      const ratiosA = await query(`fulcrum:backend_share_ratio:ratio_rate${W}{instance="${instA}"}`);
      expect(ratiosA).toHaveLength(3);
      for (const s of ratiosA) {
        expect(Number(s.value[1])).toBeGreaterThan(0.9);
        expect(Number(s.value[1])).toBeLessThan(1.1);
      }
    }, 150_000);
  },
);
