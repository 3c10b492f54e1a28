// The fleet judge. Every instance computes the same view from what etcd holds (no election):
// membership, config skew, lost instances, and fleet-wide shares from the DIFFERENCES of each
// instance's cumulative counters over a window (counters are never merged in place, so a
// restarted instance or a lost report cannot double-count or overwrite another's).
import type { BackendCounters, LoadReport, MemberRecord } from './fleet-records.ts';

/** Shares are judged over the last this-many ms of reports. */
export const JUDGE_WINDOW_MS = 10_000;
/** Fewest requests (an instance's and the rest of the fleet's) before a pool's shares are compared. */
export const MIN_REQUESTS = 50;
/** An instance is skewed when one backend's share differs from the fleet's median share by this much. */
export const SKEW_ABS = 0.15;
/** A lost instance stays in the view (and FleetInstanceLost active) this long. */
export const LOST_RETAIN_MS = 5 * 60_000;

export type SkewCause = 'health-view' | 'version' | 'traffic-local';

export interface InstanceSkew {
  instance: string;
  pool: string;
  backend: string;
  /** The backend's share of the pool on this instance, and its median over the fleet's instances. */
  share: number;
  fleetShare: number;
  cause: SkewCause;
  detail: string;
}

export interface FleetBackendView {
  backend: string;
  expectedShare: number | null;
  observedShare: number | null;
  shareRatio: number | null;
  requests: number;
  errors: number;
  /** Instance → this backend's share of that instance's pool requests in the window. */
  byInstance: Record<string, number | null>;
}

export interface FleetPoolView {
  pool: string;
  requests: number;
  backends: FleetBackendView[];
}

export interface FleetInstanceView extends MemberRecord {
  self: boolean;
  /** Versions behind the latest: since when (epoch ms), or null when current. */
  configSkewSince: number | null;
  lastReportAt: number | null;
  /** Requests it served in the window (all pools). */
  windowRequests: number;
}

export interface FleetView {
  fleet: string;
  self: string;
  store: 'reachable' | 'unreachable';
  latestVersion: number | null;
  windowMs: number;
  at: number;
  instances: FleetInstanceView[];
  lost: { instance: string; lostAt: number; lastVersion: number | null }[];
  skewed: InstanceSkew[];
  pools: FleetPoolView[];
  canary: unknown;
}

interface Sample {
  at: number;
  report: LoadReport;
}

export interface JudgeInput {
  members: MemberRecord[];
  reports: LoadReport[];
  /** Instances that stopped cleanly (left/ keys). */
  left: ReadonlySet<string>;
  latestVersion: number | null;
  /** While a canary holds a version back, the instances outside it are expected on the base. */
  canary?: { version: number; baseVersion: number | null; targets: readonly string[] } | undefined;
  /** Pool → backend → intended share (this instance's running config). */
  expected: ReadonlyMap<string, ReadonlyMap<string, number>>;
  now: number;
}

export class FleetJudge {
  readonly #history = new Map<string, Sample[]>();
  readonly #seen = new Map<string, MemberRecord>();
  readonly #lost = new Map<string, { lostAt: number; lastVersion: number | null }>();
  readonly #skewSince = new Map<string, { version: number | null; since: number }>();
  readonly #windowMs: number;

  constructor(options: { windowMs?: number } = {}) {
    this.#windowMs = options.windowMs ?? JUDGE_WINDOW_MS;
  }

