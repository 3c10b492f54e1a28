// The Prometheus metrics of DESIGN.md on a registry of fulcrum's own (default process
// metrics included). Counters are incremented by the monitor's event subscriber through
// label children cached per backend; gauges are filled at scrape time from host state and
// the monitor's last evaluation, so the request path never pays for them.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Snapshot } from '../runtime/snapshot.ts';
import type { AlertView } from './alerts.ts';

export interface GaugeSource {
  snapshot(): Snapshot | undefined;
  /** Share ratio per pool and backend from the last evaluation (null = no data). */
  shareRatio(pool: string, backend: string): number | null;
  jain(pool: string): number | null;
  firing(): readonly AlertView[];
  lastApplyOk(): boolean | undefined;
}

export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

export function codeClassIndex(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

export class MonitorMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'listener' | 'pool' | 'backend' | 'code_class'>;
  readonly duration: Histogram<'pool' | 'backend'>;
  readonly outlierEjections: Counter<'pool' | 'backend' | 'reason'>;
  readonly healthChecks: Counter<'pool' | 'backend' | 'result'>;
  readonly noBackend: Counter<'pool'>;
  readonly retries: Counter<'pool'>;
  readonly configApplies: Counter<'result'>;
  readonly auditRuns: Counter<'result'>;
  readonly auditLastSuccess: Gauge;
  readonly notifications: Counter<'notifier' | 'result'>;

  constructor(src: GaugeSource) {
    const registers = [this.registry];
    // Unprefixed (process_*, nodejs_*) so the usual process dashboards work unchanged.
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'fulcrum_requests_total',
      help: 'Finished client requests by listener, pool, backend ("" when none was reached) and status class.',
      labelNames: ['listener', 'pool', 'backend', 'code_class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'fulcrum_request_duration_seconds',
      help: 'Time from request received to response finished, per pool and backend.',
      labelNames: ['pool', 'backend'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const eachHost = (fn: (pool: string, backend: string, h: HostFacts) => void) => {
      const snap = src.snapshot();
      if (!snap) return;
      for (const [pool, p] of snap.pools) for (const h of p.state.hosts) fn(pool, h.name, h);
    };
    new Gauge({
      name: 'fulcrum_backend_up',
      help: '1 when the backend can take traffic (healthy, not ejected, weight > 0), else 0.',
      labelNames: ['pool', 'backend'],
      registers,
      collect() {
        this.reset();
        eachHost((pool, backend, h) => this.set({ pool, backend }, h.available ? 1 : 0));
      },
    });
    new Gauge({
      name: 'fulcrum_backend_in_flight',
      help: 'Requests forwarded to the backend and not finished yet.',
      labelNames: ['pool', 'backend'],
      registers,
      collect() {
        this.reset();
        eachHost((pool, backend, h) => this.set({ pool, backend }, h.inFlight));
      },
    });
    new Gauge({
      name: 'fulcrum_backend_weight',
      help: 'Configured weight of the backend.',
      labelNames: ['pool', 'backend'],
      registers,
      collect() {
        this.reset();
        eachHost((pool, backend, h) => this.set({ pool, backend }, h.configuredWeight));
      },
    });
    new Gauge({
      name: 'fulcrum_backend_effective_weight',
      help: 'Weight the backend really gets now: configured × health × slow start × drain.',
      labelNames: ['pool', 'backend'],
      registers,
      collect() {
        this.reset();
        eachHost((pool, backend, h) => this.set({ pool, backend }, h.available ? h.effectiveWeight : 0));
      },
    });
    new Gauge({
      name: 'fulcrum_backend_share_ratio',
      help: 'Observed share / expected share over the monitor window (1 = exactly as configured).',
      labelNames: ['pool', 'backend'],
      registers,
      collect() {
        this.reset();
        eachHost((pool, backend) => {
          const r = src.shareRatio(pool, backend);
          if (r !== null) this.set({ pool, backend }, r);
        });
      },
    });
    new Gauge({
      name: 'fulcrum_pool_fairness_index',
      help: "Jain's fairness index over the pool's share ratios (1 = perfectly as configured).",
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        const snap = src.snapshot();
        if (!snap) return;
        for (const pool of snap.pools.keys()) {
          const j = src.jain(pool);
          if (j !== null) this.set({ pool }, j);
        }
      },
    });
    new Gauge({
      name: 'fulcrum_pool_panic',
      help: '1 while the pool is in panic mode (too few healthy backends, balancing across all).',
      labelNames: ['pool'],
      registers,
      collect() {
        this.reset();
        const snap = src.snapshot();
        if (!snap) return;
        for (const [pool, p] of snap.pools) this.set({ pool }, p.state.panic ? 1 : 0);
      },
    });
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
    this.noBackend = new Counter({
      name: 'fulcrum_no_backend_total',
      help: 'Requests answered 503 because the pool had no available backend.',
      labelNames: ['pool'],
      registers,
    });
    this.retries = new Counter({
      name: 'fulcrum_retries_total',
      help: 'Retries made to another backend after a failed try.',
      labelNames: ['pool'],
      registers,
    });
    new Gauge({
      name: 'fulcrum_config_version',
      help: 'Version number of the running config.',
      registers,
      collect() {
        const snap = src.snapshot();
        if (snap) this.set(snap.version);
      },
    });
    this.configApplies = new Counter({
      name: 'fulcrum_config_applies_total',
      help: 'Config applies by result (success, failure).',
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
      help: 'Alert notifications by target and result (sent, rejected, failed, dropped).',
      labelNames: ['notifier', 'result'],
      registers,
    });
  }
}

interface HostFacts {
  readonly available: boolean;
  readonly inFlight: number;
  readonly configuredWeight: number;
  readonly effectiveWeight: number;
}
