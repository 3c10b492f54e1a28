// The budget-judging suites (vitest.drill-suites.ts), alone after the rest, one file at a time.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';
import { DRILL_SUITES } from './vitest.drill-suites.ts';

export default defineConfig({
  ...base,
  test: { ...base.test, include: DRILL_SUITES, exclude: [], maxWorkers: 1 },
});