  judge(input: JudgeInput, self: string, fleet: string, store: FleetView['store']): FleetView {
    const { now } = input;
    const members = new Map(input.members.map((m) => [m.instance, m]));
    // Lost: seen running before, now gone without saying it was leaving.
    for (const [id, prev] of this.#seen) {
      if (members.has(id)) continue;
      if (prev.state === 'running' && !input.left.has(id))
        this.#lost.set(id, { lostAt: now, lastVersion: prev.version });
      this.#seen.delete(id);
      this.#history.delete(id);
      this.#skewSince.delete(id);
    }
    for (const [id, m] of members) {
      this.#seen.set(id, m);
      this.#lost.delete(id);
    }
    for (const [id, l] of this.#lost) if (now - l.lostAt > LOST_RETAIN_MS) this.#lost.delete(id);

    for (const r of input.reports) {
      if (!members.has(r.instance)) continue;
      const h = this.#history.get(r.instance) ?? [];
      if (h.at(-1)?.report.at !== r.at) h.push({ at: now, report: r });
      while (h.length > 2 && (h[1] as Sample).at <= now - this.#windowMs) h.shift();
      this.#history.set(r.instance, h);
    }

    // Window deltas per instance, pool, backend.
    const deltas = new Map<string, Map<string, Map<string, { requests: number; errors: number }>>>();
    for (const [id, h] of this.#history) {
      const newest = h.at(-1);
      const oldest = h[0];
      if (!newest || !oldest || newest === oldest) continue;
      const byPool = new Map<string, Map<string, { requests: number; errors: number }>>();
      for (const [pool, backends] of Object.entries(newest.report.pools)) {
        const m = new Map<string, { requests: number; errors: number }>();
        for (const [b, c] of Object.entries(backends)) m.set(b, delta(c, oldest.report.pools[pool]?.[b]));
        byPool.set(pool, m);
      }
      deltas.set(id, byPool);
    }

    const pools = this.#pools(deltas, input.expected);
    const skewed = this.#skewed(deltas, pools, members, input.latestVersion);

    const instances: FleetInstanceView[] = [...members.values()]
      .sort((a, b) => a.instance.localeCompare(b.instance))
      .map((m) => {
        let since: number | null = null;
        const c = input.canary;
        const want =
          c && c.version === input.latestVersion && !c.targets.includes(m.instance)
            ? c.baseVersion
            : input.latestVersion;
        if (want !== null && m.version !== want) {
          const prev = this.#skewSince.get(m.instance);
          since = prev && prev.version === m.version ? prev.since : now;
          this.#skewSince.set(m.instance, { version: m.version, since });
        } else this.#skewSince.delete(m.instance);
        let windowRequests = 0;
        for (const p of deltas.get(m.instance)?.values() ?? [])
          for (const d of p.values()) windowRequests += d.requests;
        return {
          ...m,
          self: m.instance === self,
          configSkewSince: since,
          lastReportAt: this.#history.get(m.instance)?.at(-1)?.report.at ?? null,
          windowRequests,
        };
      });
    return {
      fleet,
      self,
      store,
      latestVersion: input.latestVersion,
      windowMs: this.#windowMs,
      at: now,
      instances,
      lost: [...this.#lost].map(([instance, l]) => ({ instance, ...l })),
      skewed,
      pools,
      canary: null,
    };
  }

  #pools(
    deltas: Map<string, Map<string, Map<string, { requests: number; errors: number }>>>,
    expected: ReadonlyMap<string, ReadonlyMap<string, number>>,
  ): FleetPoolView[] {
    const names = new Set<string>(expected.keys());
    for (const byPool of deltas.values()) for (const p of byPool.keys()) names.add(p);
    const out: FleetPoolView[] = [];
    for (const pool of [...names].sort()) {
      const backends = new Set<string>(expected.get(pool)?.keys() ?? []);
      for (const byPool of deltas.values()) for (const b of byPool.get(pool)?.keys() ?? []) backends.add(b);
      let total = 0;
      const perInstanceTotal = new Map<string, number>();
      for (const [id, byPool] of deltas) {
        let t = 0;
        for (const d of byPool.get(pool)?.values() ?? []) t += d.requests;
        perInstanceTotal.set(id, t);
        total += t;
      }
      const rows: FleetBackendView[] = [];
      for (const backend of [...backends].sort()) {
        let requests = 0;
        let errors = 0;
        const byInstance: Record<string, number | null> = {};
        for (const [id, byPool] of deltas) {
          const d = byPool.get(pool)?.get(backend);
          requests += d?.requests ?? 0;
          errors += d?.errors ?? 0;
          const t = perInstanceTotal.get(id) ?? 0;
          byInstance[id] = t > 0 ? (d?.requests ?? 0) / t : null;
        }
        const exp = expected.get(pool)?.get(backend) ?? null;
        const observed = total > 0 ? requests / total : null;
        rows.push({
          backend,
          expectedShare: exp,
          observedShare: observed,
          shareRatio: observed !== null && exp !== null && exp > 0 ? observed / exp : null,
          requests,
          errors,
          byInstance,
        });
      }
      out.push({ pool, requests: total, backends: rows });
    }
    return out;
  }

  /**
   * Each backend's share on each instance against the median over the instances with traffic:
   * the median names the odd one out, where "the rest of the fleet" would include it.
   */
  #skewed(
    deltas: Map<string, Map<string, Map<string, { requests: number; errors: number }>>>,
    pools: FleetPoolView[],
    members: Map<string, MemberRecord>,
    latestVersion: number | null,
  ): InstanceSkew[] {
    const out: InstanceSkew[] = [];
    for (const pool of pools) {
      const shares = new Map<string, Map<string, number>>();
      for (const [id, byPool] of deltas) {
        const mine = byPool.get(pool.pool);
        let t = 0;
        for (const d of mine?.values() ?? []) t += d.requests;
        if (t < MIN_REQUESTS) continue;
        const m = new Map<string, number>();
        for (const b of pool.backends) m.set(b.backend, (mine?.get(b.backend)?.requests ?? 0) / t);
        shares.set(id, m);
      }
      if (shares.size < 2) continue;
      const medians = new Map<string, number>();
      for (const b of pool.backends)
        medians.set(b.backend, median([...shares.values()].map((m) => m.get(b.backend) ?? 0)));
      for (const [id, m] of shares) {
        let worst: { backend: string; share: number; fleetShare: number } | undefined;
        for (const [backend, share] of m) {
          const fleetShare = medians.get(backend) ?? 0;
          if (worst === undefined || Math.abs(share - fleetShare) > Math.abs(worst.share - worst.fleetShare))
            worst = { backend, share, fleetShare };
        }
        if (worst === undefined || Math.abs(worst.share - worst.fleetShare) < SKEW_ABS) continue;
        out.push({
          instance: id,
          pool: pool.pool,
          ...worst,
          ...this.#cause(id, pool.pool, members, latestVersion),
        });
      }
    }
    return out;
  }

  /** Why an instance's shares differ: its health view, its version, or else its own traffic. */
  #cause(
    id: string,
    pool: string,
    members: Map<string, MemberRecord>,
    latestVersion: number | null,
  ): { cause: SkewCause; detail: string } {
    const mine = this.#history.get(id)?.at(-1)?.report.pools[pool] ?? {};
    for (const [backend, c] of Object.entries(mine)) {
      const others: string[] = [];
      for (const [other, h] of this.#history) {
        if (other === id) continue;
        const s = h.at(-1)?.report.pools[pool]?.[backend]?.status;
        if (s !== undefined) others.push(s);
      }
      const usual = majority(others);
      if (usual !== undefined && up(usual) !== up(c.status)) {
        return {
          cause: 'health-view',
          detail: `its health view differs: ${pool}/${backend} is ${c.status} here, ${usual} on the others`,
        };
      }
    }
    const version = members.get(id)?.version ?? null;
    const versions = [...members.values()].filter((m) => m.instance !== id).map((m) => String(m.version));
    const usualVersion = latestVersion === null ? majority(versions) : String(latestVersion);
    if (usualVersion !== undefined && String(version) !== usualVersion) {
      return {
        cause: 'version',
        detail: `its version differs: runs ${version}, the fleet runs ${usualVersion}`,
      };
    }
    return {
      cause: 'traffic-local',
      detail:
        'its traffic is local: same version and health view, but its requests spread differently (hash keys, clients)',
    };
  }
}

function delta(
  now: BackendCounters,
  before: BackendCounters | undefined,
): { requests: number; errors: number } {
  // A counter that went backwards was reset (the backend left and re-entered the config).
  if (before === undefined || now.requests < before.requests)
    return { requests: now.requests, errors: now.errors };
  return { requests: now.requests - before.requests, errors: Math.max(0, now.errors - before.errors) };
}

function median(values: number[]): number {
  const v = [...values].sort((x, y) => x - y);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

function up(status: string): boolean {
  return status === 'healthy' || status === 'slow-start';
}

function majority(values: string[]): string | undefined {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | undefined;
  for (const [v, n] of counts) if (best === undefined || n > (counts.get(best) ?? 0)) best = v;
  return best;
}
