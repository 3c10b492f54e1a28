// Policies by config name. The file name of each policy equals its config name.
import { FulcrumError } from '../core/errors.ts';
import type { BalancerHost, Policy, PolicyFactory, PolicyOptions } from './policy.ts';
import { consistentHash } from './policies/consistent-hash.ts';
import { leastRequests } from './policies/least-requests.ts';
import { p2cEwma } from './policies/p2c-ewma.ts';
import { random } from './policies/random.ts';
import { roundRobin } from './policies/round-robin.ts';
import { weightedRoundRobin } from './policies/weighted-round-robin.ts';

const POLICIES: Readonly<Record<string, PolicyFactory>> = {
  'round-robin': roundRobin,
  'weighted-round-robin': weightedRoundRobin,
  'least-requests': leastRequests,
  'p2c-ewma': p2cEwma,
  'consistent-hash': consistentHash,
  random,
};

export function policyNames(): string[] {
  return Object.keys(POLICIES);
}

export function createPolicy<H extends BalancerHost>(name: string, options: PolicyOptions): Policy<H> {
  const factory = POLICIES[name];
  // Validated configs only name known policies; this guards programmatic callers.
  if (factory === undefined) {
    throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', `unknown policy "${name}"`, {
      known: policyNames(),
    });
  }
  return factory<H>(options);
}
