// Policies by config name. The file name of each policy equals its config name.
import type { BalancerHost, Policy, PolicyOptions } from './policy.ts';
import { roundRobin } from './policies/round-robin.ts';

type Factory = <H extends BalancerHost>(options: PolicyOptions) => Policy<H>;

const POLICIES: Readonly<Record<string, Factory>> = {
  'round-robin': roundRobin,
};

export function policyNames(): string[] {
  return Object.keys(POLICIES);
}

export function createPolicy<H extends BalancerHost>(name: string, options: PolicyOptions): Policy<H> {
  const factory = POLICIES[name];
  if (factory === undefined) throw new Error(`unknown policy "${name}"`);
  return factory<H>(options);
}
