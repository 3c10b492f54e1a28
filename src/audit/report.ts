// Renders an audit run for people and machines: text (terminal), JSON, Markdown (a PR or
// ticket comment) and one self-contained HTML file (inline CSS, no external assets, so it
// can be archived or mailed as is).
import type { AuditRunRecord } from '../store/store.ts';
import type { AuditFinding, CheckResult } from './types.ts';

export const REPORT_FORMATS = ['text', 'json', 'markdown', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The run's check results; tolerant of records written by other versions. */
export function checksOf(run: AuditRunRecord): CheckResult[] {
  return Array.isArray(run.checks) ? (run.checks as CheckResult[]) : [];
}

/** Findings of all checks, counted by severity. */
export function countFindings(results: readonly CheckResult[]): Record<AuditFinding['severity'], number> {
  const c = { error: 0, warning: 0, info: 0 };
  for (const r of results) for (const f of r.findings) c[f.severity]++;
  return c;
}

const counts = (run: AuditRunRecord): Record<AuditFinding['severity'], number> =>
  countFindings(checksOf(run));

const iso = (ms: number): string => new Date(ms).toISOString();

function summaryLine(run: AuditRunRecord): string {
  const c = counts(run);
  const v = run.configVersion === undefined ? '' : `, config version ${run.configVersion}`;
  return `audit ${run.id}: ${run.status.toUpperCase()} (${c.error} error, ${c.warning} warning, ${c.info} info; ${run.trigger}${v}; ${iso(run.startedAt)}, ${run.endedAt - run.startedAt} ms)`;
}

function renderText(run: AuditRunRecord): string {
  const lines = [summaryLine(run)];
  for (const r of checksOf(run)) {
    lines.push(
      '',
      `${r.status.toUpperCase().padEnd(7)} ${r.name} (${r.durationMs} ms)${r.reason ? `: ${r.reason}` : ''}`,
    );
    for (const n of r.notes ?? []) lines.push(`  · ${n}`);
    for (const f of r.findings) {
      lines.push(`  ${f.severity.padEnd(7)} ${f.ruleId}${f.path ? ` at ${f.path}` : ''}: ${f.message}`);
      lines.push(`          fix: ${f.remediation}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function renderMarkdown(run: AuditRunRecord): string {
  const c = counts(run);
  const out = [
    `# fulcrum audit: ${run.status.toUpperCase()}`,
    '',
    `- run: \`${run.id}\` (${run.trigger})`,
    `- started: ${iso(run.startedAt)}, took ${run.endedAt - run.startedAt} ms`,
    ...(run.configVersion === undefined ? [] : [`- config version: ${run.configVersion}`]),
    `- findings: ${c.error} error, ${c.warning} warning, ${c.info} info`,
    '',
    '| check | status | findings | ms | checked |',
    '|---|---|---|---|---|',
    ...checksOf(run).map(
      (r) =>
        `| ${r.name} | ${r.status}${r.reason ? ` (${mdCell(r.reason)})` : ''} | ${r.findings.length} | ${r.durationMs} | ${(r.notes ?? []).map(mdCell).join('<br>')} |`,
    ),
  ];
  const all = checksOf(run).flatMap((r) => r.findings.map((f) => [r.name, f] as const));
  if (all.length > 0) {
    out.push(
      '',
      '## Findings',
      '',
      '| severity | check | rule | where | message | remediation |',
      '|---|---|---|---|---|---|',
    );
    for (const [check, f] of all) {
      out.push(
        `| ${f.severity} | ${check} | \`${f.ruleId}\` | ${f.path ? `\`${mdCell(f.path)}\`` : ''} | ${mdCell(f.message)} | ${mdCell(f.remediation)} |`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;background:#fff}
h1{font-size:1.4rem}h1 .pass{color:#17703a}h1 .fail,h1 .error{color:#b3261e}
table{border-collapse:collapse;width:100%;margin:1rem 0}th,td{border:1px solid #d5d9e0;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f7}.sev-error{color:#b3261e;font-weight:600}.sev-warning{color:#8a5a00;font-weight:600}.sev-info{color:#385b9e}
code{font-family:ui-monospace,monospace;font-size:.92em}.meta{color:#555}`;

function renderHtml(run: AuditRunRecord): string {
  const c = counts(run);
  const e = escapeHtml;
  const rows = checksOf(run)
    .map(
      (r) =>
        `<tr><td>${e(r.name)}</td><td class="sev-${r.status === 'fail' || r.status === 'error' ? 'error' : 'info'}">${e(r.status)}</td><td>${r.findings.length}</td><td>${r.durationMs}</td><td>${[
          r.reason,
          ...(r.notes ?? []),
        ]
          .filter((x) => x !== undefined)
          .map(e)
          .join('<br>')}</td></tr>`,
    )
    .join('\n');
  const findings = checksOf(run)
    .flatMap((r) =>
      r.findings.map(
        (f: AuditFinding) =>
          `<tr><td class="sev-${f.severity}">${e(f.severity)}</td><td>${e(r.name)}</td><td><code>${e(f.ruleId)}</code></td><td><code>${e(f.path ?? '')}</code></td><td>${e(f.message)}</td><td>${e(f.remediation)}</td></tr>`,
      ),
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fulcrum audit ${e(run.id)}: ${e(run.status)}</title>
<style>${CSS}</style></head><body>
<h1>fulcrum audit: <span class="${e(run.status)}">${e(run.status.toUpperCase())}</span></h1>
<p class="meta">run <code>${e(run.id)}</code> (${e(run.trigger)}) started ${e(iso(run.startedAt))}, took ${run.endedAt - run.startedAt} ms${run.configVersion === undefined ? '' : `, config version ${run.configVersion}`}; ${c.error} error, ${c.warning} warning, ${c.info} info</p>
<table><thead><tr><th>check</th><th>status</th><th>findings</th><th>ms</th><th>note</th></tr></thead><tbody>
${rows}
</tbody></table>
${findings === '' ? '<p>No findings.</p>' : `<h2>Findings</h2>\n<table><thead><tr><th>severity</th><th>check</th><th>rule</th><th>where</th><th>message</th><th>remediation</th></tr></thead><tbody>\n${findings}\n</tbody></table>`}
</body></html>
`;
}

export function renderReport(run: AuditRunRecord, format: ReportFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(run, null, 2)}\n`;
    case 'markdown':
      return renderMarkdown(run);
    case 'html':
      return renderHtml(run);
    default:
      return renderText(run);
  }
}
