// What a fleet keeps in etcd, under the store prefix (docs/fleet.md):
//   fleet/<name>/members/<instance>   MemberRecord, on the instance's lease
//   fleet/<name>/reports/<instance>   LoadReport (cumulative counters), on the same lease
//   fleet/<name>/left/<instance>      epoch ms of a clean stop, on a short lease of its own
//   fleet/<name>/canary               CanaryRecord while a progressive apply holds a version back
// Records on a lease vanish when the instance dies or is cut off for longer than the TTL.

/** Lease TTL: a dead or partitioned instance leaves the fleet view within this. */
export const LEASE_TTL_S = 5;
/** How long a clean stop's left/ key lives: long enough for every instance to read it. */
export const LEFT_TTL_S = 60;

export interface AdoptFailure {
  version: number;
  message: string;
  at: number;
}

export interface MemberRecord {
  fleet: string;
  instance: string;
  /** os.hostname(): listener overlap is judged per host. */
  host: string;
  pid: number;
  admin: string;
  startedAt: number;
  /** The version it runs (null before the first one). */
  version: number | null;
  sha256: string | null;
  health: 'ok' | 'degraded';
  reasons: string[];
  /** Listener name → bound host:port. */
  listeners: Record<string, string>;
  /** The newest version it could not adopt, while it still runs an older one. */
  adoptFailure?: AdoptFailure | undefined;
  /** 'leaving' is written just before a clean stop (with a left/ key), so the others do not call it lost. */
  state: 'running' | 'leaving';
}

export interface BackendCounters {
  /** Cumulative since the backend entered this instance's config. */
  requests: number;
  errors: number;
  /** Latency summary: the backend's EWMA (ms) as this instance measures it. */
  latencyMs: number;
  /** This instance's health view of the backend (healthy, unhealthy, ejected, ...). */
  status: string;
  weight: number;
}

export interface LoadReport {
  instance: string;
  at: number;
  version: number | null;
  /** Pool → backend name → counters. */
  pools: Record<string, Record<string, BackendCounters>>;
}

export interface CanaryRecord {
  /** The version held back from everyone but the targets. */
  version: number;
  baseVersion: number | null;
  targets: string[];
  startedAt: number;
  endsAt: number;
  /** Instance that runs the guard. */
  judge: string;
}

export function fleetKeys(name: string): {
  root: string;
  members: string;
  reports: string;
  member(instance: string): string;
  report(instance: string): string;
  left: string;
  canary: string;
} {
  const root = `fleet/${name}/`;
  return {
    root,
    members: `${root}members/`,
    reports: `${root}reports/`,
    member: (instance) => `${root}members/${instance}`,
    report: (instance) => `${root}reports/${instance}`,
    left: `${root}left/`,
    canary: `${root}canary`,
  };
}
