// Issue 2 "done when": SIGTERM during a steady load loses no request that had been accepted.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { spawnCli } from '../helpers/cli.ts';
import { startLoad } from '../helpers/load.ts';
import { testWorkers } from '../helpers/balancer.ts';

let backends: FakeBackend[];
beforeAll(async () => {
  backends = await startFakeBackends(2, 'app-');
  for (const b of backends) await b.setMode('slow', { latencyMs: 150 });
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

function writeConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-sigterm-'));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(
    file,
    YAML.stringify({
      version: 1,
      ...testWorkers(),
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          policy: 'round-robin',
          backends: backends.map((b) => ({ name: b.name, address: b.address })),
          healthCheck: { interval: '1s', timeout: '500ms' },
        },
      },
      admin: { address: '127.0.0.1:0' },
      store: { sqlite: join(dir, 'state.db') },
      log: { level: 'info', access: false },
    }),
  );
  return file;
}

describe('graceful shutdown of `fulcrum start`', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'on %s finishes every accepted request, then exits 0',
    async (signal) => {
      const started = spawnCli(
        ['start', '-c', writeConfig(), '--force', '--grace', '5s'],
        /"listeners":\{"web":"127\.0\.0\.1:(\d+)"/,
      );
      const { child, match } = await started;
      const port = Number(match[1]);
      const before = backends.reduce((n, b) => n + b.requests, 0);
      const answeredBefore = backends.reduce((n, b) => n + b.answered, 0);
      const load = startLoad({ url: `http://127.0.0.1:${port}/`, concurrency: 16, maxMs: 15_000 });
      await new Promise((r) => setTimeout(r, 700));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill(signal);
      const code = await exited;
      const result = await load.stop();
      const forwarded = backends.reduce((n, b) => n + b.requests, 0) - before;
      const answered = backends.reduce((n, b) => n + b.answered, 0) - answeredBefore;
      console.log(
        `${signal}: ${result.ok} ok, forwarded ${forwarded}, answered by the backends ${answered}, client errors ${JSON.stringify(result.errors)}`,
      );
      expect(code).toBe(0);
      expect(result.ok).toBeGreaterThan(30);
      // No answer from fulcrum itself (502/503/504), and every answer a backend wrote reached
      // its client (a request retried after a reset is seen twice, answered once).
      expect(result.statuses).toEqual({});
      expect(result.ok).toBe(answered);
      // Whatever failed, failed to connect: it was never accepted.
      for (const c of Object.keys(result.errors))
        expect(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']).toContain(c);
    },
    30_000,
  );
});
