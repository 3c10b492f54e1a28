// A fleet of three fulcrum processes on a real 3-member etcd cluster: membership, following an
// apply, a fleet-wide rollback that keeps per-instance addresses, an instance that cannot adopt
// (its listener cannot bind), the overlap refusal, and a killed instance leaving the view.
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasEtcd, startEtcdCluster, type EtcdCluster } from '../../src/drill/etcd-server.ts';
import { freePort } from '../../src/sim/free-port.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { runCli } from '../helpers/cli.ts';
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

describe.skipIf(!hasEtcd())('fleet: membership and follow (3 etcd members, 3 instances)', () => {
  let etcd: EtcdCluster;
  let backends: FakeBackend[];
  let a: FleetInstance;
  let b: FleetInstance;
  let c: FleetInstance;
  let blocker: Server;
  let base: Record<string, unknown>;
  let configFile: string;
  const prefix = `/fleet-follow-${process.pid}/`;

  beforeAll(async () => {
    etcd = await startEtcdCluster(3);
    backends = await startFakeBackends(3);
    // A plain (non-SO_REUSEPORT) socket: instance c's extra listener address can never bind.
    blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const blocked = `127.0.0.1:${(blocker.address() as { port: number }).port}`;
    base = fleetConfig(
      etcd.endpoints,
      prefix,
      backends.map((x) => ({ name: x.name, address: x.address })),
    );
    configFile = writeConfig(base);
    a = await startInstance('a', configFile, { EXTRA_ADDR: `127.0.0.1:${await freePort()}` });
    [b, c] = await Promise.all([
      startInstance('b', configFile, { EXTRA_ADDR: `127.0.0.1:${await freePort()}` }),
      startInstance('c', configFile, { EXTRA_ADDR: blocked }),
    ]);
  }, 80_000);

  afterAll(async () => {
    await Promise.all([a, b, c].map((i) => i?.stop()));
    await Promise.all((backends ?? []).map((x) => x.close()));
    await new Promise((r) => blocker?.close(r));
    await etcd?.stop();
  });

  it('lists every instance with its id, admin address, version, config hash, start time and health', async () => {
    const view = await until(
      async () => {
        const v = await fleetView(a);
        return v.instances.length === 3 ? v : undefined;
      },
      15_000,
      'three members',
    );
    expect(view.instances.map((i) => i.instance)).toEqual(['a', 'b', 'c']);
    for (const [i, inst] of [a, b, c].entries()) {
      const m = view.instances[i] as unknown as Record<string, unknown>;
      expect(m['admin']).toBe(inst.adminUrl);
      expect(m['version']).toBe(1);
      expect(m['sha256']).toMatch(/^[0-9a-f]{64}$/);
      expect(m['startedAt']).toEqual(expect.any(Number));
      expect(m['health']).toBe('ok');
      expect(m['listeners']).toEqual({ web: inst.webAddress });
    }
    expect(view.latestVersion).toBe(1);
  });

  it('runs an apply made on one instance on all three, without committing more versions', async () => {
    const t0 = Date.now();
    const pools = base['pools'] as { app: Record<string, unknown> };
    const changed = { ...base, pools: { app: { ...pools.app, timeouts: { connect: '3s' } } } };
    const r = await postConfig(a, changed);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body['version']).toBe(2);
    await until(
      async () =>
        (await Promise.all([a, b, c].map(runningVersion))).every((v) => v === 2) ? true : undefined,
      10_000,
      'all three on version 2',
    );
    const ms = Date.now() - t0;
    console.log(`[measured] apply on a → running on a, b, c: ${ms} ms`);
    const versions = await getJson<{ versions: { version: number }[] }>(
      `${b.adminUrl}/api/v1/config/versions`,
    );
    expect(versions.body.versions.map((v) => v.version)).toEqual([2, 1]);
  });

  it('makes `fulcrum rollback N` on b a fleet operation that keeps each instance on its own address', async () => {
    const r = await runCli(['rollback', '1', '--admin', b.adminUrl]);
    expect(r.code, r.stderr).toBe(0);
    await until(
      async () =>
        (await Promise.all([a, b, c].map(runningVersion))).every((v) => v === 3) ? true : undefined,
      10_000,
      'all three on version 3',
    );
    const v3 = await getJson<{ text: string; parent: number }>(`${a.adminUrl}/api/v1/config/versions/3`);
    expect(v3.body.parent).toBe(1);
    // The store keeps the raw text: the address stays a per-instance reference.
    expect(v3.body.text).toContain('${env:WEB_ADDR}');
    const view = await until(
      async () => {
        const v = await fleetView(c);
        return v.instances.every((i) => i.version === 3) ? v : undefined;
      },
      10_000,
      'view on version 3',
    );
    expect(view.instances.map((i) => i.listeners['web'])).toEqual([a.webAddress, b.webAddress, c.webAddress]);
    for (const inst of [a, b, c]) expect((await fetch(`${inst.proxyUrl}/`)).status).toBe(200);
  });

  it('shows an instance that cannot adopt a version (listener cannot bind) still serving the last good one', async () => {
    const next = {
      ...base,
      listeners: {
        ...(base['listeners'] as object),
        extra: { address: '${env:EXTRA_ADDR}', routes: [{ pool: 'app' }] },
      },
    };
    const r = await postConfig(a, next);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body['version']).toBe(4);
    const view = await until(
      async () => {
        const v = await fleetView(b);
        const ci = v.instances.find((i) => i.instance === 'c');
        return ci?.adoptFailure && v.instances.filter((i) => i.version === 4).length === 2 ? v : undefined;
      },
      15_000,
      'c reports it cannot adopt version 4',
    );
    const ci = view.instances.find((i) => i.instance === 'c');
    expect(ci?.version).toBe(3);
    expect(ci?.adoptFailure?.version).toBe(4);
    expect(ci?.adoptFailure?.message).toMatch(/EADDRINUSE|listen/i);
    expect(ci?.health).toBe('degraded');
    expect(ci?.configSkewSince).toEqual(expect.any(Number));
    expect(view.latestVersion).toBe(4);
    expect(await runningVersion(c)).toBe(3);
    expect((await fetch(`${c.proxyUrl}/`)).status).toBe(200);
    // After the grace, every instance's judge fires FleetConfigSkew for c.
    const alert = await until(
      async () => {
        const r2 = await getJson<{ alerts: { labels: Record<string, string>; state: string }[] }>(
          `${a.adminUrl}/api/v1/alerts`,
        );
        return r2.body.alerts.find(
          (x) =>
            x.labels['alertname'] === 'FleetConfigSkew' &&
            x.labels['instance'] === 'c' &&
            x.state === 'firing',
        );
      },
      30_000,
      'FleetConfigSkew for c',
    );
    expect(alert.labels['fleet']).toBe('edge');
    const metrics = await (await fetch(`${a.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/fulcrum_fleet_instance_config_version\{instance="c"\} 3/);
    expect(metrics).toMatch(/fulcrum_fleet_instances 3/);
  }, 60_000);

  it('refuses a second start on an address another instance serves on this host, unless overlap is allowed', async () => {
    const refused = await runCli(
      ['start', '-c', configFile, '--listen-admin', `127.0.0.1:${await freePort()}`],
      { FLEET_INSTANCE: 'd', WEB_ADDR: a.webAddress, EXTRA_ADDR: `127.0.0.1:${await freePort()}` },
      30_000,
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr + refused.stdout).toContain('FULCRUM_ERR_FLEET_OVERLAP');
    expect(refused.stderr + refused.stdout).toContain('instance a');
    const twin = await runCli(
      ['start', '-c', configFile, '--listen-admin', `127.0.0.1:${await freePort()}`],
      {
        FLEET_INSTANCE: 'a',
        WEB_ADDR: `127.0.0.1:${await freePort()}`,
        EXTRA_ADDR: `127.0.0.1:${await freePort()}`,
      },
      30_000,
    );
    expect(twin.code).not.toBe(0);
    expect(twin.stderr + twin.stdout).toContain('fleet instance id a is already held by pid');
    const overlapping = await startInstance(
      'd',
      configFile,
      { WEB_ADDR: a.webAddress, EXTRA_ADDR: `127.0.0.1:${await freePort()}` },
      ['--share-address'],
    );
    try {
      expect(await runningVersion(overlapping)).toBe(4);
    } finally {
      await overlapping.stop();
    }
  });

  it('drops a killed instance from the fleet view once its lease expires (TTL 5 s) and fires FleetInstanceLost', async () => {
    await b.stop('SIGKILL');
    const t0 = Date.now();
    await until(
      async () => ((await fleetView(a)).instances.some((i) => i.instance === 'b') ? undefined : true),
      15_000,
      'b gone from the view',
    );
    console.log(
      `[measured] killed instance gone from the fleet view after ${Date.now() - t0} ms (lease TTL 5 s)`,
    );
    const view = await fleetView(a);
    expect(view.lost.map((l) => l.instance)).toEqual(['b']);
    // Every instance judges on its own reports: c fires the alert once its next report round
    // has seen b's lease gone, which may come a little after a's view did.
    const lost = await until(
      async () => {
        const alerts = await getJson<{ alerts: { labels: Record<string, string>; state: string }[] }>(
          `${c.adminUrl}/api/v1/alerts`,
        );
        return alerts.body.alerts.find(
          (x) => x.labels['alertname'] === 'FleetInstanceLost' && x.labels['instance'] === 'b',
        );
      },
      10_000,
      'FleetInstanceLost about b on c',
    );
    expect(lost.labels['instance']).toBe('b');
  }, 30_000);
});
