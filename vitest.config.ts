import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Run alone after the rest (vitest.drills.config.ts): their budgets are timings.
    exclude: ['**/node_modules/**', 'test/e2e/drill-short.test.ts', 'test/e2e/canary-weight-skew.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Loopback e2e suites bind real ports and spawn processes; two cores run two files at once.
    pool: 'forks',
    maxWorkers: 2,
    // No retries anywhere: a test that needs one is a flaky test to fix, not to hide.
    retry: 0,
  },
});
