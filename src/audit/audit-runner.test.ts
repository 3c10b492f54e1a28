import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LoadedConfig } from '../config/load.ts';
import { loadOrThrow } from '../testing/config-kit.ts';
import { systemClock } from '../core/clock.ts';
import { EventHub } from '../core/events.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import { buildSnapshot } from '../data-plane/snapshot.ts';
import { openMemoryStore } from '../store/memory-store.ts';
import { AuditRunner, validateSchedule, type AuditDeps } from './audit-runner.ts';
import { registerCheck } from './check-registry.ts';
import type { CheckResult } from './types.ts';

const text = (weight: number, audit = "audit: { schedule: '' }") => `version: 1
listeners:
  web: { address: 127.0.0.1:0, routes: [{ pool: app }] }
pools:
  app:
    backends:
      - { name: a, address: 127.0.0.1:1, weight: ${weight} }
      - { name: b, address: 127.0.0.1:2 }
${audit}
`;

const load = (t: string): LoadedConfig => loadOrThrow(t, { source: 'fulcrum.yaml' });

// A check the test can hold open, to prove runs never overlap.
let release: (() => void) | undefined;
let slowRuns = 0;
registerCheck({
  name: 'test-slow',
  description: 'waits until released',
  live: false,
  async run() {
    slowRuns++;
    await new Promise<void>((r) => (release = r));
    return { findings: [] };
  },
});
registerCheck({
  name: 'test-throws',
  description: 'always throws',
  live: false,
  async run() {
    throw new Error('boom');
  },
});

const runners: AuditRunner[] = [];
afterEach(() => {
  for (const r of runners.splice(0)) r.stop();
  release?.();
});

async function setup(runningText: string, desiredText: string | undefined, checks?: string[]) {
  const store = await openMemoryStore();
  const hub = new EventHub();
  const notices: { type: string; data: Record<string, unknown> }[] = [];
  hub.notices.subscribe((n) => notices.push(n));
  const recorded: { ok: boolean; at: number }[] = [];
  const parsed = load(runningText);
  // The schema accepts only the built-in check names; test checks are registered beside them.
  const loaded =
    checks === undefined
      ? parsed
      : ({
          ...parsed,
          config: { ...parsed.config, audit: { ...parsed.config.audit, checks } },
        } as LoadedConfig);
  const snapshot = buildSnapshot(loaded.config, 4, new HostRegistry());
  const deps: AuditDeps = {
    store,
    hub,
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    getSnapshot: () => snapshot,
    getLoaded: () => loaded,
    desired: async () =>
      desiredText === undefined ? undefined : { text: desiredText, origin: 'fulcrum.yaml' },
    describeHealth: () => [],
    proxyAddress: () => undefined,
    auditSecret: 'secret',
    recordAudit: (r) => recorded.push(r),
  };
  const runner = new AuditRunner(deps);
  runners.push(runner);
  return { runner, store, notices, recorded };
}

