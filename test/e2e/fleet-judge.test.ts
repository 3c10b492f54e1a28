// The fleet judge end to end: three instances under load, one of which cannot reach backend b3
// (its b3 address is a dead port). Every instance's judge sums the load reports: fleet-wide
// shares come out as the sum of what each instance sent, and InstanceSkewed fires for that one
// instance, naming the backend and the cause (its health view differs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasEtcd, startEtcdCluster, type EtcdCluster } from '../../src/drill/etcd-server.ts';
import { freePort } from '../../src/sim/free-port.ts';
import { runCli } from '../helpers/cli.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startLoad, type RunningLoad } from '../helpers/load.ts';
import {
  fleetConfig,
  fleetView,
  getJson,
  startInstance,
  until,
  writeConfig,
  type FleetInstance,
} from '../helpers/fleet.ts';

interface AlertBody {
  alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string }[];
}

describe.skipIf(!hasEtcd())('fleet judge: one instance with a diverging health view', () => {
  let etcd: EtcdCluster;
  let backends: FakeBackend[];
  let fleet: FleetInstance[] = [];
  let loads: RunningLoad[] = [];

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    backends = await startFakeBackends(3);
    const [b1, b2, b3] = backends as [FakeBackend, FakeBackend, FakeBackend];
    const doc = fleetConfig(etcd.endpoints, `/fleet-judge-${process.pid}/`, [
      { name: 'b1', address: b1.address },
      { name: 'b2', address: b2.address },
      // Per instance: c's b3 is a port nothing listens on.
      { name: 'b3', address: '${env:B3_ADDR}' },
    ]);
    const file = writeConfig(doc);
    const dead = `127.0.0.1:${await freePort()}`;
    const first = await startInstance('a', file, { B3_ADDR: b3.address });
    fleet = [
      first,
      ...(await Promise.all([
        startInstance('b', file, { B3_ADDR: b3.address }),
        startInstance('c', file, { B3_ADDR: dead }),
      ])),
    ];
  }, 80_000);

  afterAll(async () => {
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(fleet.map((i) => i.stop()));
    await Promise.all((backends ?? []).map((x) => x.close()));
    await etcd?.stop();
  });

  it('fires InstanceSkewed for c naming b3 and its health view, and judges fleet-wide shares from the sum', async () => {
    const [a, b] = fleet as [FleetInstance, FleetInstance, FleetInstance];
    const t0 = Date.now();
    loads = fleet.map((i) => startLoad({ url: `${i.proxyUrl}/`, concurrency: 2, maxMs: 70_000, pauseMs: 2 }));
    const alert = await until(
      async () => {
        const r = await getJson<AlertBody>(`${a.adminUrl}/api/v1/alerts`);
        return r.body.alerts.find((x) => x.labels['alertname'] === 'InstanceSkewed' && x.state === 'firing');
      },
      45_000,
      'InstanceSkewed firing',
    );
    console.log(`[measured] InstanceSkewed firing ${Date.now() - t0} ms after load started`);
    expect(alert.labels).toMatchObject({
      fleet: 'edge',
      instance: 'c',
      pool: 'app',
      backend: 'b3',
      cause: 'health-view',
    });
    expect(alert.annotations['description']).toContain('app/b3 is unhealthy here, healthy on the others');

    // Every instance computes the same judgement from etcd.
    const fromB = await getJson<AlertBody>(`${b.adminUrl}/api/v1/alerts`);
    const skewedOnB = fromB.body.alerts.filter((x) => x.labels['alertname'] === 'InstanceSkewed');
    expect(skewedOnB.map((x) => x.labels['instance'])).toEqual(['c']);

    const view = await fleetView(a);
    expect(view.skewed.map((s) => [s.instance, s.backend, s.cause])).toEqual([['c', 'b3', 'health-view']]);
    const app = view.pools.find((p) => p.pool === 'app');
    const share = (name: string) => app?.backends.find((x) => x.backend === name);
    // a and b send a third each to b3, c none: the fleet's b3 share is about 2/9, between the two.
    const b3 = share('b3');
    expect(b3?.observedShare).toBeGreaterThan(0.12);
    expect(b3?.observedShare).toBeLessThan(0.3);
    expect(b3?.requests).toBe(Math.round((app?.requests ?? 0) * (b3?.observedShare ?? 0)));
    expect(
      (share('b1')?.observedShare ?? 0) + (share('b2')?.observedShare ?? 0) + (b3?.observedShare ?? 0),
    ).toBeCloseTo(1, 6);
    const metrics = await (await fetch(`${a.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/fulcrum_fleet_backend_share_ratio\{pool="app",backend="b3"\} 0\.[3-8]/);

    const status = await runCli(['status', '--fleet', '--admin', a.adminUrl]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('fleet edge');
    expect(status.stdout).toMatch(/SKEWED c app\/b3: 0\.0% here/);

    const results = await Promise.all(loads.splice(0).map((l) => l.stop()));
    // c never sends to b3, so its clients see no failures either.
    for (const r of results) expect(r.failures).toBe(0);
  }, 80_000);
});
