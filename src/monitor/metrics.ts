// The Prometheus metrics of DESIGN.md on a registry of fulcrum's own (default process
// metrics included). Per-request series (requests, durations, retries, no-backend) are plain
// numbers the monitor's subscriber increments in preallocated per-backend arrays: prom-client
// label children hash their labels on every inc(), which would allocate per request. They
// are turned into series only at scrape time, like the gauges, which are read from host
// state and the monitor's last evaluation.
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { certificateExpiries } from '../config/tls-files.ts';
import type { PoolRuntime, Snapshot } from '../data-plane/snapshot.ts';
import type { AlertView } from './alerts.ts';

/** Per-backend traffic counters, owned and incremented by the monitor. */
export interface TrafficCounters {
  readonly pool: string;
  /** "" for requests that reached no backend. */
  readonly backend: string;
  /** Cumulative requests by listener, in CODE_CLASSES order. */
  readonly codes: ReadonlyMap<string, Float64Array>;
  /** Non-cumulative counts per DURATION_BUCKETS_S bucket (+Inf last); absent for "" and until a first request. */
  readonly durationBuckets: Float64Array | undefined;
  readonly durationSum: number;
}

export interface PoolCounters {
  readonly pool: string;
  readonly noBackend: number;
  readonly retries: number;
}

export const DURATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function durationBucket(seconds: number): number {
  let i = 0;
  while (i < DURATION_BUCKETS_S.length && seconds > (DURATION_BUCKETS_S[i] as number)) i++;
  return i;
}

interface SeriesValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

/** A metric whose series are computed at scrape time (prom-client's registerMetric contract). */
function scrapeTimeMetric(
  registry: Registry,
  name: string,
  help: string,
  type: 'counter' | 'gauge' | 'histogram',
  values: () => SeriesValue[],
): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

export interface GaugeSource {
  traffic(): Iterable<TrafficCounters>;
  poolCounters(): Iterable<PoolCounters>;
  snapshot(): Snapshot | undefined;
  /** Share ratio per pool and backend from the last evaluation (null = no data). */
  shareRatio(pool: string, backend: string): number | null;
  jain(pool: string): number | null;
  firing(): readonly AlertView[];
  lastApplyOk(): boolean | undefined;
  runtime?: RuntimeMetricsSource | undefined;
}

/** Facts of the process outside the monitor (proxy, log writer), read at scrape time. */
export interface RuntimeMetricsSource {
  listenerConnections(): Iterable<{ listener: string; open: number; accepted: number }>;
  /** Log lines the log writer dropped because its destination was slower than the log. */
  logLinesDropped(): number;
  /** Data-plane worker threads (absent with `workers: 1`). */
  workers?: () => readonly WorkerFacts[];
  /** Called before a scrape: bring host counters kept elsewhere (worker threads) up to date. */
  refresh?: () => void;
}

/** One data-plane worker thread's counts (the worker data plane's shared stats). */
export interface WorkerFacts {
  readonly worker: number;
  readonly connections: number;
  readonly requests: number;
  readonly restarts: number;
  readonly ringDropped: number;
}

