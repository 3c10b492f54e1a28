// The short drills (test/e2e/drill-short.test.ts) judge detection and recovery times against
// budgets, so they run after the rest of the suite with nothing beside them: on 2 cores
// another test file's load decides whether a guard or an alert acts first, not fulcrum.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

const DRILL_SUITES = ['test/e2e/drill-short.test.ts'];

export default defineConfig({
  ...base,
  test: { ...base.test, include: DRILL_SUITES, exclude: [] },
});
