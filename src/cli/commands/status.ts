// `fulcrum status`: pools, backends, state, share ratio and firing alerts as a table.
// Exit 0, or 2 while a critical alert fires.
import { FulcrumError } from '../../core/errors.ts';
import { adminCall, type AdminTarget } from '../admin-client.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';
import { describeDrain } from './drain.ts';

export interface StatusFlags extends AdminTarget {
  pool?: string;
  fleet?: boolean;
  format: 'text' | 'json';
}

interface BackendRow {
  name: string;
  address: string;
  status: string;
  configuredWeight: number;
  effectiveWeight: number;
  inFlight: number;
  drain?: { by: string; reason: string; at: number; until?: number } | null;
  traffic?: {
    expectedShare?: number;
    observedShare?: number;
    shareRatio?: number | null;
    errorRatio?: number;
    rps?: number;
    note?: string;
  } | null;
}
interface StatusBody {
  workers: {
    configured: number;
    running: number;
    restarts: number;
    threads: { worker: number; alive: boolean; connections: number; requests: number }[];
  } | null;
}
interface PoolRow {
  name: string;
  policy: string;
  panic: boolean;
  backends: BackendRow[];
}
interface AlertRow {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}

export async function statusCommand(flags: StatusFlags, io: CliIo): Promise<number> {
  if (flags.fleet === true) return fleetStatus(flags, io);
  try {
    const [pools, alerts, fleet, status] = await Promise.all([
      adminCall<{ configVersion: number | null; pools: PoolRow[] }>(flags, 'api/v1/pools'),
      adminCall<{ alerts: AlertRow[] }>(flags, 'api/v1/alerts'),
      // null unless the instance is in a fleet.
      adminCall<{ store: string } | null>(flags, 'api/v1/fleet'),
      adminCall<StatusBody>(flags, 'api/v1/status'),
    ]);
    const workers = status.workers;
    const shown = pools.pools.filter((p) => flags.pool === undefined || p.name === flags.pool);
    const firing = alerts.alerts.filter(
      (a) => a.state === 'firing' && (flags.pool === undefined || a.labels['pool'] === flags.pool),
    );
    // Exit 2 while a critical alert fires, so a script or a health probe can act on it.
    const exit = firing.some((a) => a.labels['severity'] === 'critical') ? EXIT.PROBLEMS : EXIT.OK;
    if (flags.format === 'json') {
      io.out(
        JSON.stringify(
          { configVersion: pools.configVersion, workers, pools: shown, alerts: firing },
          null,
          2,
        ),
      );
      return exit;
    }
    io.out(`config version ${pools.configVersion ?? 'none'}`);
    if (workers !== null && workers.configured > 1) {
      const per = workers.threads.map((t) => `${t.worker}:${t.alive ? t.connections : 'down'}`).join(' ');
      io.out(
        `workers ${workers.running} of ${workers.configured} running (restarts ${workers.restarts}); open connections per worker ${per}`,
      );
    }
    if (fleet?.store === 'unreachable')
      io.out('degraded: store unreachable (serving on the running version)');
    for (const p of shown) {
      io.out('');
      io.out(`pool ${p.name} (${p.policy})${p.panic ? '  PANIC: balancing across all backends' : ''}`);
      const rows = [
        [
          'BACKEND',
          'ADDRESS',
          'STATE',
          'WEIGHT',
          'EFFECTIVE',
          'IN-FLIGHT',
          'EXPECTED',
          'OBSERVED',
          'RATIO',
          'ERRORS',
        ],
      ];
      for (const b of p.backends) {
        const t = b.traffic ?? {};
        rows.push([
          b.name,
          b.address,
          b.status,
          fmt(b.configuredWeight),
          fmt(b.effectiveWeight),
          String(b.inFlight),
          pct(t.expectedShare),
          pct(t.observedShare),
          t.shareRatio === undefined || t.shareRatio === null ? '-' : t.shareRatio.toFixed(2),
          pct(t.errorRatio),
        ]);
      }
      for (const line of table(rows)) io.out(`  ${line}`);
      for (const b of p.backends) if (b.traffic?.note) io.out(`  ${b.name}: ${b.traffic.note}`);
      for (const b of p.backends) if (b.drain) io.out(`  ${b.name}: ${describeDrain(b.drain)}`);
    }
    io.out('');
    if (firing.length === 0) io.out('no alerts firing');
    for (const a of firing) {
      io.out(
        `FIRING ${a.labels['alertname']} ${a.labels['severity'] ?? ''} ${a.annotations['summary'] ?? ''}`,
      );
    }
    return exit;
  } catch (err) {
    return reportError(err, io);
  }
}