describe('AuditRunner', () => {
  it('a run with a drift and a lint error fails, is stored, recorded and announced', async () => {
    const { runner, store, notices, recorded } = await setup(text(10), text(1));
    const run = await runner.runNow('api', ['lint', 'drift']);
    expect(run).toMatchObject({ status: 'fail', trigger: 'api', configVersion: 4 });
    const checks = run.checks as CheckResult[];
    expect(checks.map((c) => [c.name, c.status])).toEqual([
      ['lint', 'fail'],
      ['drift', 'fail'],
    ]);
    expect(checks[1]!.findings[0]).toMatchObject({ ruleId: 'drift', path: 'pools.app.backends[0].weight' });
    expect(await store.getAuditRun(run.id)).toEqual(run);
    expect(recorded).toEqual([{ ok: false, at: run.endedAt }]);
    expect(notices).toEqual([
      expect.objectContaining({
        type: 'audit-finished',
        data: expect.objectContaining({ id: run.id, status: 'fail' }),
      }),
    ]);
  });

  it('passes a clean config, and defaults to config.audit.checks', async () => {
    const clean = text(1, "audit: { schedule: '', checks: [drift] }");
    const { runner, recorded } = await setup(clean, clean);
    const run = await runner.runNow('cli');
    expect(run.status).toBe('pass');
    expect((run.checks as CheckResult[]).map((c) => c.name)).toEqual(['drift']);
    expect(recorded[0]!.ok).toBe(true);
  });

  it('a check that throws makes the run "error" without stopping the other checks', async () => {
    const clean = text(1);
    const { runner } = await setup(clean, clean);
    const run = await runner.runNow('api', ['test-throws', 'drift']);
    expect(run.status).toBe('error');
    expect((run.checks as CheckResult[]).map((c) => [c.name, c.status, c.reason, c.code])).toEqual([
      ['test-throws', 'error', 'boom', 'FULCRUM_ERR_AUDIT_FAILED'],
      ['drift', 'pass', undefined, undefined],
    ]);
  });

  it('a store that cannot save still yields the run, recorded and announced', async () => {
    const clean = text(1);
    const { runner, store, notices, recorded } = await setup(clean, clean);
    store.saveAuditRun = async () => {
      throw new Error('disk full');
    };
    const run = await runner.runNow('api', ['drift']);
    expect(run.status).toBe('pass');
    expect(recorded).toHaveLength(1);
    expect(notices).toHaveLength(1);
  });

  it('rejects unknown check names with a stable code', async () => {
    const { runner } = await setup(text(1), undefined);
    await expect(runner.runNow('api', ['lint', 'nope'])).rejects.toMatchObject({
      code: 'FULCRUM_ERR_AUDIT_UNKNOWN_CHECK',
    });
  });

  it('on-demand runs queue behind the run in progress instead of overlapping', async () => {
    slowRuns = 0;
    const { runner } = await setup(text(1), undefined);
    const first = runner.runNow('api', ['test-slow']);
    const second = runner.runNow('api', ['test-slow']);
    await vi.waitFor(() => expect(slowRuns).toBe(1));
    expect(runner.stats().running).toBe(true);
    release!();
    await first;
    await vi.waitFor(() => expect(slowRuns).toBe(2));
    release!();
    await second;
    expect(runner.stats()).toMatchObject({ runs: 2, running: false });
  });

  it('runs on a cron schedule, and counts ticks missed while a run is in progress', async () => {
    slowRuns = 0;
    const { runner, store } = await setup(text(1, "audit: { schedule: '* * * * * *' }"), undefined, [
      'test-slow',
    ]);
    runner.schedule(load(text(1, "audit: { schedule: '* * * * * *' }")).config.audit);
    expect(runner.stats().nextRunAt).toBeGreaterThan(Date.now() - 1);
    await vi.waitFor(() => expect(slowRuns).toBe(1), { timeout: 3000 });
    // Hold the run across at least one more second tick.
    await vi.waitFor(() => expect(runner.stats().missed).toBeGreaterThanOrEqual(1), { timeout: 3000 });
    release!();
    await vi.waitFor(async () => expect((await store.listAuditRuns()).length).toBeGreaterThanOrEqual(1), {
      timeout: 3000,
    });
    const [run] = await store.listAuditRuns();
    expect(run).toMatchObject({ trigger: 'schedule', status: 'pass' });
    runner.stop();
    expect(runner.stats()).toMatchObject({ schedule: '', nextRunAt: undefined });
  });

  it('an empty schedule is off; a bad pattern is reported, not thrown', async () => {
    const { runner } = await setup(text(1), undefined);
    runner.schedule(load(text(1)).config.audit);
    expect(runner.stats().nextRunAt).toBeUndefined();
    runner.schedule({ ...load(text(1)).config.audit, schedule: 'every tuesday' });
    expect(runner.stats().scheduleError).toBeDefined();
    expect(validateSchedule('every tuesday')).toBeDefined();
    expect(validateSchedule('*/15 * * * *')).toBeUndefined();
    expect(validateSchedule('')).toBeUndefined();
  });
});
