// The alert rule engine: Prometheus semantics without PromQL. Every evaluation a rule
// reports the label sets that are active now; the engine moves each one through
//   (inactive) → pending → firing → resolved
// honouring `for` (how long it must stay active before it fires) and `keepFiringFor` (how
// long it keeps firing after it stops being active, so a flapping condition pages once).
import { Topic } from '../core/events.ts';

export type Severity = 'critical' | 'warning' | 'info';
/** What kind of trouble a rule reports; fairness and availability make /readyz "degraded". */
export type AlertCategory = 'availability' | 'fairness' | 'health' | 'config' | 'traffic' | 'audit';
export type AlertState = 'pending' | 'firing' | 'resolved';

export interface RuleDef {
  readonly name: string;
  readonly severity: Severity;
  readonly category: AlertCategory;
  readonly forMs: number;
  readonly keepFiringForMs: number;
}

/** One active instance reported by a rule in one evaluation. */
export interface ActiveSample {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface AlertView {
  readonly alertname: string;
  readonly severity: Severity;
  readonly category: AlertCategory;
  /** Identity of the alert: alertname, severity, the engine's labels (instance) and the rule's. */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly state: AlertState;
  readonly value: number;
  /** Wall-clock times, milliseconds since the epoch. */
  readonly activeAt: number;
  readonly firedAt: number | undefined;
  readonly resolvedAt: number | undefined;
  /** Stable id of the label set (Alertmanager-style fingerprint). */
  readonly fingerprint: string;
}

interface Instance {
  rule: RuleDef;
  labels: Record<string, string>;
  annotations: Readonly<Record<string, string>>;
  value: number;
  fingerprint: string;
  state: AlertState;
  /** Monotonic times drive the state machine; wall times are what people see. */
  activeSince: number;
  lastActive: number;
  activeAt: number;
  firedAt: number | undefined;
  resolvedAt: number | undefined;
  resolvedMono: number;
}

/** FNV-1a over the sorted label pairs, as hex; stable across processes. */
export function fingerprint(labels: Readonly<Record<string, string>>): string {
  let h = 0x811c9dc5;
  for (const k of Object.keys(labels).sort()) {
    const s = `${k}\u0000${labels[k]}\u0000`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

export class AlertEngine {
  /** Every move to firing and to resolved (not pending), in order. */
  readonly transitions = new Topic<AlertView>();
  readonly #instances = new Map<string, Instance>();
  /** How long resolved alerts stay listed. */
  readonly #retainResolvedMs: number;
  /** Labels every alert of this engine carries (the raising instance). */
  readonly #labels: Readonly<Record<string, string>>;

  constructor(options: { retainResolvedMs?: number; labels?: Readonly<Record<string, string>> } = {}) {
    this.#retainResolvedMs = options.retainResolvedMs ?? 15 * 60_000;
    this.#labels = options.labels ?? {};
  }

  /**
   * Apply one evaluation of `rule`: `active` are the instances whose condition holds now.
   * `now` is monotonic time (ms), `wall` the matching wall-clock time.
   */
  evaluate(rule: RuleDef, active: readonly ActiveSample[], now: number, wall: number): void {
    const seen = new Set<string>();
    for (const a of active) {
      const labels = { alertname: rule.name, severity: rule.severity, ...this.#labels, ...a.labels };
      const fp = fingerprint(labels);
      seen.add(fp);
      let inst = this.#instances.get(fp);
      if (inst === undefined || inst.state === 'resolved') {
        inst = {
          rule,
          labels,
          annotations: a.annotations,
          value: a.value,
          fingerprint: fp,
          state: 'pending',
          activeSince: now,
          lastActive: now,
          activeAt: wall,
          firedAt: undefined,
          resolvedAt: undefined,
          resolvedMono: 0,
        };
        this.#instances.set(fp, inst);
      }
      inst.lastActive = now;
      inst.annotations = a.annotations;
      inst.value = a.value;
      if (inst.state === 'pending' && now - inst.activeSince >= rule.forMs) {
        inst.state = 'firing';
        inst.firedAt = wall;
        this.transitions.emit(view(inst));
      }
    }
    for (const [fp, inst] of this.#instances) {
      if (inst.rule.name !== rule.name || seen.has(fp)) continue;
      if (inst.state === 'pending') this.#instances.delete(fp);
      else if (inst.state === 'firing' && now - inst.lastActive >= rule.keepFiringForMs) {
        inst.state = 'resolved';
        inst.resolvedAt = wall;
        inst.resolvedMono = now;
        this.transitions.emit(view(inst));
      } else if (inst.state === 'resolved' && now - inst.resolvedMono > this.#retainResolvedMs) {
        this.#instances.delete(fp);
      }
    }
  }

  /** Pending, firing and recently resolved alerts; firing first. */
  views(): AlertView[] {
    const order: Record<AlertState, number> = { firing: 0, pending: 1, resolved: 2 };
    return [...this.#instances.values()]
      .map(view)
      .sort((a, b) => order[a.state] - order[b.state] || a.activeAt - b.activeAt);
  }

  firing(): AlertView[] {
    return this.views().filter((a) => a.state === 'firing');
  }
}

function view(i: Instance): AlertView {
  return {
    alertname: i.rule.name,
    severity: i.rule.severity,
    category: i.rule.category,
    labels: i.labels,
    annotations: i.annotations,
    state: i.state,
    value: i.value,
    activeAt: i.activeAt,
    firedAt: i.firedAt,
    resolvedAt: i.resolvedAt,
    fingerprint: i.fingerprint,
  };
}
