// The audit as issue 6 asks: scheduled every two seconds against a live balancer; the
// running config is changed behind the file's back (drift) and traffic skews against the
// file's weights; both come back as failing findings, in history, in metrics and as an alert.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CheckResult } from '../../src/audit/types.ts';
import { auditCommand } from '../../src/cli/commands/audit.ts';
import type { CliIo } from '../../src/cli/io.ts';
import { startBalancer, type Balancer } from '../../src/main.ts';
import type { AuditRunRecord } from '../../src/store/store.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-audit-e2e-'));
let backends: FakeBackend[] = [];
let balancer: Balancer;

function config(weights: number[]): string {
  return `version: 1
listeners:
  web:
    address: 127.0.0.1:0
    routes:
      - match: { pathPrefix: /api }
        pool: app
pools:
  app:
    policy: weighted-round-robin
    healthCheck: { path: /healthz, interval: 500ms, timeout: 400ms, healthyThreshold: 2, unhealthyThreshold: 2 }
    backends:
${backends.map((b, i) => `      - { name: ${b.name}, address: "${b.address}", weight: ${weights[i]} }`).join('\n')}
audit:
  schedule: "*/2 * * * * *"
  checks: [lint, drift, health, distribution]
  distribution: { probes: 90, tolerance: 0.15 }
log: { level: silent, access: false }
`;
}

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(`${balancer.adminUrl}${path}`, init);
  expect(res.status, `${path}: ${res.status}`).toBeLessThan(300);
  return (await res.json()) as T;
}

const runs = async (): Promise<AuditRunRecord[]> =>
  (await api<{ runs: AuditRunRecord[] }>('/api/v1/audits?limit=50')).runs;
const findingsOf = (run: AuditRunRecord) =>
  (run.checks as CheckResult[]).flatMap((c) => c.findings.map((f) => ({ check: c.name, ...f })));

beforeAll(async () => {
  backends = await Promise.all(['b1', 'b2', 'b3'].map((name) => startFakeBackend({ name })));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(file, config([1, 1, 1]));
  balancer = await startBalancer({
    configFile: file,
    memoryStore: true,
    adminAddress: '127.0.0.1:0',
    logDestination: join(dir, 'log'),
  });
}, 20_000);

afterAll(async () => {
  await balancer?.close(200);
  await Promise.all(backends.map((b) => b.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('scheduled audits against a live balancer', () => {
  it('pass while the balancer matches its file, then report drift and skew as failing findings, history, metrics and an alert', async () => {
    // A clean scheduled run first (health checks need a moment to mark backends healthy).
    await vi.waitFor(
      async () =>
        expect((await runs()).some((r) => r.trigger === 'schedule' && r.status === 'pass')).toBe(true),
      { timeout: 12_000, interval: 250 },
    );

    // Behind the file's back: weights 8:1:1 through the API (forced past the weight-skew lint error).
    const applied = await api<{ status: string; version: number }>('/api/v1/config?force=1', {
      method: 'POST',
      headers: { 'content-type': 'application/yaml' },
      body: config([8, 1, 1]),
    });
    expect(applied.status).toBe('applied');

    let failing: AuditRunRecord | undefined;
    await vi.waitFor(
      async () => {
        failing = (await runs()).find(
          (r) => r.trigger === 'schedule' && r.configVersion === applied.version && r.status === 'fail',
        );
        expect(failing).toBeDefined();
      },
      { timeout: 12_000, interval: 250 },
    );
    const findings = findingsOf(failing!);
    expect(findings).toContainEqual(
      expect.objectContaining({
        check: 'drift',
        ruleId: 'drift',
        severity: 'error',
        path: 'pools.app.backends[0].weight',
      }),
    );
    expect(findings).toContainEqual(
      expect.objectContaining({
        check: 'distribution',
        ruleId: 'distribution-skew',
        severity: 'error',
        path: 'pools.app/b1',
      }),
    );
    expect(findings).toContainEqual(
      expect.objectContaining({ check: 'lint', ruleId: 'weight-skew', severity: 'error' }),
    );
    // Health agrees with the direct probes: no finding from that check.
    expect(findings.filter((f) => f.check === 'health' && f.severity === 'error')).toEqual([]);

    // History: the run is retrievable by id.
    expect(await api<AuditRunRecord>(`/api/v1/audits/${failing!.id}`)).toEqual(failing);

    // Metrics: failures counted, the earlier success timestamped.
    const metrics = await (await fetch(`${balancer.adminUrl}/metrics`)).text();
    expect(
      Number(/^fulcrum_audit_runs_total\{result="failure"\} (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(1);
    expect(
      Number(/^fulcrum_audit_runs_total\{result="success"\} (\d+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(1);
    expect(
      Number(/^fulcrum_audit_last_success_timestamp_seconds (\S+)$/m.exec(metrics)?.[1]),
    ).toBeGreaterThan(1.7e9);

    // The alert.
    await vi.waitFor(
      async () => {
        const { alerts } = await api<{ alerts: { alertname: string; state: string }[] }>('/api/v1/alerts');
        expect(alerts).toContainEqual(
          expect.objectContaining({ alertname: 'AuditFailing', state: 'firing' }),
        );
      },
      { timeout: 5000, interval: 250 },
    );

    // And `fulcrum audit --admin` gates on it: exit 2 with the drift in its report.
    const out: string[] = [];
    const io: CliIo = { out: (t) => void out.push(t), err: (t) => void out.push(t), env: {}, cwd: dir };
    expect(await auditCommand({ admin: balancer.adminUrl, checks: 'drift', format: 'markdown' }, io)).toBe(2);
    expect(out.join('')).toContain('`pools.app.backends[0].weight`');
  }, 40_000);
});
