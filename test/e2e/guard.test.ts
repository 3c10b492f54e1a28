// Issue 4 "done when": a guarded apply of a config that overloads one backend (it answers
// 503 beyond its capacity) is rolled back by the balancer within the guard window, the CLI
// exits 2 with the reason, and the history shows why.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, weightedConfig, type TestBalancer } from '../helpers/balancer.ts';
import { runCli } from '../helpers/cli.ts';
import { startLoad } from '../helpers/load.ts';

let backends: FakeBackend[];
let tb: TestBalancer;

function config(weights: number[]): Record<string, unknown> {
  return weightedConfig(port, backends, weights);
}
let port = 0;

beforeAll(async () => {
  // Each backend serves at most 4 requests at once and answers 503 beyond, like the postmortem's.
  backends = await Promise.all(
    [1, 2, 3].map((i) => startFakeBackend({ name: `app-${i}`, latencyMs: 20, capacity: 4 })),
  );
  tb = await startTestBalancer(config([1, 1, 1]), { force: true });
  port = Number(new URL(tb.url()).port);
  // Re-apply with the bound port so later files differ only in weights.
  await fetch(`${tb.adminUrl}/api/v1/config`, {
    method: 'POST',
    headers: { 'content-type': 'application/yaml' },
    body: YAML.stringify(config([1, 1, 1])),
  });
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('guarded apply', () => {
  it('rolls back an overloading config by itself and records why', async () => {
    const base = (await (await fetch(`${tb.adminUrl}/api/v1/config`)).json()) as {
      version: number;
      text: string;
    };
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 8, maxMs: 60_000 });
    await new Promise((r) => setTimeout(r, 3000)); // the minutes before, in short
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-guard-'));
    const file = join(dir, 'skewed.yaml');
    writeFileSync(file, YAML.stringify(config([12, 1, 1])));
    const t0 = Date.now();
    const cli = await runCli(
      ['apply', file, '--admin', tb.adminUrl, '--force', '--guard', '30s', '-m', 'skew app-1'],
      {},
      60_000,
    );
    const elapsed = Date.now() - t0;
    const result = await load.stop();
    console.log(`guard rolled back after ${elapsed} ms; load: ${result.ok} ok, ${result.failures} failed`);
    expect(cli.code, cli.stdout + cli.stderr).toBe(2);
    expect(cli.stderr).toMatch(/guard rolled back version \d+: error ratio/);
    // It names where the errors come from: the backend the skew overloaded.
    expect(cli.stderr).toContain(`most errors on app/${backends[0]!.name}`);
    expect(elapsed).toBeLessThan(30_000);
    const current = (await (await fetch(`${tb.adminUrl}/api/v1/config`)).json()) as {
      text: string;
      source: string;
      message: string;
    };
    expect(current.text).toBe(base.text);
    expect(current.source).toBe('guard');
    expect(current.message).toMatch(/guard rolled back version \d+: error ratio/);
    const events = (await (await fetch(`${tb.adminUrl}/api/v1/config/events`)).json()) as {
      events: { type: string; data: { reason: string } }[];
    };
    expect(
      events.events.some((e) => e.type === 'guard-rollback' && e.data.reason.includes('error ratio')),
    ).toBe(true);
  }, 90_000);

  it('keeps a good config once the guard window passes', async () => {
    const load = startLoad({ url: `${tb.url()}/`, concurrency: 4, maxMs: 30_000 });
    // The baseline the guard compares with is the load before the apply: over 1 s of it, a
    // busy machine's stall landed only after the apply and read as a p99 regression of a good
    // config (seen with a second copy of the suite running beside). Over 5 s the baseline
    // holds such stalls too, as minutes of an operator's traffic would.
    await new Promise((r) => setTimeout(r, 5000));
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-guard-'));
    const file = join(dir, 'fine.yaml');
    writeFileSync(file, YAML.stringify(config([2, 2, 1])));
    const cli = await runCli(['apply', file, '--admin', tb.adminUrl, '--guard', '3s'], {}, 60_000);
    await load.stop();
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/guard passed/);
  }, 60_000);
});
