// Findings for people in a terminal: grouped under the file, line first, one finding per
// three short lines (where and what, why, how to fix), then a one-line summary.
import type { Finding, Severity } from './types.ts';

const SGR: Record<Severity | 'dim' | 'bold', number> = { error: 31, warning: 33, info: 36, dim: 2, bold: 1 };

export function countBySeverity(findings: readonly Finding[]): Record<Severity, number> {
  const counts: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) counts[f.severity]++;
  return counts;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function renderFindingsText(file: string, findings: readonly Finding[], color: boolean): string {
  const paint = (code: keyof typeof SGR, text: string): string =>
    color ? `\u001b[${SGR[code]}m${text}\u001b[0m` : text;
  if (findings.length === 0) return `${file}: no findings\n`;
  const lineWidth = Math.max(...findings.map((f) => String(f.line ?? '').length));
  const sevWidth = Math.max(...findings.map((f) => f.severity.length));
  const idWidth = Math.max(...findings.map((f) => f.ruleId.length));
  const indent = ' '.repeat(2 + lineWidth + 2);
  const lines = [paint('bold', file)];
  for (const f of findings) {
    const where = String(f.line ?? '').padStart(lineWidth);
    lines.push(
      `  ${paint('dim', where)}  ${paint(f.severity, f.severity.padEnd(sevWidth))}  ${f.ruleId.padEnd(idWidth)}  ${f.path}`,
      `${indent}${f.message}`,
      f.suppressed === undefined
        ? `${indent}${paint('dim', `fix: ${f.remediation}`)}`
        : `${indent}${paint('dim', `suppressed ${f.suppressed.severity} (lint.suppress): ${f.suppressed.reason}`)}`,
    );
  }
  const c = countBySeverity(findings);
  const suppressed = findings.filter((f) => f.suppressed !== undefined).length;
  lines.push(
    '',
    `${plural(c.error, 'error')}, ${plural(c.warning, 'warning')}, ${c.info} info${suppressed === 0 ? '' : ` (${suppressed} suppressed)`}`,
  );
  return `${lines.join('\n')}\n`;
}
