// The shapes of a Prometheus rule file and the helpers every alert rule's PromQL uses. Every
// aggregation keeps `instance` and `job` (BY) so two balancers with the same pool names,
// scraped by one Prometheus, are judged apart and never merge into one pool.
import type { MonitorConfig } from '../../config/schema.ts';

export interface RecordingRule {
  record: string;
  expr: string;
}

export interface AlertingRule {
  alert: string;
  expr: string;
  for?: string;
  keep_firing_for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface RuleFile {
  groups: { name: string; rules: (RecordingRule | AlertingRule)[] }[];
}

/** The grouping labels of a per-instance judgement. */
export const BY_INSTANCE = 'instance, job';
export const BY_POOL = `${BY_INSTANCE}, pool`;
export const BY_BACKEND = `${BY_POOL}, backend`;

/** What a rule's PromQL is written from: the monitor section and its window as PromQL text. */
export interface PromContext {
  readonly monitor: MonitorConfig;
  /** monitor.window as a Prometheus duration (60000 → 1m). */
  readonly w: string;
}

/** An alert's PromQL: the expression and its label-only annotations (never $value). */
export interface PromAlert {
  readonly expr: string;
  readonly summary: string;
  readonly description: string;
}

/** Prometheus duration text for milliseconds (30000 → 30s, 3600000 → 1h). */
export function promDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A float without binary noise (14.4 × 0.001 → 0.0144). */
export function num(x: number): string {
  return String(Number(x.toPrecision(10)));
}

/** A fraction as an exact percentage (0.999 → 99.9%). */
export function promPct(f: number): string {
  return `${Number((f * 100).toPrecision(6))}%`;
}

export const PROM_CMD = 'fulcrum status --pool {{ $labels.pool }}';
