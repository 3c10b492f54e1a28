// Issue 4 item 6: `fulcrum start --watch` applies edits of the file through the same path;
// a bad edit keeps the running version and logs the findings.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { spawnCli } from '../helpers/cli.ts';
import { testWorkers } from '../helpers/balancer.ts';

let backends: FakeBackend[];
beforeAll(async () => {
  backends = await startFakeBackends(3, 'app-');
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

function config(weights: number[], adminPort: number): string {
  return YAML.stringify({
    version: 1,
    ...testWorkers(),
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'weighted-round-robin',
        backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })),
        healthCheck: { interval: '1s', timeout: '500ms' },
      },
    },
    admin: { address: `127.0.0.1:${adminPort}` },
    log: { level: 'info', access: false },
  });
}

async function until<T>(fn: () => Promise<T | undefined>, ms: number): Promise<T | undefined> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

describe('fulcrum start --watch', () => {
  it('applies a good edit, refuses a bad one and keeps running the last good version', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-watch-'));
    const file = join(dir, 'fulcrum.yaml');
    // Find a free admin port by letting the first start pick one, then keep it in every edit.
    writeFileSync(file, config([1, 1, 1], 0));
    const { child, output } = await spawnCli(
      ['start', '-c', file, '--watch', '--memory-store'],
      /"admin":"http:\/\/127\.0\.0\.1:(\d+)"/,
    );
    try {
      const admin = /"admin":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output())?.[1] as string;
      const adminPort = Number(new URL(admin).port);
      const version = async () =>
        (await (await fetch(`${admin}/api/v1/config`)).json()) as {
          version: number;
          source: string;
          text: string;
        };
      const v1 = await version();

      writeFileSync(file, config([2, 1, 1], adminPort));
      const v2 = await until(async () => {
        const v = await version();
        return v.version > v1.version ? v : undefined;
      }, 5000);
      expect(v2?.source).toBe('watch');
      expect(v2?.text).toContain('weight: 2');

      // A schema error: refused, logged with its path, running version unchanged.
      writeFileSync(file, config([2, 1, 1], adminPort).replace('weight: 2', 'weight: -2'));
      const logged = await until(
        async () => (output().includes('watched config refused') ? true : undefined),
        5000,
      );
      expect(logged).toBe(true);
      expect(output()).toContain('pools.app.backends[0].weight');
      expect((await version()).version).toBe(v2?.version);

      // A lint error (the postmortem skew): refused too.
      writeFileSync(file, config([30, 1, 1], adminPort));
      await until(async () => (output().includes('FULCRUM_ERR_CONFIG_LINT') ? true : undefined), 5000);
      expect(output()).toContain('FULCRUM_ERR_CONFIG_LINT');
      expect((await version()).version).toBe(v2?.version);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
    }
  }, 30_000);
});
