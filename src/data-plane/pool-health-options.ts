// What the health manager needs to know of one pool, as plain option objects built from its
// config here, so health/ knows no config type (DESIGN.md): the active check and its probe,
// thresholds, outlier detection, slow start, flap dampening, panic, and each backend's
// config-owned facts. The probe types live here too: the proxy implements a probe over
// node:http, health/ schedules it, and neither imports the other.
import type { PoolConfig } from '../config/schema.ts';

export interface ProbeTarget {
  readonly hostname: string;
  readonly port: number;
  readonly address: string;
}

export interface ProbeOptions {
  type: 'http' | 'tcp';
  path: string;
  method: string;
  headers: Readonly<Record<string, string>>;
  /** Parsed `expectStatus`: inclusive ranges. */
  expectStatus: readonly (readonly [number, number])[];
  expectBody: string | undefined;
  timeout: number;
  /** Lower-cased header that marks a lame-duck backend; reported, not judged. */
  lameDuckHeader: string | undefined;
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
  /** The answer carried the lame-duck header. */
  lameDuck: boolean;
}

/** One active check; never rejects (every failure is a result with a detail). */
export type Probe = (target: ProbeTarget, options: ProbeOptions) => Promise<ProbeResult>;

export interface ActiveCheckOptions {
  readonly probe: ProbeOptions;
  readonly interval: number;
  readonly jitter: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  /** What a new backend is before its first check. */
  readonly initialState: 'unknown' | 'healthy';
}

/** The config-owned facts of one backend, adopted by its host when an apply commits. */
export interface BackendOptions {
  readonly name: string;
  readonly weight: number;
  readonly maxRequests: number;
  readonly drain: boolean;
}

export interface PoolHealthOptions {
  readonly policy: string;
  /** Undefined: no active checks. */
  readonly checks: ActiveCheckOptions | undefined;
  /** Undefined: no passive outlier detection. */
  readonly outlier: PoolConfig['outlierDetection'];
  /** Slow-start ramp in ms (0 = off). */
  readonly slowStart: number;
  readonly flap: PoolConfig['flapDampening'];
  readonly panicThreshold: number;
  /** Lower-cased. */
  readonly lameDuckHeader: string | undefined;
  /** In the pool's backend order (the PoolState's host order). */
  readonly backends: readonly BackendOptions[];
}

/** `"200-399"`, `"200,204"`, `"200, 300-302"` → inclusive ranges. */
export function parseExpectStatus(text: string): [number, number][] {
  return text.split(',').map((part) => {
    const [lo, hi] = part.trim().split('-');
    const a = Number(lo);
    return [a, hi === undefined ? a : Number(hi)];
  });
}

/** The probe a pool's `healthCheck` describes; undefined when the pool has none. */
export function poolProbeOptions(pool: PoolConfig): ProbeOptions | undefined {
  const hc = pool.healthCheck;
  if (hc === undefined) return undefined;
  return {
    type: hc.type,
    path: hc.path,
    method: hc.method,
    headers: hc.headers,
    expectStatus: parseExpectStatus(hc.expectStatus),
    expectBody: hc.expectBody,
    timeout: hc.timeout,
    lameDuckHeader: pool.lameDuckHeader?.toLowerCase(),
  };
}

export function poolHealthOptions(pool: PoolConfig): PoolHealthOptions {
  const hc = pool.healthCheck;
  const probe = poolProbeOptions(pool);
  return {
    policy: pool.policy,
    checks:
      hc === undefined || probe === undefined
        ? undefined
        : {
            probe,
            interval: hc.interval,
            jitter: hc.jitter,
            healthyThreshold: hc.healthyThreshold,
            unhealthyThreshold: hc.unhealthyThreshold,
            initialState: hc.initialState,
          },
    outlier: pool.outlierDetection,
    slowStart: pool.slowStart,
    flap: pool.flapDampening,
    panicThreshold: pool.panicThreshold,
    lameDuckHeader: pool.lameDuckHeader?.toLowerCase(),
    backends: pool.backends.map((b) => ({
      name: b.name,
      weight: b.weight,
      maxRequests: b.maxRequests,
      drain: b.drain,
    })),
  };
}
