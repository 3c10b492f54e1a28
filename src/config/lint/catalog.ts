// Every lint rule, in the order docs/lint-rules.md lists them. Adding a rule: one file in
// rules/, one line here, a fail.yaml and pass.yaml under test/fixtures/lint/<id>/, then
// `node scripts/gen-lint-docs.ts`.
import type { LintRule, RuleParams } from './types.ts';
import { weightSkew } from './rules/weight-skew.ts';
import { zeroWeight } from './rules/zero-weight.ts';
import { noServingBackend } from './rules/no-serving-backend.ts';
import { singleBackend } from './rules/single-backend.ts';
import { fewBackends } from './rules/few-backends.ts';
import { duplicateAddress } from './rules/duplicate-address.ts';
import { unreachablePool } from './rules/unreachable-pool.ts';
import { shadowedRoute } from './rules/shadowed-route.ts';
import { noHealthChecking } from './rules/no-health-checking.ts';
import { checkTimeoutInterval } from './rules/check-timeout-interval.ts';
import { slowFailureDetection } from './rules/slow-failure-detection.ts';
import { flappyThreshold } from './rules/flappy-threshold.ts';
import { timeoutDisabled } from './rules/timeout-disabled.ts';
import { timeoutsInverted } from './rules/timeouts-inverted.ts';
import { upstreamIdleTimeout } from './rules/upstream-idle-timeout.ts';
import { retryNonIdempotent } from './rules/retry-non-idempotent.ts';
import { retryWithoutBudget } from './rules/retry-without-budget.ts';
import { retryTimeoutBudget } from './rules/retry-timeout-budget.ts';
import { retryTimeoutUnreachable } from './rules/retry-timeout-unreachable.ts';
import { hashUnboundedLoad } from './rules/hash-unbounded-load.ts';
import { hashSourceIp } from './rules/hash-source-ip.ts';
import { weightsIgnored } from './rules/weights-ignored.ts';
import { ejectionLimit } from './rules/ejection-limit.ts';
import { panicThreshold } from './rules/panic-threshold.ts';
import { adminInsecure } from './rules/admin-insecure.ts';
import { auditDisabled } from './rules/audit-disabled.ts';
import { certificateExpiry } from './rules/certificate-expiry.ts';

// Each rule keeps its own parameter type in its file; the catalog only needs the common shape.
type AnyRule = LintRule<RuleParams>;

export const RULES: readonly AnyRule[] = [
  weightSkew,
  zeroWeight,
  noServingBackend,
  singleBackend,
  fewBackends,
  duplicateAddress,
  unreachablePool,
  shadowedRoute,
  noHealthChecking,
  checkTimeoutInterval,
  slowFailureDetection,
  flappyThreshold,
  timeoutDisabled,
  timeoutsInverted,
  upstreamIdleTimeout,
  retryNonIdempotent,
  retryWithoutBudget,
  retryTimeoutBudget,
  retryTimeoutUnreachable,
  hashUnboundedLoad,
  hashSourceIp,
  weightsIgnored,
  ejectionLimit,
  panicThreshold,
  adminInsecure,
  auditDisabled,
  certificateExpiry,
];

const BY_ID: ReadonlyMap<string, AnyRule> = new Map(RULES.map((r) => [r.id, r]));

export function findRule(id: string): AnyRule | undefined {
  return BY_ID.get(id);
}
