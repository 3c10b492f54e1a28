// The short drills and the weight-skew canary judge detection and recovery times and failed
// shares against budgets, so they run after the rest of the suite, one file at a time, with
// nothing beside them: on 2 cores another test file's load decided whether a guard or an
// alert acted first, and how fast a canary's two slices parted, not fulcrum.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

const DRILL_SUITES = ['test/e2e/drill-short.test.ts', 'test/e2e/canary-weight-skew.test.ts'];

export default defineConfig({
  ...base,
  test: { ...base.test, include: DRILL_SUITES, exclude: [], maxWorkers: 1 },
});
