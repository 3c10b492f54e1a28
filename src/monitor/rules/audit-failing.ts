import { defineAlertRule } from './alert-rule.ts';
import { BY_INSTANCE } from './promql.ts';

export const auditFailing = defineAlertRule({
  name: 'AuditFailing',
  severity: 'warning',
  category: 'audit',
  labels: [],
  timing: () => ({ forMs: 0, keepFiringForMs: 0 }),
  doc: {
    activeWhen: 'the last audit run failed',
    whatToDo: '`fulcrum audit` shows the findings.',
  },
  evaluate(ctx) {
    const a = ctx.lastAudit;
    if (a === undefined || a.ok) return [];
    return [
      {
        labels: {},
        value: 1,
        annotations: {
          summary: 'the last scheduled audit found problems',
          description: `The audit run at ${new Date(a.at).toISOString()} failed. Run \`fulcrum audit\` to see the findings.`,
          command: 'fulcrum audit',
        },
      },
    ];
  },
  promql: () => ({
    expr: `sum by (${BY_INSTANCE}) (increase(fulcrum_audit_runs_total{result="failure"}[30m])) > 0\nunless sum by (${BY_INSTANCE}) (increase(fulcrum_audit_runs_total{result="success"}[30m])) > 0`,
    summary: 'scheduled audits find problems',
    description: 'The last scheduled audits failed. Run `fulcrum audit` to see the findings.',
  }),
});
