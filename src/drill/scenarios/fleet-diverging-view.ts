// `fulcrum drill fleet-diverging-view`: three instances of one fleet on a local 3-member etcd,
// under load; at the fault one instance (c) loses its path to backend b3 while the others still
// reach it. Detection: InstanceSkewed naming c and its health view, judged fleet-wide from the
// load reports. Recovery: the path comes back and the alert resolves. Needs an etcd binary.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBalancer, type Balancer } from '../../main.ts';
import type { AlertView } from '../../monitor/alerts.ts';
import { hasEtcd, startEtcdCluster, type EtcdCluster } from '../../store/testing/etcd-server.ts';
import { DrillBackend } from '../drill-backend.ts';
import type { DrillOptions, DrillResult, TimelineEvent } from '../drill-runner.ts';
import { LoadGenerator, summarize } from '../load-generator.ts';
import type { Budgets } from '../scenario.ts';

export const FLEET_SCENARIO = 'fleet-diverging-view';
const TITLE = 'Fleet: one instance with a diverging view';
const STORY =
  'One of three balancers loses its route to backend b3 (a firewall rule on one host); the others still reach it. Its shares differ from the fleet’s, and nobody looking at one instance would see why.';
const BUDGETS: Budgets = { detectMs: 15_000, recoverMs: 25_000, failedShare: 0.01 };
const SERVICE_MS = 20;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP path to a backend that can be cut (connections refused) and restored on the same port. */
class CuttablePath {
  readonly #target: number;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  port = 0;

  constructor(targetPort: number) {
    this.#target = targetPort;
  }

