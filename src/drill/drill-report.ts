// A drill's result for people: the timeline in the postmortem's style and a table beside
// the postmortem's figures (about 2 h to find the cause, 4 h to recover, 30% of users
// failing). JSON output is the DrillResult itself.
import type { DrillProgress, DrillResult } from './drill-runner.ts';

/** The incident the drills replay, as its postmortem tells it (seed/postmortem.md). */
export const POSTMORTEM = {
  detect: 'about 2 h (alerts 22:00, cause found 00:00)',
  recover: '4 h (22:00 to 02:00)',
  failed: '30% of users got 503',
} as const;

export function fmtSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function fmtAt(ms: number): string {
  return `T${ms < 0 ? '-' : '+'}${(Math.abs(ms) / 1000).toFixed(1)} s`;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const mark = (ok: boolean): string => (ok ? 'ok' : 'MISSED');

export function renderDrillText(r: DrillResult): string {
  const lines: string[] = [];
  lines.push(`drill ${r.scenario}${r.short ? ' (short)' : ''}: ${r.title}`);
  lines.push(`  ${r.story}`);
  lines.push(
    `  ${r.backends.length} backends of capacity ${r.backends[0]?.capacity ?? '?'} concurrent × ${r.backends[0] ? r.backends[0].serviceMs : '?'} ms, open-loop load ${r.rate} req/s`,
  );
  lines.push('', `What lint says of the ${r.lint.of} (the cheapest detection):`);
  if (r.lint.findings.length === 0)
    lines.push('  no findings: lint cannot see this fault, only the running system can');
  for (const f of r.lint.findings)
    lines.push(`  ${f.severity.padEnd(7)} ${f.ruleId} at ${f.path}: ${f.message}`);
  lines.push('', 'Timeline (T = the fault):');
  for (const e of r.timeline) lines.push(`- **${fmtAt(e.atMs)}:** ${e.text}`);
  if (r.detection === null) lines.push(`- no alert named the cause within the drill`);
  if (r.recovery === null) lines.push(`- no recovery within the drill`);
  const t = r.requests.total;
  const rows: [string, string, string, string, string][] = [
    ['', 'postmortem', 'this drill', 'budget', ''],
    [
      'time to detect the cause',
      POSTMORTEM.detect,
      r.detection ? `${fmtSeconds(r.detection.afterMs)} (${r.detection.alertname})` : 'not detected',
      `< ${fmtSeconds(r.budgets.detectMs)}`,
      mark(r.verdict.detected),
    ],
    [
      'time to recover',
      POSTMORTEM.recover,
      r.recovery ? fmtSeconds(r.recovery.afterMs) : 'not recovered',
      `< ${fmtSeconds(r.budgets.recoverMs)}`,
      mark(r.verdict.recovered),
    ],
    [
      'failed requests',
      POSTMORTEM.failed,
      `${pct(t.failedShare)} (${t.failed} of ${t.requests}; ${pct(r.requests.incident.failedShare)} during the incident)`,
      `< ${pct(r.budgets.failedShare)}`,
      mark(r.verdict.failures),
    ],
  ];
  const w = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((row) => row[i]?.length ?? 0)));
  lines.push('');
  for (const row of rows)
    lines.push(
      row
        .map((c, i) => c.padEnd(w[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  if (r.policies) {
    lines.push('', 'Same slow backend under each policy:');
    for (const [policy, s] of Object.entries(r.policies)) {
      lines.push(
        `  ${policy.padEnd(12)} ${pct(s.failedShare).padStart(6)} failed of ${s.requests}, p99 ${s.p99Ms ?? '-'} ms`,
      );
    }
  }
  const fn = r.firstNamed;
  if (fn !== null && (r.detection === null || fn.afterMs < r.detection.afterMs - 1)) {
    lines.push(
      '',
      `First alert naming the cause (${fn.state === 'pending' ? 'pending, before its `for`' : 'firing'}): ${fmtAt(fn.afterMs)} ${fn.alertname}: ${fn.summary}`,
    );
  }
  if (r.detection?.cause) lines.push('', `Cause as the alert named it: ${r.detection.cause}`);
  const unseen = r.expected.filter((e) => !e.seen);
  if (unseen.length > 0) {
    lines.push('', 'MISSED: alerts that never fired naming their cause:');
    for (const e of unseen) lines.push(`  ${e.alertname} on ${e.backend} (${e.causeKind})`);
  }
  if (r.misnamed.length > 0) {
    lines.push('', 'MISSED: alerts that misnamed the incident:');
    for (const m of r.misnamed) lines.push(`  ${m.alertname}: ${m.why} (${m.summary})`);
  }
  lines.push('', `${r.verdict.passed ? 'PASS' : 'FAIL'}: ${r.scenario}`);
  return `${lines.join('\n')}\n`;
}

/** The closing line of a run over several scenarios: which missed, and what each missed. */
export function drillSummaryLine(results: readonly DrillResult[]): string {
  const missed = results.filter((r) => !r.verdict.passed);
  const passed = results.filter((r) => r.verdict.passed).map((r) => r.scenario);
  if (missed.length === 0) return `all ${results.length} drills passed: ${passed.join(', ')}`;
  const what = (r: DrillResult): string => {
    const v = r.verdict;
    const parts = [
      v.detected ? '' : 'detection',
      v.recovered ? '' : 'recovery',
      v.failures ? '' : 'failed share',
      v.named ? '' : 'cause named',
    ].filter((x) => x !== '');
    return `${r.scenario} (${parts.join(', ')})`;
  };
  return `${missed.length} of ${results.length} drills missed: ${missed.map(what).join(', ')}${passed.length > 0 ? `; passed: ${passed.join(', ')}` : ''}`;
}

/** One line, rewritten in place on a terminal. */
export function progressLine(p: DrillProgress): string {
  const when = p.phase === 'starting' ? 'starting' : `${p.phase} ${fmtAt(p.sinceFaultMs)}`;
  return `drill ${p.scenario}: ${when}, ${p.sent} sent, ${p.failed} failed${p.detected ? ', detected' : ''}${p.recovered ? ', recovered' : ''}`;
}
