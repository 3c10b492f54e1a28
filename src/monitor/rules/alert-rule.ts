// What an alert rule is: its identity and timing, a pure evaluate(context) returning the
// label sets active now with their wording, the same alert in PromQL, and its row in
// docs/monitoring.md. One file per rule in this folder; catalog.ts lists them.
import type { MonitorConfig } from '../../config/schema.ts';
import type { ActiveSample, AlertCategory, RuleDef, Severity } from '../alerts.ts';
import type { PromAlert, PromContext } from './promql.ts';
import type { RuleContext } from './rule-context.ts';

export interface AlertRuleSpec {
  readonly name: string;
  readonly severity: Severity;
  readonly category: AlertCategory;
  /** The rule's own labels (besides alertname, severity and instance). */
  readonly labels: readonly ('pool' | 'backend')[];
  readonly timing: (m: MonitorConfig) => { readonly forMs: number; readonly keepFiringForMs: number };
  readonly doc: {
    /** Overrides the `for` shown in the table when it comes from the config. */
    readonly forText?: string;
    readonly activeWhen: string;
    readonly whatToDo: string;
  };
  /** The label sets whose condition holds now. Pure: reads only the context. */
  evaluate(ctx: RuleContext): ActiveSample[];
  promql(p: PromContext): PromAlert;
}

export interface AlertRule extends AlertRuleSpec {
  /** The engine's definition under this monitor config. */
  def(m: MonitorConfig): RuleDef;
}

export function defineAlertRule(spec: AlertRuleSpec): AlertRule {
  return {
    ...spec,
    def: (m) => ({ name: spec.name, severity: spec.severity, category: spec.category, ...spec.timing(m) }),
  };
}
