// Progressive apply across a fleet (`fulcrum apply FILE --canary-instances 1 --guard ...`): the
// version runs on one instance first while the others hold it back; a clean guard promotes it
// to everyone, a regression (the postmortem's 10:1:1 over a backend of finite capacity) rolls
// the fleet back, recorded with the reason, and the others never run the bad version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasEtcd, startEtcdCluster, type EtcdCluster } from '../../src/drill/etcd-server.ts';
import { runCli } from '../helpers/cli.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { startLoad, type RunningLoad } from '../helpers/load.ts';
import {
  fleetView,
  getJson,
  runningVersion,
  startInstance,
  until,
  writeConfig,
  type FleetInstance,
} from '../helpers/fleet.ts';

describe.skipIf(!hasEtcd())('fleet: canary instances', () => {
  let etcd: EtcdCluster;
  let backends: FakeBackend[] = [];
  let fleet: FleetInstance[] = [];
  let loads: RunningLoad[] = [];
  let doc: (weights: number[]) => Record<string, unknown>;

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    // b1 has finite capacity: the fleet's even share fits, 10:1:1 from one instance does not.
    backends = [
      await startFakeBackend({ name: 'b1', latencyMs: 40, capacity: 4 }),
      await startFakeBackend({ name: 'b2', latencyMs: 40 }),
      await startFakeBackend({ name: 'b3', latencyMs: 40 }),
    ];
    doc = (weights) => ({
      version: 1,
      log: { level: 'info', access: false },
      listeners: { web: { address: '${env:WEB_ADDR}', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          policy: 'weighted-round-robin',
          backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })),
          healthCheck: { interval: '1s', timeout: '500ms' },
        },
      },
      store: { etcd: { endpoints: etcd.endpoints, prefix: `/fleet-canary-${process.pid}/` } },
      fleet: { name: 'edge', instance: '${env:FLEET_INSTANCE}', report: '500ms' },
    });
    const file = writeConfig(doc([1, 1, 1]));
    const first = await startInstance('a', file);
    fleet = [first, ...(await Promise.all([startInstance('b', file), startInstance('c', file)]))];
    await until(
      async () => ((await fleetView(first)).instances.length === 3 ? true : undefined),
      15_000,
      '3 members',
    );
  }, 80_000);

  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(fleet.map((i) => i.stop()));
    await Promise.all(backends.map((x) => x.close()));
    await etcd?.stop();
  });

  it('refuses a traffic-slice canary on a fleet member: the others would follow the version', async () => {
    const [a] = fleet as [FleetInstance];
    const cli = await runCli([
      'apply',
      writeConfig(doc([3, 1, 1])),
      '--canary',
      '10%',
      '--admin',
      a.adminUrl,
    ]);
    expect(cli.code, cli.stdout + cli.stderr).toBe(1);
    expect(cli.stderr).toContain('FULCRUM_ERR_CANARY_INVALID');
    expect(cli.stderr).toContain('use canaryInstances=N');
    expect(await runningVersion(a)).toBe(1);
  });

  it('promotes a clean canary to the whole fleet after the guard', async () => {
    const [a, b, c] = fleet as [FleetInstance, FleetInstance, FleetInstance];
    const file = writeConfig(doc([2, 2, 2]));
    const cli = runCli(['apply', file, '--canary-instances', '1', '--guard', '4s', '--admin', a.adminUrl]);
    // While the guard runs, only a runs version 2.
    await until(async () => ((await runningVersion(a)) === 2 ? true : undefined), 10_000, 'a on version 2');
    const view = await until(
      async () => {
        const v = await fleetView(b);
        return v.latestVersion === 2 ? v : undefined;
      },
      5000,
      "b's view of latest version 2",
    );
    expect(await runningVersion(b)).toBe(1);
    expect(await runningVersion(c)).toBe(1);
    // Holding a canary back is not config skew.
    expect(view.instances.find((i) => i.instance === 'b')?.configSkewSince).toBeNull();
    const r = await cli;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('canary promoted');
    await until(
      async () => ((await Promise.all(fleet.map(runningVersion))).every((v) => v === 2) ? true : undefined),
      10_000,
      'fleet on version 2',
    );
  }, 45_000);

  it('rolls the fleet back from a 10:1:1 canary that overloads b1, and the others never run it', async () => {
    const [a, b, c] = fleet as [FleetInstance, FleetInstance, FleetInstance];
    loads = fleet.map((i) => startLoad({ url: `${i.proxyUrl}/`, concurrency: 3, maxMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    // Lint refuses 10:1:1 (weight-skew); the postmortem's operator forced it.
    const file = writeConfig(doc([10, 1, 1]));
    const r = await runCli([
      'apply',
      file,
      '--force',
      '--canary-instances',
      '1',
      '--guard',
      '30s',
      '--admin',
      a.adminUrl,
    ]);
    console.log(`[measured] canary 10:1:1 rolled back after ${Date.now() - t0} ms (guard 30 s)`);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/canary rolled back everywhere: version 3: canary error ratio/);
    await until(
      async () => ((await Promise.all(fleet.map(runningVersion))).every((v) => v === 4) ? true : undefined),
      10_000,
      'fleet on version 4 (the rollback)',
    );
    const results = await Promise.all(loads.splice(0).map((l) => l.stop()));
    const sent = results.reduce((n, x) => n + x.sent, 0);
    const failed = results.reduce((n, x) => n + x.failures, 0);
    console.log(
      `[measured] during the canary drill: ${failed} of ${sent} requests failed (${((failed / sent) * 100).toFixed(2)}%)`,
    );
    const v4 = await getJson<{ parent: number; source: string; message: string }>(
      `${b.adminUrl}/api/v1/config/versions/4`,
    );
    expect(v4.body).toMatchObject({ parent: 2, source: 'guard' });
    expect(v4.body.message).toContain('canary version 3 rolled back');
    const events = await getJson<{ events: { type: string; version?: number; data: { reason?: string } }[] }>(
      `${c.adminUrl}/api/v1/config/events`,
    );
    const rollback = events.body.events.find((e) => e.type === 'canary-rollback');
    expect(rollback?.version).toBe(3);
    expect(rollback?.data.reason).toContain('canary error ratio');
    // b and c adopted 1 (at start), 2 and 4, never 3.
    for (const inst of [b, c]) {
      const adopted = [...inst.output().matchAll(/"version":(\d+)[^\n]*"msg":"config version adopted"/g)].map(
        (m) => Number(m[1]),
      );
      expect(adopted).toEqual([1, 2, 4]);
    }
  }, 80_000);

  it('rolls back a canary whose judging instance died, once its guard should have ended', async () => {
    const [a, b, c] = fleet as [FleetInstance, FleetInstance, FleetInstance];
    const file = writeConfig(doc([3, 2, 2]));
    const cli = runCli(['apply', file, '--canary-instances', '1', '--guard', '2s', '--admin', a.adminUrl]);
    await until(async () => ((await runningVersion(a)) === 5 ? true : undefined), 10_000, 'a on version 5');
    await a.stop('SIGKILL');
    await cli;
    // Guard end + 30 s grace: b (the lowest id left) commits the base text as version 6.
    await until(
      async () => ((await Promise.all([b, c].map(runningVersion))).every((v) => v === 6) ? true : undefined),
      60_000,
      'b and c on version 6',
    );
    const v6 = await getJson<{ parent: number; source: string; message: string }>(
      `${c.adminUrl}/api/v1/config/versions/6`,
    );
    expect(v6.body).toMatchObject({ parent: 4, source: 'guard' });
    expect(v6.body.message).toContain('canary judge a did not finish the guard');
    for (const inst of [b, c]) {
      const adopted = [...inst.output().matchAll(/"version":(\d+)[^\n]*"msg":"config version adopted"/g)].map(
        (m) => Number(m[1]),
      );
      expect(adopted).not.toContain(5);
    }
  }, 80_000);
});
