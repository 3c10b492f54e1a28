// A pool's stats over the monitor window as /api/v1/pools, the dashboard and the alert
// rules read them.
import type { FairnessMeasure, Verdict } from './fairness.ts';

export interface BackendStatsView {
  backend: string;
  address: string;
  status: string;
  available: boolean;
  configuredWeight: number;
  effectiveWeight: number;
  inFlight: number;
  capacity: number;
  expectedShare: number;
  observedShare: number;
  /** observed / expected; null without traffic or when nothing is expected. */
  shareRatio: number | null;
  z: number;
  verdict: Verdict;
  requests: number;
  rps: number;
  errors: number;
  errorRatio: number;
  p50Ms: number | null;
  p99Ms: number | null;
  capacityShare: number;
  overloaded: boolean;
  /** Mean latency over the window against its peers' (request-weighted); null without data. */
  latencyFactor: number | null;
  /** The verdict in words when it is 'slow' or 'down' (no alert: the balancer does its job). */
  note: string | undefined;
}

export interface PoolStatsView {
  pool: string;
  policy: string;
  measure: FairnessMeasure;
  windowMs: number;
  requests: number;
  rps: number;
  errorRatio: number;
  /** Jain's index over share ratios; null without data. */
  jain: number | null;
  panic: boolean;
  /** Why no fairness verdict is given yet, when none is. */
  note: string | undefined;
  hotKey: { key: string; share: number; backend: string | undefined } | undefined;
  configVersion: number;
  /** The share-ratio bands this pool is judged against (monitor.fairness). */
  fairness: { overfed: number; starved: number };
  backends: BackendStatsView[];
}
