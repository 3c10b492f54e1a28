// `fulcrum alerts rules --format prometheus` checked by Prometheus's own tool: the rule file
// passes `promtool check rules`, and the unit tests in fulcrum-rules.test.yaml replay a
// skew (hot backend, weight skew beyond capacity) and an error burst through it.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alertsRulesCommand } from '../../src/cli/commands/alerts.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { FakeClock } from '../../src/core/clock.ts';
import { EventHub } from '../../src/core/events.ts';
import { Monitor } from '../../src/monitor/monitor.ts';
import { RULE_NAMES } from '../../src/monitor/rules/catalog.ts';
import { drive, silentLogger, testSnapshot } from '../../src/testing/monitor-kit.ts';

function capture(): CliIo & { text: () => string } {
  const out: string[] = [];
  return {
    out: (t) => void out.push(t),
    err: (t) => void out.push(t),
    env: {},
    cwd: process.cwd(),
    text: () => out.join(''),
  };
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
if (!promtool)
  console.warn('[prometheus] promtool not found (apt-get install -y prometheus): promtool tests skipped');

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-promtool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fulcrum alerts rules', () => {
  it('writes alerting rules with the same names as the built-in rules (json)', async () => {
    const io = capture();
    expect(await alertsRulesCommand({ format: 'json' }, io)).toBe(0);
    const file = JSON.parse(io.text()) as { groups: { rules: { alert?: string; record?: string }[] }[] };
    const alerts = file.groups.flatMap((g) => g.rules.flatMap((r) => (r.alert ? [r.alert] : [])));
    expect(alerts.sort()).toEqual([...RULE_NAMES].sort());
    const records = file.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : [])));
    expect(records).toContain('fulcrum:backend_share_ratio:ratio_rate1m');
  });

  it.skipIf(!promtool)('passes promtool check rules and the promtool unit tests', async () => {
    const io = capture();
    expect(await alertsRulesCommand({ format: 'prometheus' }, io)).toBe(0);
    writeFileSync(join(dir, 'fulcrum-rules.yml'), io.text());
    copyFileSync(join(import.meta.dirname, 'fulcrum-rules.test.yaml'), join(dir, 'fulcrum-rules.test.yaml'));
    const check = execFileSync('promtool', ['check', 'rules', 'fulcrum-rules.yml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(check).toContain('SUCCESS');
    const test = spawnSync('promtool', ['test', 'rules', 'fulcrum-rules.test.yaml'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(`${test.stdout}${test.stderr}`).toContain('SUCCESS');
    expect(test.status).toBe(0);
  });

  it.skipIf(!promtool)('/metrics output passes promtool check metrics (fulcrum_* series)', async () => {
    const snap = testSnapshot(
      {
        version: 1,
        listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
        pools: {
          app: { backends: [1, 2].map((i) => ({ name: `app-${i}`, address: `127.0.0.1:${9000 + i}` })) },
        },
      },
      1,
    );
    const hub = new EventHub();
    const clock = new FakeClock();
    const monitor = new Monitor({ hub, clock, logger: silentLogger, getSnapshot: () => snap });
    monitor.start();
    const state = snap.pools.get('app')?.state;
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 3,
      rps: 10,
      shot: (i) => ({ backend: state?.pick(undefined)?.name, status: i % 7 ? 200 : 503, durationMs: 30 }),
    });
    const { body } = await monitor.metrics();
    monitor.stop();
    expect(body).toContain(
      'fulcrum_request_duration_seconds_bucket{le="+Inf",pool="app",backend="app-1"} 15',
    );
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    // prom-client's own nodejs_* defaults draw naming complaints; fulcrum's series must not.
    const ours = `${lint.stdout}${lint.stderr}`
      .split('\n')
      .filter((l) => l.includes('fulcrum_') || l.includes('error'));
    expect(ours).toEqual([]);
  });
});
