// `fulcrum status`: pools, backends, state, share ratio and firing alerts as a table.
import { adminCall, type AdminTarget } from '../admin-client.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface StatusFlags extends AdminTarget {
  pool?: string;
  format: 'text' | 'json';
}

interface BackendRow {
  name: string;
  address: string;
  status: string;
  configuredWeight: number;
  effectiveWeight: number;
  inFlight: number;
  traffic?: {
    expectedShare?: number;
    observedShare?: number;
    shareRatio?: number | null;
    errorRatio?: number;
    rps?: number;
    note?: string;
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
  try {
    const [pools, alerts] = await Promise.all([
      adminCall<{ configVersion: number | null; pools: PoolRow[] }>(flags, 'api/v1/pools'),
      adminCall<{ alerts: AlertRow[] }>(flags, 'api/v1/alerts'),
    ]);
    const shown = pools.pools.filter((p) => flags.pool === undefined || p.name === flags.pool);
    const firing = alerts.alerts.filter(
      (a) => a.state === 'firing' && (flags.pool === undefined || a.labels['pool'] === flags.pool),
    );
    if (flags.format === 'json') {
      io.out(JSON.stringify({ configVersion: pools.configVersion, pools: shown, alerts: firing }, null, 2));
      return EXIT.OK;
    }
    io.out(`config version ${pools.configVersion ?? 'none'}`);
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
    }
    io.out('');
    if (firing.length === 0) io.out('no alerts firing');
    for (const a of firing) {
      io.out(
        `FIRING ${a.labels['alertname']} ${a.labels['severity'] ?? ''} ${a.annotations['summary'] ?? ''}`,
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
