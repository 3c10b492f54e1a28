// The suites that judge detection and recovery times and failed shares against budgets: they
// run after the rest of the suite, one file at a time, with nothing beside them
// (vitest.drills.config.ts), and the main run leaves them out (vitest.config.ts). On 2 cores
// another test file's load decided whether a guard or an alert acted first and how fast a
// canary's two slices parted, not fulcrum; the fleet drill failed once beside other files
// and passed alone.
export const DRILL_SUITES = [
  'test/e2e/drill-short.test.ts',
  'test/e2e/canary-weight-skew.test.ts',
  'src/drill/scenarios/fleet-diverging-view.test.ts',
];