/** fulcrum's version from its package.json (src/ and dist/ both sit one level below it). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

export function codeClassIndex(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

export class MonitorMetrics {
  readonly registry = new Registry();
  readonly outlierEjections: Counter<'pool' | 'backend' | 'reason'>;
  readonly healthChecks: Counter<'pool' | 'backend' | 'result'>;
  readonly configApplies: Counter<'result'>;
  readonly auditRuns: Counter<'result'>;
  readonly auditLastSuccess: Gauge;
  readonly notifications: Counter<'notifier' | 'result'>;

  constructor(src: GaugeSource) {
    const registers = [this.registry];
    // Unprefixed (process_*, nodejs_*) so the usual process dashboards work unchanged.
    collectDefaultMetrics({ register: this.registry });
    scrapeTimeMetric(
      this.registry,
      'fulcrum_requests_total',
      'Finished client requests by listener, pool, backend ("" when none was reached) and status class.',
      'counter',
      () => {
        const out: SeriesValue[] = [];
        for (const t of src.traffic()) {
          for (const [listener, counts] of t.codes) {
            counts.forEach((value, i) => {
              if (value > 0) {
                out.push({
                  labels: {
                    listener,
                    pool: t.pool,
                    backend: t.backend,
                    code_class: CODE_CLASSES[i] as string,
                  },
                  value,
                });
              }
            });
          }
        }
        return out;
      },
    );
    scrapeTimeMetric(
      this.registry,
      'fulcrum_request_duration_seconds',
      'Time from request received to response finished, per pool and backend.',
      'histogram',
      () => {
        const out: SeriesValue[] = [];
        const name = 'fulcrum_request_duration_seconds';
        for (const t of src.traffic()) {
          const b = t.durationBuckets;
          if (b === undefined) continue;
          let cum = 0;
          for (let i = 0; i < b.length; i++) {
            cum += b[i] as number;
            const le = i < DURATION_BUCKETS_S.length ? (DURATION_BUCKETS_S[i] as number) : '+Inf';
            out.push({
              metricName: `${name}_bucket`,
              labels: { le, pool: t.pool, backend: t.backend },
              value: cum,
            });
          }
          out.push({
            metricName: `${name}_sum`,
            labels: { pool: t.pool, backend: t.backend },
            value: t.durationSum,
          });
          out.push({ metricName: `${name}_count`, labels: { pool: t.pool, backend: t.backend }, value: cum });
        }
        return out;
      },
    );
    // One gauge per backend or pool fact, filled at scrape time; null leaves the series out.
    const hostGauge = (
      name: string,
      help: string,
      value: (pool: string, backend: string, h: HostFacts) => number | null,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['pool', 'backend'],
        registers,
        collect() {
          this.reset();
          const snap = src.snapshot();
          if (!snap) return;
          for (const [pool, p] of snap.pools) {
            for (const h of p.state.hosts) {
              const v = value(pool, h.name, h);
              if (v !== null) this.set({ pool, backend: h.name }, v);
            }
          }
        },
      });
    };
    const poolGauge = (
      name: string,
      help: string,
      value: (pool: string, p: PoolRuntime) => number | null,
    ): void => {
      new Gauge({
        name,
        help,
        labelNames: ['pool'],
        registers,
        collect() {
          this.reset();
          const snap = src.snapshot();
          if (!snap) return;
          for (const [pool, p] of snap.pools) {
            const v = value(pool, p);
            if (v !== null) this.set({ pool }, v);
          }
        },
      });
    };
    hostGauge(
      'fulcrum_backend_up',
      '1 when the backend can take traffic (healthy, not ejected, weight > 0), else 0.',
      (_p, _b, h) => (h.available ? 1 : 0),
    );
    hostGauge(
      'fulcrum_backend_in_flight',
      'Requests forwarded to the backend and not finished yet.',
      (_p, _b, h) => h.inFlight,
    );
    hostGauge(
      'fulcrum_backend_weight',
      'Configured weight of the backend.',
      (_p, _b, h) => h.configuredWeight,
    );
    hostGauge(
      'fulcrum_backend_effective_weight',
      'Weight the backend really gets now: configured × health × slow start × drain.',
      (_p, _b, h) => (h.available ? h.effectiveWeight : 0),
    );
    hostGauge(
      'fulcrum_backend_drained',
      '1 while the backend is drained at runtime (`fulcrum drain`), else 0; `drain: true` in the config is not counted.',
      (_p, _b, h) => (h.runtimeDrain === undefined ? 0 : 1),
    );
    hostGauge(
      'fulcrum_backend_share_ratio',
      'Observed share / expected share over the monitor window (1 = exactly as configured).',
      (pool, backend) => src.shareRatio(pool, backend),
    );
    poolGauge(
      'fulcrum_pool_fairness_index',
      "Jain's fairness index over the pool's share ratios (1 = perfectly as configured).",
      (pool) => src.jain(pool),
    );
    poolGauge(
      'fulcrum_pool_panic',
      '1 while the pool is in panic mode (too few healthy backends, balancing across all).',
      (_pool, p) => (p.state.panic ? 1 : 0),
    );
    this.outlierEjections = new Counter({
      name: 'fulcrum_outlier_ejections_total',
      help: 'Backends ejected by outlier detection, by reason.',
      labelNames: ['pool', 'backend', 'reason'],
      registers,
    });
    this.healthChecks = new Counter({
      name: 'fulcrum_health_checks_total',
      help: 'Active health checks by result (success, failure).',
      labelNames: ['pool', 'backend', 'result'],
      registers,
    });
    scrapeTimeMetric(
      this.registry,
      'fulcrum_no_backend_total',
      'Requests answered 503 because the pool had no available backend.',
      'counter',
      () => [...src.poolCounters()].map((p) => ({ labels: { pool: p.pool }, value: p.noBackend })),
    );
    scrapeTimeMetric(
      this.registry,
      'fulcrum_retries_total',
      'Retries made to another backend after a failed try.',
      'counter',
      () => [...src.poolCounters()].map((p) => ({ labels: { pool: p.pool }, value: p.retries })),
    );
    new Gauge({
      name: 'fulcrum_config_version',
      help: 'Version number of the running config.',
      registers,
      collect() {
        const snap = src.snapshot();
        if (snap) this.set(snap.version);
      },
    });
    // Read from the files once per snapshot: a renewed certificate comes with a new snapshot.
    const expiries = new WeakMap<Snapshot, ReturnType<typeof certificateExpiries>>();
    new Gauge({
      name: 'fulcrum_tls_certificate_expiry_timestamp_seconds',
      help: 'Unix time a listener certificate expires, by listener and SNI server name ("" for the default certificate).',
      labelNames: ['listener', 'serverName'],
      registers,
      collect() {
        this.reset();
        const snap = src.snapshot();
        if (!snap) return;
        let rows = expiries.get(snap);
        if (rows === undefined) expiries.set(snap, (rows = certificateExpiries(snap.config)));
        for (const r of rows) this.set({ listener: r.listener, serverName: r.serverName }, r.notAfter / 1000);
      },
    });
    this.configApplies = new Counter({
      name: 'fulcrum_config_applies_total',
      help: 'Config applies by result (success, failure, refused: turned down before anything changed).',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'fulcrum_config_last_apply_success',
      help: '1 when the last config apply succeeded, 0 when it failed (absent before any apply).',
      registers,
      collect() {
        this.reset();
        const ok = src.lastApplyOk();
        if (ok !== undefined) this.set(ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'fulcrum_alerts_firing',
      help: 'Alerts firing now, by alert name and severity.',
      labelNames: ['alertname', 'severity'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, { alertname: string; severity: string; n: number }>();
        for (const a of src.firing()) {
          const k = `${a.alertname}\u0000${a.severity}`;
          const c = counts.get(k);
          if (c) c.n++;
          else counts.set(k, { alertname: a.alertname, severity: a.severity, n: 1 });
        }
        for (const c of counts.values()) this.set({ alertname: c.alertname, severity: c.severity }, c.n);
      },
    });
    this.auditRuns = new Counter({
      name: 'fulcrum_audit_runs_total',
      help: 'Audit runs by result (success, failure).',
      labelNames: ['result'],
      registers,
    });
    this.auditLastSuccess = new Gauge({
      name: 'fulcrum_audit_last_success_timestamp_seconds',
      help: 'Unix time of the last audit run that passed.',
      registers,
    });
    this.notifications = new Counter({
      name: 'fulcrum_notifications_total',
      help: 'Alert notifications by target (its name, or kind-index; never the URL) and result (sent, rejected, failed, dropped).',
      labelNames: ['notifier', 'result'],
      registers,
    });
    const notifications = this.notifications;
    // The dropped ones again under their own name, for a plain `> 0` alert (a full queue).
    this.registry.registerMetric({
      name: 'fulcrum_notifications_dropped_total',
      help: 'Alert notifications dropped because the delivery queue of the notifier was full.',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({
        name: 'fulcrum_notifications_dropped_total',
        help: 'Alert notifications dropped because the delivery queue of the notifier was full.',
        type: 'counter',
        aggregator: 'sum',
        values: (await notifications.get()).values
          .filter((v) => v.labels['result'] === 'dropped')
          .map((v) => ({ labels: { notifier: v.labels['notifier'] ?? '' }, value: v.value })),
      }),
      reset: () => {},
    } as unknown as Parameters<Registry['registerMetric']>[0]);
    const version = packageVersion();
    new Gauge({
      name: 'fulcrum_build_info',
      help: 'Always 1; the labels say which fulcrum and which Node.js run.',
      labelNames: ['version', 'node'],
      registers,
      collect() {
        this.set({ version, node: process.version }, 1);
      },
    });
    scrapeTimeMetric(
      this.registry,
      'fulcrum_request_bytes_total',
      'Client bytes of the requests each backend answered: direction "in" read from clients (head and body as framed), "out" sent to them.',
      'counter',
      () => {
        const out: SeriesValue[] = [];
        const snap = src.snapshot();
        if (!snap) return out;
        for (const [pool, p] of snap.pools) {
          for (const h of p.state.hosts) {
            out.push({ labels: { pool, backend: h.name, direction: 'in' }, value: h.bytesIn });
            out.push({ labels: { pool, backend: h.name, direction: 'out' }, value: h.bytesOut });
          }
        }
        return out;
      },
    );
    const runtime = src.runtime;
    if (runtime === undefined) return;
    new Gauge({
      name: 'fulcrum_listener_connections',
      help: 'Client connections open now, per listener.',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const c of runtime.listenerConnections()) this.set({ listener: c.listener }, c.open);
      },
    });
    scrapeTimeMetric(
      this.registry,
      'fulcrum_listener_connections_accepted_total',
      'Client connections accepted, per listener (TLS: after the handshake).',
      'counter',
      () =>
        [...runtime.listenerConnections()].map((c) => ({
          labels: { listener: c.listener },
          value: c.accepted,
        })),
    );
    scrapeTimeMetric(
      this.registry,
      'fulcrum_log_lines_dropped_total',
      'Log lines (access and process) dropped because the log destination was slower than the log.',
      'counter',
      () => [{ labels: {}, value: runtime.logLinesDropped() }],
    );
    const workers = runtime.workers;
    if (workers === undefined) return;
    const perWorker = (
      name: string,
      help: string,
      type: 'gauge' | 'counter',
      pick: (w: WorkerFacts) => number,
    ) =>
      scrapeTimeMetric(this.registry, name, help, type, () =>
        workers().map((w) => ({ labels: { worker: String(w.worker) }, value: pick(w) })),
      );
    perWorker(
      'fulcrum_worker_connections',
      'Client connections open now on each data-plane worker thread (the kernel spreads them by SO_REUSEPORT hash).',
      'gauge',
      (w) => w.connections,
    );
    perWorker(
      'fulcrum_worker_requests_total',
      'Client requests finished by each data-plane worker thread.',
      'counter',
      (w) => w.requests,
    );
    perWorker(
      'fulcrum_worker_restarts_total',
      'Times a data-plane worker thread died and was replaced.',
      'counter',
      (w) => w.restarts,
    );
    perWorker(
      'fulcrum_worker_outcomes_dropped_total',
      'Request outcomes a worker dropped because its ring to the main thread was full (the monitor missed them).',
      'counter',
      (w) => w.ringDropped,
    );
  }
}

interface HostFacts {
  readonly runtimeDrain: unknown;
  readonly available: boolean;
  readonly inFlight: number;
  readonly configuredWeight: number;
  readonly effectiveWeight: number;
}
