import { defineAlertRule } from './alert-rule.ts';
import { fmtMs } from './format.ts';

export const auditsNotRunning = defineAlertRule({
  name: 'AuditsNotRunning',
  severity: 'warning',
  category: 'audit',
  labels: [],
  timing: () => ({ forMs: 0, keepFiringForMs: 0 }),
  doc: {
    activeWhen:
      '`audit.schedule` is set and no audit passed for 2 schedule periods + 5 min (since start or since the last pass)',
    whatToDo: "Check the scheduler's logs; `fulcrum audit`.",
  },
  evaluate(ctx) {
    const { gapMs, schedule, sinceLastPassMs } = ctx.audit;
    if (gapMs === undefined || sinceLastPassMs <= gapMs) return [];
    return [
      {
        labels: {},
        value: 1,
        annotations: {
          summary: `no successful audit for more than ${fmtMs(gapMs)}`,
          description: `Audits are scheduled "${schedule}" but none passed in ${fmtMs(gapMs)}. Check the logs for the audit scheduler and run \`fulcrum audit\`.`,
          command: 'fulcrum audit',
        },
      },
    ];
  },
  promql: () => ({
    expr:
      '(fulcrum_audit_last_success_timestamp_seconds > 0 and time() - fulcrum_audit_last_success_timestamp_seconds > 2100)\n' +
      'or (fulcrum_audit_last_success_timestamp_seconds == 0 and time() - process_start_time_seconds > 2100)',
    summary: 'no successful audit for more than 35 minutes',
    description:
      'No scheduled audit passed for two periods of the default schedule (*/15 * * * *) plus slack. Check the audit scheduler logs and run `fulcrum audit`.',
  }),
});