interface FleetBody {
  fleet: string;
  self: string;
  store: string;
  latestVersion: number | null;
  instances: {
    instance: string;
    host: string;
    admin: string;
    version: number | null;
    health: string;
    reasons: string[];
    windowRequests: number;
    configSkewSince: number | null;
  }[];
  lost: { instance: string; lostAt: number }[];
  skewed: {
    instance: string;
    pool: string;
    backend: string;
    share: number;
    fleetShare: number;
    detail: string;
  }[];
  pools: {
    pool: string;
    requests: number;
    backends: {
      backend: string;
      expectedShare: number | null;
      observedShare: number | null;
      shareRatio: number | null;
    }[];
  }[];
  canary: { version: number; targets: string[]; endsAt: number } | null;
}

/** `fulcrum status --fleet`: the fleet as this instance's judge sees it. */
async function fleetStatus(flags: StatusFlags, io: CliIo): Promise<number> {
  try {
    const f = await adminCall<FleetBody | null>(flags, 'api/v1/fleet');
    if (f === null) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_NOT_FOUND',
        'this instance is not in a fleet (its config has no fleet section)',
      );
    }
    if (flags.format === 'json') {
      io.out(JSON.stringify(f, null, 2));
      return EXIT.OK;
    }
    io.out(
      `fleet ${f.fleet}  latest version ${f.latestVersion ?? 'none'}  store ${f.store}  (seen from ${f.self})`,
    );
    const rows = [['INSTANCE', 'HOST', 'ADMIN', 'VERSION', 'HEALTH', 'REQUESTS']];
    for (const i of f.instances) {
      const skew = i.configSkewSince === null ? '' : ` (behind ${f.latestVersion ?? '?'})`;
      rows.push([
        i.instance,
        i.host,
        i.admin,
        `${i.version ?? '-'}${skew}`,
        i.health,
        String(i.windowRequests),
      ]);
    }
    for (const line of table(rows)) io.out(`  ${line}`);
    for (const i of f.instances) for (const r of i.reasons) io.out(`  ${i.instance}: ${r}`);
    for (const l of f.lost) io.out(`  LOST ${l.instance} at ${new Date(l.lostAt).toISOString()}`);
    for (const p of f.pools) {
      io.out('');
      io.out(`pool ${p.pool} (fleet-wide, ${p.requests} requests in the window)`);
      const prow = [['BACKEND', 'EXPECTED', 'OBSERVED', 'RATIO']];
      for (const b of p.backends) {
        prow.push([
          b.backend,
          pct(b.expectedShare ?? undefined),
          pct(b.observedShare ?? undefined),
          b.shareRatio === null ? '-' : b.shareRatio.toFixed(2),
        ]);
      }
      for (const line of table(prow)) io.out(`  ${line}`);
    }
    io.out('');
    if (f.canary) io.out(`canary: version ${f.canary.version} on ${f.canary.targets.join(', ')}`);
    if (f.skewed.length === 0) io.out('no instance skewed');
    for (const s of f.skewed) {
      io.out(
        `SKEWED ${s.instance} ${s.pool}/${s.backend}: ${pct(s.share)} here, fleet median ${pct(s.fleetShare)}; ${s.detail}`,
      );
    }
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

function pct(n: number | undefined): string {
  return n === undefined ? '-' : `${(n * 100).toFixed(1)}%`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd(),
  );
}
