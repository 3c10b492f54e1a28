// What a drill scenario is: the running config, the fault (a bad config forced through a
// guarded apply, or something done to a backend), which alert counts as naming the cause,
// how recovery shows, and the budgets a run must meet.
import type { AlertView } from '../monitor/alerts.ts';
import type { DrillBackend } from './drill-backend.ts';

export interface Budgets {
  detectMs: number;
  recoverMs: number;
  /** Largest acceptable share of failed requests over the whole drill. */
  failedShare: number;
}

export interface ScenarioEnv {
  readonly backends: readonly DrillBackend[];
  readonly short: boolean;
  /** Requests per second of the load. */
  readonly rate: number;
  /** Backend service time, ms. */
  readonly serviceMs: number;
}

export interface Scenario {
  readonly name: string;
  readonly title: string;
  /** The postmortem-style sentence of what goes wrong. */
  readonly story: string;
  readonly backends: number;
  /** Each backend serves this many times its fair share of the load before answering 503 (default 2). */
  readonly headroom?: number;
  readonly budgets: Budgets;
  /** Headers of load request i (e.g. a hash key most traffic shares). */
  readonly loadHeaders?: (i: number) => Record<string, string>;
  /** Backend that answers /ready (index); all do unless set. */
  readonly readyOnly?: number;
  /** The config the balancer starts with. */
  goodConfig(env: ScenarioEnv): string;
  /** The bad config, forced through a guarded apply at the fault; undefined = not a config fault. */
  badConfig?(env: ScenarioEnv): string;
  /**
   * Apply the bad config as a traffic-slice canary of this share (`10%`: `fulcrum apply --canary
   * 10% --guard …`) instead of a whole guarded apply.
   */
  readonly canary?: string;
  /**
   * What detection is: the first alert that names the cause and fires (default), or the guard's
   * verdict (a canary: its slice is too small a share to move the monitor's per-backend figures,
   * the guard compares the slices and rolls back).
   */
  readonly detection?: 'alert' | 'guard-verdict';
  /** Damage done to backends at the fault (after the bad config, if any); returns what was done. */
  inject?(env: ScenarioEnv): Promise<string>;
  /** The backend the cause is about, once known (the drill may learn it from traffic). */
  culprit(env: ScenarioEnv, traffic: ReadonlyMap<string, number>): string | undefined;
  /** True when this alert names the cause. */
  namesCause(alert: AlertView, culprit: string | undefined): boolean;
  /**
   * Why this alert misnames the incident (a wrong alert, or a wrong cause), or undefined when
   * it does not. Any misnamed alert seen during the drill fails it.
   */
  misnames?(alert: AlertView, culprit: string | undefined): string | undefined;
  /**
   * Alerts that must fire during the drill, each with the cause it must name (cause_kind);
   * one that never does fails the drill like a misnamed one.
   */
  mustName?(env: ScenarioEnv): readonly ExpectedAlert[];
  /**
   * Labels for the incident before and after recovery, when the recovery changes what is
   * compared (the policy in force before the guard's rollback, and after it).
   */
  readonly compare?: readonly [before: string, after: string];
  /** How recovery happens: the guard rolls the bad config back, or health removes a backend. */
  readonly recovery: 'guard-rollback' | 'health-removal';
}

export interface ExpectedAlert {
  readonly alertname: string;
  readonly backend: string;
  readonly causeKind: string;
}

export interface DrillConfigOptions {
  policy?: string;
  weights?: readonly number[];
  hash?: { key: string; balanceFactor: number };
  healthPath?: string;
  outlier?: boolean;
  /** Below this share of its backends healthy the pool panics (default 25%). */
  panicThreshold?: string;
  /** The pool's `retries` block (YAML flow), when the scenario sets it. */
  retries?: string;
  short: boolean;
}

/** The drill's config: loopback, port 0, fast health checks and a short monitor window. */
export function drillConfig(env: ScenarioEnv, o: DrillConfigOptions): string {
  const weights = o.weights ?? env.backends.map(() => 1);
  const lines = [
    'version: 1',
    'listeners:',
    '  web:',
    '    address: 127.0.0.1:0',
    '    routes: [{ pool: app }]',
    'pools:',
    '  app:',
    `    policy: ${o.policy ?? 'weighted-round-robin'}`,
    ...(o.hash ? [`    hash: { key: "${o.hash.key}", balanceFactor: ${o.hash.balanceFactor} }`] : []),
    // Panic only when three quarters are gone: one survivor of three still carries everything.
    `    panicThreshold: ${o.panicThreshold ?? '25%'}`,
    `    healthCheck: { path: ${o.healthPath ?? '/healthz'}, interval: 500ms, timeout: 400ms, healthyThreshold: 2, unhealthyThreshold: 2 }`,
    ...(o.retries ? [`    retries: ${o.retries}`] : []),
    ...(o.outlier
      ? ['    outlierDetection: { consecutiveErrors: 5, baseEjectionTime: 30s, maxEjectionPercent: 50% }']
      : []),
    '    backends:',
    ...env.backends.map(
      (b, i) => `      - { name: ${b.name}, address: "${b.address}", weight: ${weights[i] ?? 1} }`,
    ),
    'monitor:',
    // A short window and `for`: a drill lasts seconds, not the hours of the postmortem.
    '  window: 5s',
    '  fairness: { overfed: 1.25, starved: 0.5, minRequestsPerBackend: 20, for: 1s }',
    'audit:',
    "  schedule: ''",
    'log:',
    '  level: warn',
    '  access: false',
    '',
  ];
  return lines.join('\n');
}

/** Alerts that misname any incident: "likely a bug" is never what a drill injects. */
export function misnamedAsBug(alert: AlertView): string | undefined {
  return alert.annotations['cause_kind'] === 'bug' ? `${alert.alertname} blames a bug` : undefined;
}

/** An alert about this backend (labels.backend). */
export function aboutBackend(alert: AlertView, backend: string | undefined): boolean {
  return backend !== undefined && alert.labels['backend'] === backend;
}
