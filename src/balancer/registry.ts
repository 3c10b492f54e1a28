// Policies by config name: one descriptor per policy file (definePolicy), listed once here.
// The config schema's policy names and every "what kind of policy" question derive from it.
import { FulcrumError } from '../core/errors.ts';
import type { BalancerHost, Policy, PolicyDescriptor, PolicyOptions } from './policy.ts';
import { consistentHashPolicy } from './policies/consistent-hash.ts';
import { leastRequestsPolicy } from './policies/least-requests.ts';
import { p2cEwmaPolicy } from './policies/p2c-ewma.ts';
import { randomPolicy } from './policies/random.ts';
import { roundRobinPolicy } from './policies/round-robin.ts';
import { weightedRoundRobinPolicy } from './policies/weighted-round-robin.ts';

export const POLICIES = [
  roundRobinPolicy,
  weightedRoundRobinPolicy,
  leastRequestsPolicy,
  p2cEwmaPolicy,
  consistentHashPolicy,
  randomPolicy,
] as const;

export type PolicyName = (typeof POLICIES)[number]['name'];

export const POLICY_NAMES = POLICIES.map((p) => p.name) as unknown as readonly [PolicyName, ...PolicyName[]];

const BY_NAME: ReadonlyMap<string, PolicyDescriptor> = new Map(POLICIES.map((p) => [p.name, p]));

export function policyNames(): string[] {
  return [...POLICY_NAMES];
}

/** The descriptor of a policy; validated configs only name known policies, this guards the rest. */
export function policyDescriptor(name: string): PolicyDescriptor {
  const d = BY_NAME.get(name);
  if (d === undefined) {
    throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', `unknown policy "${name}"`, {
      known: policyNames(),
    });
  }
  return d;
}

export function createPolicy<H extends BalancerHost>(name: string, options: PolicyOptions): Policy<H> {
  return policyDescriptor(name).create<H>(options);
}
