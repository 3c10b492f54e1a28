import { defineConfig } from 'vitest/config';
import { DRILL_SUITES } from './vitest.drill-suites.ts';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // Run alone after the rest (vitest.drills.config.ts): their budgets are timings.
    exclude: ['**/node_modules/**', ...DRILL_SUITES],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Loopback e2e suites bind real ports and spawn processes; two cores run two files at once.
    pool: 'forks',
    maxWorkers: 2,
    // No retries anywhere: a test that needs one is a flaky test to fix, not to hide.
    retry: 0,
  },
});
