import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Loopback e2e suites bind real ports and spawn processes; two cores run two files at once.
    pool: 'forks',
    maxWorkers: 2,
    // On CI's shared 2-core runner a loopback timing test can lose a race to the other worker;
    // one retry there keeps a real failure red (it fails twice) without flaking the build.
    // Locally there is no retry, so a flaky test shows up where it can be fixed.
    retry: process.env['CI'] ? 1 : 0,
  },
});
