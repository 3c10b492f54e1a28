import { describe, expect, it } from 'vitest';
import type { AuditRunRecord } from '../store/store.ts';
import { renderReport } from './report.ts';
import type { CheckResult } from './types.ts';

const checks: CheckResult[] = [
  { name: 'lint', status: 'pass', durationMs: 3, findings: [], notes: ['fulcrum.yaml: 0 lint finding(s)'] },
  {
    name: 'drift',
    status: 'fail',
    durationMs: 4,
    findings: [
      {
        ruleId: 'drift',
        severity: 'error',
        path: 'pools.app.backends[0].weight',
        message: 'running 10, desired 1 <script>alert(1)</script> | pipe',
        remediation: 'Apply the file.',
      },
    ],
  },
  { name: 'health', status: 'error', durationMs: 1, findings: [], reason: 'probe exploded' },
];
const run: AuditRunRecord = {
  id: 'run-1',
  startedAt: Date.UTC(2026, 0, 1),
  endedAt: Date.UTC(2026, 0, 1) + 12,
  status: 'fail',
  trigger: 'cli',
  configVersion: 3,
  checks,
};

describe('renderReport', () => {
  it('text names the status, each check and each finding with its fix', () => {
    const t = renderReport(run, 'text');
    expect(t).toContain('audit run-1: FAIL (1 error, 0 warning, 0 info; cli, config version 3');
    expect(t).toContain('FAIL    drift (4 ms)');
    expect(t).toContain('error   drift at pools.app.backends[0].weight: running 10');
    expect(t).toContain('fix: Apply the file.');
    expect(t).toContain('ERROR   health (1 ms): probe exploded');
    expect(t).toContain('PASS    lint (3 ms)\n  · fulcrum.yaml: 0 lint finding(s)');
  });

  it('json round-trips the run', () => {
    expect(JSON.parse(renderReport(run, 'json'))).toEqual(run);
  });

  it('markdown has a check table and escapes pipes in cells', () => {
    const md = renderReport(run, 'markdown');
    expect(md).toContain('# fulcrum audit: FAIL');
    expect(md).toContain('| drift | fail | 1 | 4 |  |');
    expect(md).toContain('| lint | pass | 0 | 3 | fulcrum.yaml: 0 lint finding(s) |');
    expect(md).toContain('\\| pipe');
  });

  it('html is one self-contained file with the findings escaped', () => {
    const html = renderReport(run, 'html');
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<style>');
    expect(html).not.toMatch(/<script|<link|src=|href=|@import|url\(/i);
    expect(html).toContain('&#60;script&#62;alert(1)&#60;/script&#62;');
    expect(html).toContain('pools.app.backends[0].weight');
  });
});
