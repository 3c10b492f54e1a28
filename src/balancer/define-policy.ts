// definePolicy: how a policy file declares itself. Adding a policy is its file (factory and
// descriptor), one line in registry.ts, and its tests.
import type { PolicyDescriptor } from './policy.ts';

export function definePolicy<const N extends string>(descriptor: PolicyDescriptor<N>): PolicyDescriptor<N> {
  return Object.freeze(descriptor);
}
