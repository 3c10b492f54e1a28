import { describe, expect, it } from 'vitest';
import { runPolicyContract } from '../../test/contract/policy-contract.ts';
import { FulcrumError } from '../core/errors.ts';
import { readdirSync } from 'node:fs';
import { configSchema } from '../config/schema.ts';
import { createPolicy, policyDescriptor, policyNames } from './registry.ts';

describe('policy registry', () => {
  it('has one policy per file under policies/, named after it, and the config language names exactly those', () => {
    const files = readdirSync(new URL('./policies/', import.meta.url))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .map((f) => f.slice(0, -3));
    expect(policyNames().sort()).toEqual(files.sort());
    const pool = (policy: string) =>
      configSchema.shape.pools.valueType.safeParse({
        policy,
        backends: [{ name: 'a', address: '127.0.0.1:1' }],
      });
    for (const name of policyNames()) expect(pool(name).success).toBe(true);
    expect(pool('fastest').success).toBe(false);
  });

  it('answers what kind of policy a name is from its descriptor', () => {
    expect(policyDescriptor('round-robin')).toMatchObject({ usesWeights: false, hashKeyed: false });
    expect(policyDescriptor('consistent-hash')).toMatchObject({ usesWeights: true, hashKeyed: true });
    expect(policyDescriptor('least-requests').fairnessMeasure).toBe('in-flight-per-weight');
    expect(policyDescriptor('p2c-ewma').fairnessMeasure).toBe('in-flight-latency-per-weight');
  });

  it('refuses an unknown policy with a config error code', () => {
    expect(() => createPolicy('fastest', { random: Math.random })).toThrow(FulcrumError);
  });
});

for (const name of policyNames()) runPolicyContract(name);
