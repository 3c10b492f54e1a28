// Per-rule lint suppression end to end: a single-backend pool with a reviewed suppression
// validates, lints clean, starts and applies without --force, and the lint audit passes and
// lists it; a suppression without a reason, or naming an unknown rule, is a config error.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { runCli } from '../helpers/cli.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

let backends: FakeBackend[] = [];
let lb: TestBalancer | undefined;

afterEach(async () => {
  await lb?.close();
  lb = undefined;
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

const SUPPRESS = [{ rule: 'single-backend', path: 'pools.canary', reason: 'singleton service' }];

/** Two pools: `app` with three backends, `canary` with one (a single-backend error unless suppressed). */
function config(bs: FakeBackend[], suppress: unknown[] | undefined): Record<string, unknown> {
  const [c, ...rest] = bs as [FakeBackend, ...FakeBackend[]];
  const check = { healthCheck: { path: '/healthz', interval: '1s' } };
  return {
    version: 1,
    log: { level: 'silent', access: false },
    audit: { schedule: '' },
    listeners: {
      web: {
        address: '127.0.0.1:0',
        routes: [{ match: { pathPrefix: '/canary' }, pool: 'canary' }, { pool: 'app' }],
      },
    },
    pools: {
      app: { backends: rest.map((b) => ({ name: b.name, address: b.address })), ...check },
      canary: { backends: [{ name: c.name, address: c.address }], ...check },
    },
    ...(suppress === undefined ? {} : { lint: { suppress } }),
  };
}

function write(doc: Record<string, unknown>): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-suppress-')), 'fulcrum.yaml');
  writeFileSync(file, YAML.stringify(doc));
  return file;
}

// Each CLI call is a process start: seconds apiece on a loaded 2-core machine.
describe('lint suppression', { timeout: 180_000 }, () => {
  it('lets a single-backend pool validate, lint, start and apply without --force, reported as suppressed', async () => {
    backends = await startFakeBackends(4, 's');
    const unsuppressed = write(config(backends, undefined));
    const file = write(config(backends, SUPPRESS));

    // Without the suppression: a lint error (exit 2) and a refused start.
    const bad = await runCli(['lint', unsuppressed]);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toMatch(/error +single-backend +pools\.canary\.backends/);
    await expect(startTestBalancer(config(backends, undefined))).rejects.toMatchObject({
      code: 'FULCRUM_ERR_CONFIG_LINT',
    });

    const valid = await runCli(['validate', file]);
    expect(valid.code).toBe(0);
    const lint = await runCli(['lint', file]);
    expect(lint.code).toBe(0);
    expect(lint.stdout).toMatch(/info +single-backend +pools\.canary\.backends/);
    expect(lint.stdout).toContain('suppressed error (lint.suppress): singleton service');
    expect(lint.stdout).toContain('0 errors');
    expect(lint.stdout).toContain('(1 suppressed)');
    const json = JSON.parse((await runCli(['lint', file, '--format', 'json'])).stdout) as any;
    const findings = (json.findings ?? json) as any[];
    expect(findings.find((f) => f.ruleId === 'single-backend')).toMatchObject({
      severity: 'info',
      path: 'pools.canary.backends',
      suppressed: { severity: 'error', reason: 'singleton service' },
    });
    const sarif = JSON.parse((await runCli(['lint', file, '--format', 'sarif'])).stdout) as any;
    const result = sarif.runs[0].results.find((r: any) => r.ruleId === 'single-backend');
    expect(result.suppressions).toEqual([{ kind: 'inSource', justification: 'singleton service' }]);

    // start (no force) and a CLI apply (no --force) of a changed file both go through.
    lb = await startTestBalancer(config(backends, SUPPRESS));
    const changed = config(backends, SUPPRESS);
    (changed['monitor'] as unknown) = { window: '30s' };
    const apply = await runCli(['apply', write(changed), '--admin', lb.adminUrl]);
    expect(apply.stderr).toBe('');
    expect(apply.code).toBe(0);
    expect(apply.stdout).toMatch(/applied version 2/);
    expect(apply.stdout).toContain('[single-backend] (suppressed error: singleton service)');

    // The lint audit passes and names the suppressed finding.
    const res = await fetch(`${lb.adminUrl}/api/v1/audits`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ checks: ['lint'] }),
    });
    const run = (await res.json()) as any;
    expect(run.status).toBe('pass');
    const check = run.checks.find((c: any) => c.name === 'lint');
    expect(check.status).toBe('pass');
    expect(check.findings.find((f: any) => f.ruleId === 'single-backend')).toMatchObject({
      severity: 'info',
      data: { suppressed: { severity: 'error', reason: 'singleton service' } },
    });
    expect(check.notes[0]).toContain('1 suppressed by lint.suppress');
  });

  it('suppresses only the rule and path named', async () => {
    // Three backends: app gets two (a few-backends warning), canary one.
    backends = await startFakeBackends(3, 's');
    // Another path: the canary finding stays an error.
    const elsewhere = write(config(backends, [{ rule: 'single-backend', path: 'pools.app', reason: 'r' }]));
    const r = await runCli(['lint', elsewhere]);
    expect(r.code).toBe(2);
    expect(r.stdout).toMatch(/error +single-backend +pools\.canary\.backends/);
    // No path: the rule is suppressed everywhere; other rules still run (few-backends warns on app).
    const everywhere = write(config(backends, [{ rule: 'single-backend', reason: 'r' }]));
    const all = await runCli(['lint', everywhere]);
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/warning +few-backends +pools\.app\.backends/);
    expect(all.stdout).toMatch(/info +single-backend +pools\.canary\.backends/);
  });

  it('refuses a suppression without a reason, with an empty reason, or of an unknown rule', async () => {
    backends = await startFakeBackends(4, 's');
    const noReason = await runCli([
      'validate',
      write(config(backends, [{ rule: 'single-backend', path: 'pools.canary' }])),
    ]);
    expect(noReason.code).toBe(2);
    expect(noReason.stdout + noReason.stderr).toMatch(/lint\.suppress\[0\]\.reason.*is required/);
    const empty = await runCli([
      'validate',
      write(config(backends, [{ rule: 'single-backend', reason: '  ' }])),
    ]);
    expect(empty.code).toBe(2);
    expect(empty.stdout + empty.stderr).toMatch(/lint\.suppress\[0\]\.reason.*must not be empty/);
    const typo = await runCli(['lint', write(config(backends, [{ rule: 'single-backends', reason: 'x' }]))]);
    expect(typo.code).toBe(2);
    expect(typo.stdout + typo.stderr).toMatch(
      /lint\.suppress\[0\]\.rule.*unknown lint rule "single-backends".*did you mean "single-backend"/s,
    );
    expect(typo.stdout + typo.stderr).toContain('FULCRUM_ERR_CONFIG_INVALID');
  });
});
