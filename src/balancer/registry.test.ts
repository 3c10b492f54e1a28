import { describe, expect, it } from 'vitest';
import { runPolicyContract } from '../../test/contract/policy-contract.ts';
import { FulcrumError } from '../core/errors.ts';
import { POLICY_NAMES } from '../config/schema.ts';
import { createPolicy, policyNames } from './registry.ts';

describe('policy registry', () => {
  it('has exactly the policies the config language names', () => {
    expect(policyNames().sort()).toEqual([...POLICY_NAMES].sort());
  });

  it('refuses an unknown policy with a config error code', () => {
    expect(() => createPolicy('fastest', { random: Math.random })).toThrow(FulcrumError);
  });
});

for (const name of policyNames()) runPolicyContract(name);
