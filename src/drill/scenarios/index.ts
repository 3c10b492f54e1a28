// The drill scenarios, in the order `fulcrum drill` runs them when none is named.
import type { Scenario } from '../scenario.ts';
import { backendCrash } from './backend-crash.ts';
import { backendSlowdown } from './backend-slowdown.ts';
import { badHealthCheck } from './bad-health-check.ts';
import { canaryWeightSkew } from './canary-weight-skew.ts';
import { hashHotspot } from './hash-hotspot.ts';
import { weightSkew } from './weight-skew.ts';

export const SCENARIOS: readonly Scenario[] = [
  weightSkew,
  hashHotspot,
  badHealthCheck,
  backendSlowdown,
  backendCrash,
  canaryWeightSkew,
];

export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
