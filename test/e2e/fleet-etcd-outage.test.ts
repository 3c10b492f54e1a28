// etcd trouble never touches the data plane: with one of three etcd members killed the fleet
// goes on as before; with all of etcd stopped every instance keeps serving (0 failed requests),
// says "degraded: store unreachable" (still ready: 200) and catches up when etcd returns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasEtcd, startEtcdCluster, type EtcdCluster } from '../../src/store/testing/etcd-server.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { runCli } from '../helpers/cli.ts';
import { startLoad } from '../helpers/load.ts';
import {
  fleetConfig,
  fleetView,
  getJson,
  postConfig,
  runningVersion,
  startInstance,
  until,
  writeConfig,
  type FleetInstance,
} from '../helpers/fleet.ts';

describe.skipIf(!hasEtcd())('fleet: etcd trouble (3 etcd members, 3 instances)', () => {
  let etcd: EtcdCluster;
  let backends: FakeBackend[];
  let fleet: FleetInstance[] = [];
  let base: Record<string, unknown>;
  const prefix = `/fleet-outage-${process.pid}/`;

  const allOn = async (version: number): Promise<true | undefined> =>
    (await Promise.all(fleet.map(runningVersion))).every((v) => v === version) ? true : undefined;
  const withTimeout = (connect: string): Record<string, unknown> => {
    const pools = base['pools'] as { app: Record<string, unknown> };
    return { ...base, pools: { app: { ...pools.app, timeouts: { connect } } } };
  };

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    backends = await startFakeBackends(3);
    base = fleetConfig(
      etcd.endpoints,
      prefix,
      backends.map((x) => ({ name: x.name, address: x.address })),
    );
    const file = writeConfig(base);
    const first = await startInstance('a', file);
    fleet = [first, ...(await Promise.all([startInstance('b', file), startInstance('c', file)]))];
    await until(
      async () => ((await fleetView(first)).instances.length === 3 ? true : undefined),
      15_000,
      '3 members',
    );
  }, 80_000);

  afterAll(async () => {
    await Promise.all(fleet.map((i) => i.stop()));
    await Promise.all((backends ?? []).map((x) => x.close()));
    await etcd?.stop();
  });

  it('changes nothing when one etcd member is killed: applies still reach every instance', async () => {
    await (etcd.members[0] as { stop(s: 'SIGKILL'): Promise<void> }).stop('SIGKILL');
    const [a, b] = fleet as [FleetInstance, FleetInstance];
    const r = await until(
      async () => {
        const res = await postConfig(b, withTimeout('3s'));
        return res.status === 200 ? res : undefined;
      },
      15_000,
      'apply with one etcd member down',
    );
    expect(r.body['version']).toBe(2);
    await until(() => allOn(2), 10_000, 'all on version 2');
    const view = await until(
      async () => {
        const v = await fleetView(a);
        return v.store === 'reachable' &&
          v.instances.length === 3 &&
          v.instances.every((i) => i.version === 2)
          ? v
          : undefined;
      },
      10_000,
      'view: reachable, 3 on version 2',
    );
    expect(
      view.instances.map((i) => i.health),
      JSON.stringify(view.instances.map((i) => i.reasons)),
    ).toEqual(['ok', 'ok', 'ok']);
    await etcd.members[0]?.start();
  }, 45_000);

  it('keeps every instance serving with all of etcd stopped, degraded but ready, and converges when it returns', async () => {
    await Promise.all(etcd.members.map((m) => m.stop()));
    const loads = fleet.map((i) =>
      startLoad({ url: `${i.proxyUrl}/`, concurrency: 2, maxMs: 60_000, pauseMs: 5 }),
    );
    // Every instance notices within a few reports, and says so without leaving the pool of ready balancers.
    for (const inst of fleet) {
      const ready = await until(
        async () => {
          const r = await getJson<{ status: string; reasons: string[] }>(`${inst.adminUrl}/readyz`);
          return r.body.reasons.includes('degraded: store unreachable') ? r : undefined;
        },
        20_000,
        `${inst.id} degraded`,
      );
      expect(ready.status).toBe(200);
      expect(ready.body.status).toBe('degraded');
      expect((await fleetView(inst)).store).toBe('unreachable');
    }
    const status = await runCli(['status', '--admin', (fleet[0] as FleetInstance).adminUrl]);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain('degraded: store unreachable');
    // Serve a while longer on the running version with etcd away.
    await new Promise((r) => setTimeout(r, 3000));
    for (const inst of fleet) expect(await runningVersion(inst)).toBe(2);
    await Promise.all(etcd.members.map((m) => m.start()));
    const results = await Promise.all(loads.map((l) => l.stop()));
    for (const r of results) {
      expect(r.sent).toBeGreaterThan(50);
      expect(r.failures).toBe(0);
    }
    console.log(
      `[measured] requests during the etcd outage: ${results.map((r) => r.sent).join(', ')}; failed: 0`,
    );
    const t0 = Date.now();
    const [a, , c] = fleet as [FleetInstance, FleetInstance, FleetInstance];
    await until(
      async () => {
        const views = await Promise.all(fleet.map(fleetView));
        return views.every((v) => v.store === 'reachable' && v.instances.length === 3) ? true : undefined;
      },
      30_000,
      'every instance reachable with 3 members again',
    );
    console.log(`[measured] fleet view whole again ${Date.now() - t0} ms after etcd returned`);
    const r = await until(
      async () => {
        const res = await postConfig(c, withTimeout('4s'));
        return res.status === 200 ? res : undefined;
      },
      15_000,
      'apply after etcd returned',
    );
    expect(r.body['version']).toBe(3);
    await until(() => allOn(3), 10_000, 'all on version 3');
    const ready = await until(
      async () => {
        const r = await getJson<{ reasons: string[] }>(`${a.adminUrl}/readyz`);
        return r.body.reasons.includes('degraded: store unreachable') ? undefined : r;
      },
      10_000,
      'store unreachable cleared',
    );
    expect(ready.status).toBe(200);
  }, 85_000);
});
