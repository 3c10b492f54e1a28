/* global document */
// Audits: the last runs with status and findings, and "run now" through the token dialog.
import { act, get } from './api.js';
import { duration, h, mount, when } from './dom.js';

const STATUS = { pass: '✓ pass', fail: '✕ fail', error: '! error', skipped: '– skipped' };

export class AuditsPanel {
  constructor() {
    this.list = document.getElementById('audit-list');
    this.result = document.getElementById('audit-result');
    document.getElementById('audit-run').addEventListener('click', () => void this.runNow());
  }

  async load() {
    const { runs } = await get('/api/v1/audits?limit=10');
    mount(
      this.list,
      runs.length === 0
        ? h('p', { class: 'empty', text: 'No audit has run yet.' })
        : h('ul', { class: 'runs' }, runs.map(renderRun)),
    );
  }

  async runNow() {
    await act({
      title: 'Run an audit now',
      text: 'Runs every configured audit check (lint, drift, health, distribution) against the running balancer and stores the report.',
      confirm: 'Run audit',
      path: '/api/v1/audits',
      body: {},
      resultEl: this.result,
      describe: (r) => `Audit ran: ${r.status ?? 'finished'}, ${findingCount(r)} finding(s) (details below).`,
    });
    await this.load();
  }
}

function findingCount(run) {
  return (Array.isArray(run.checks) ? run.checks : []).reduce((n, c) => n + (c.findings?.length ?? 0), 0);
}

function renderRun(run) {
  const checks = Array.isArray(run.checks) ? run.checks : [];
  const findings = checks.flatMap((c) => (c.findings ?? []).map((f) => ({ ...f, check: c.name })));
  const notes = checks.flatMap((c) => (c.notes ?? []).map((text) => ({ check: c.name, text })));
  return h(
    'li',
    { class: `run ${run.status}`, dataset: { status: run.status } },
    h(
      'div',
      { class: 'run-head' },
      h('span', { class: `status ${run.status}`, text: STATUS[run.status] ?? run.status }),
      when(run.endedAt),
      h('span', {
        class: 'muted',
        text: `${run.trigger}, ${duration(run.endedAt - run.startedAt)}, config v${run.configVersion ?? '–'}`,
      }),
    ),
    h(
      'ul',
      { class: 'checks' },
      checks.map((c) =>
        h(
          'li',
          { class: `status ${c.status}`, title: c.reason ?? '' },
          `${STATUS[c.status] ?? c.status} ${c.name}`,
          c.findings?.length ? ` (${c.findings.length})` : '',
        ),
      ),
    ),
    notes.length > 0
      ? h(
          'details',
          {},
          h('summary', { text: 'What was checked' }),
          h(
            'ul',
            { class: 'notes' },
            notes.map((n) => h('li', {}, h('strong', { text: `${n.check}: ` }), n.text)),
          ),
        )
      : null,
    findings.length > 0
      ? h(
          'details',
          {},
          h('summary', { text: `${findings.length} finding(s)` }),
          h(
            'ul',
            { class: 'findings' },
            findings.map((f) =>
              h(
                'li',
                { class: `sev-${f.severity}` },
                h('span', { class: `sev sev-${f.severity}`, text: f.severity }),
                ' ',
                h('code', { text: f.ruleId }),
                f.path ? [' at ', h('code', { text: f.path })] : null,
                ': ',
                f.message,
                f.remediation ? h('p', { class: 'muted', text: `Fix: ${f.remediation}` }) : null,
              ),
            ),
          ),
        )
      : null,
  );
}