  async open(): Promise<this> {
    const server = createServer((client) => {
      const upstream = connect(this.#target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.once('close', () => this.#sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as { port: number }).port;
    this.#server = server;
    return this;
  }

  async cut(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}

function skewOnC(a: AlertView): boolean {
  return (
    a.alertname === 'InstanceSkewed' && a.labels['instance'] === 'c' && a.labels['cause'] === 'health-view'
  );
}

export async function runFleetDrill(options: DrillOptions = {}): Promise<DrillResult> {
  if (!hasEtcd()) throw new Error('the fleet drill needs an etcd binary on PATH (Debian: etcd-server)');
  const short = options.short === true;
  const rate = short ? 90 : 180;
  const baselineMs = short ? 4000 : 8000;
  const observeMs = BUDGETS.detectMs + 5000;
  const settleMs = BUDGETS.recoverMs + 5000;
  const progress = (
    phase: 'starting' | 'baseline' | 'incident' | 'settling',
    p: Partial<{
      sinceFaultMs: number;
      sent: number;
      failed: number;
      detected: boolean;
      recovered: boolean;
    }> = {},
  ): void =>
    options.onProgress?.({
      scenario: FLEET_SCENARIO,
      phase,
      sinceFaultMs: 0,
      sent: 0,
      failed: 0,
      detected: false,
      recovered: false,
      ...p,
    });
  const dir = await mkdtemp(join(tmpdir(), 'fulcrum-drill-fleet-'));
  let etcd: EtcdCluster | undefined;
  const backends: DrillBackend[] = [];
  const balancers: Balancer[] = [];
  const loads: LoadGenerator[] = [];
  let path: CuttablePath | undefined;
  try {
    progress('starting');
    etcd = await startEtcdCluster(3);
    for (let i = 1; i <= 3; i++)
      backends.push(await new DrillBackend({ name: `b${i}`, capacity: 200, serviceMs: SERVICE_MS }).start());
    const b3 = backends[2] as DrillBackend;
    path = await new CuttablePath(b3.port).open();
    const configFile = join(dir, 'fulcrum.yaml');
    await writeFile(
      configFile,
      [
        'version: 1',
        'log: { level: info, access: false }',
        'listeners:',
        '  web: { address: "127.0.0.1:0", routes: [{ pool: app }] }',
        'pools:',
        '  app:',
        '    policy: round-robin',
        '    healthCheck: { interval: 500ms, timeout: 400ms, healthyThreshold: 1, unhealthyThreshold: 2 }',
        '    backends:',
        `      - { name: b1, address: "${backends[0]?.address}" }`,
        `      - { name: b2, address: "${backends[1]?.address}" }`,
        '      - { name: b3, address: "${env:DRILL_B3}" }',
        `store: { etcd: { endpoints: [${etcd.endpoints.join(', ')}], prefix: /fulcrum-drill-${process.pid}/ } }`,
        'fleet: { name: drill, instance: "${env:DRILL_INSTANCE}", report: 500ms }',
        '',
      ].join('\n'),
    );
    for (const id of ['a', 'b', 'c']) {
      balancers.push(
        await startBalancer({
          configFile,
          env: { DRILL_INSTANCE: id, DRILL_B3: id === 'c' ? `127.0.0.1:${path.port}` : b3.address },
          adminAddress: '127.0.0.1:0',
          logDestination: join(dir, `fulcrum-${id}.log`),
          author: 'fulcrum drill',
        }),
      );
    }
    const judge = balancers[0] as Balancer;
    for (const b of balancers) {
      const target = b.proxy.boundAddress('web');
      if (target === undefined) throw new Error('listener web is not bound');
      loads.push(
        new LoadGenerator({
          host: target.host,
          port: target.port,
          rate: Math.round(rate / 3),
          maxDurationMs: baselineMs + observeMs + settleMs + 10_000,
          timeoutMs: 2000,
        }),
      );
    }
    for (const l of loads) l.start();
    const clock = loads[0] as LoadGenerator;
    const sent = (): number => loads.reduce((n, l) => n + l.sent, 0);
    while (clock.elapsed() < baselineMs) {
      progress('baseline', { sinceFaultMs: clock.elapsed() - baselineMs, sent: sent() });
      await sleep(250);
    }

    const timeline: TimelineEvent[] = [];
    const faultAt = clock.elapsed();
    await path.cut();
    timeline.push({ atMs: 0, kind: 'fault', text: 'instance c can no longer reach b3 (a and b still can)' });
    const misnamed = new Map<string, DrillResult['misnamed'][number]>();
    // An instance named skewed that is not c misnames the incident.
    const noteMisnamed = (): void => {
      for (const a of judge.monitor.alerts()) {
        if (a.alertname !== 'InstanceSkewed' || a.labels['instance'] === 'c' || misnamed.has(a.fingerprint))
          continue;
        misnamed.set(a.fingerprint, {
          alertname: a.alertname,
          labels: { ...a.labels },
          summary: a.annotations['summary'] ?? '',
          why: `instance ${a.labels['instance'] ?? '?'} still reaches b3; only c's view diverged`,
        });
      }
    };
    let detection: DrillResult['detection'] = null;
    let firstNamed: DrillResult['firstNamed'] = null;
    while (detection === null && clock.elapsed() - faultAt < observeMs) {
      const since = Math.round(clock.elapsed() - faultAt);
      for (const a of judge.monitor.alerts().filter(skewOnC)) {
        if (firstNamed === null && (a.state === 'pending' || a.state === 'firing')) {
          firstNamed = {
            afterMs: since,
            alertname: a.alertname,
            state: a.state,
            summary: a.annotations['summary'] ?? '',
          };
          timeline.push({
            atMs: since,
            kind: 'pending',
            text: `${a.alertname} ${a.state}: ${a.annotations['summary'] ?? ''}`,
          });
        }
        if (a.state === 'firing') {
          detection = {
            afterMs: since,
            alertname: a.alertname,
            summary: a.annotations['summary'] ?? '',
            cause: a.annotations['description'] ?? '',
          };
          timeline.push({
            atMs: since,
            kind: 'detect',
            text: `${a.alertname} firing: ${a.annotations['description'] ?? ''}`,
          });
        }
      }
      noteMisnamed();
      progress('incident', { sinceFaultMs: since, sent: sent(), detected: detection !== null });
      await sleep(100);
    }

    // Recovery: the path comes back; c's health view rejoins the others' and the alert resolves.
    const restoreAt = clock.elapsed() - faultAt;
    await path.open();
    timeline.push({ atMs: Math.round(restoreAt), kind: 'info', text: 'the path from c to b3 is back' });
    let recovery: DrillResult['recovery'] = null;
    while (recovery === null && clock.elapsed() - faultAt - restoreAt < settleMs) {
      const since = Math.round(clock.elapsed() - faultAt);
      if (!judge.monitor.alerts().some((a) => skewOnC(a) && a.state === 'firing')) {
        recovery = {
          afterMs: since,
          how: 'InstanceSkewed resolved once c reached b3 again and its shares rejoined the fleet’s',
        };
        timeline.push({ atMs: since, kind: 'recover', text: recovery.how });
      }
      noteMisnamed();
      progress('settling', {
        sinceFaultMs: since,
        sent: sent(),
        detected: detection !== null,
        recovered: recovery !== null,
      });
      await sleep(100);
    }
    await Promise.all(loads.map((l) => l.stop()));
    const records = loads.flatMap((l) => l.records);
    const end = Math.max(...records.map((r) => r.at), faultAt) + 1;
    const total = summarize(records);
    const recoverAbs = recovery ? faultAt + recovery.afterMs : end;
    const detected = detection !== null && detection.afterMs <= BUDGETS.detectMs;
    const recovered = recovery !== null && recovery.afterMs - restoreAt <= BUDGETS.recoverMs;
    const failures = total.failedShare <= BUDGETS.failedShare;
    const named = misnamed.size === 0;
    return {
      scenario: FLEET_SCENARIO,
      title: TITLE,
      story: STORY,
      short,
      rate,
      backends: backends.map((b) => ({
        name: b.name,
        capacity: b.capacity,
        serviceMs: b.serviceMs,
        requests: b.requests,
        rejected: b.rejected,
      })),
      lint: { of: 'running config', findings: [] },
      timeline: timeline.sort((x, y) => x.atMs - y.atMs),
      culprit: 'c',
      detection,
      firstNamed,
      recovery,
      misnamed: [...misnamed.values()],
      expected: [
        { alertname: 'InstanceSkewed', backend: 'b3', causeKind: 'health-view', seen: detection !== null },
      ],
      requests: {
        total,
        before: summarize(records, 0, faultAt),
        incident: summarize(records, faultAt, recoverAbs),
        after: summarize(records, recoverAbs),
      },
      budgets: BUDGETS,
      verdict: { detected, recovered, failures, named, passed: detected && recovered && failures && named },
    };
  } finally {
    await Promise.all(loads.map((l) => l.stop()));
    await Promise.all(balancers.map((b) => b.close(500)));
    await path?.cut();
    await Promise.all(backends.map((b) => b.close()));
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
