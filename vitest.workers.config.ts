// The e2e suites that start a whole balancer (test/helpers/balancer.ts), run again with
// `workers: 2` (FULCRUM_TEST_WORKERS, set by `npm run test:workers`): the multi-threaded data
// plane must pass what the single thread passes. Suites that drive a ProxyServer directly
// (test/helpers/proxy-harness.ts) run the same code a worker runs and are not repeated.
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

const WORKER_SUITES = [
  'access-log',
  'admin-browser-guard',
  'admin-guard-review',
  'admin-guard',
  'admin',
  'backend-kill',
  'backend-refused',
  'cli-admin-guard',
  'cli-ops',
  'cli',
  'config-apply',
  'dashboard-drain',
  'distribution',
  'drain',
  'guard',
  'lint-suppress',
  'metrics-runtime',
  'readiness',
  'refused-apply',
  // These write their own config file (with ...testWorkers()) and start `fulcrum start` or
  // startBalancer themselves: SIGTERM and SIGINT drain every worker, SIGHUP and --watch apply
  // to all of them.
  'backend-kill-load',
  'reload-signals',
  'secrets',
  'shutdown',
  'start-history',
  'watch',
];

// Not mergeConfig: it would append this include list to the base one instead of replacing it.
export default defineConfig({
  ...base,
  test: { ...base.test, include: WORKER_SUITES.map((s) => `test/e2e/${s}.test.ts`) },
});
