import { defineAlertRule } from './alert-rule.ts';

export const configApplyFailed = defineAlertRule({
  name: 'ConfigApplyFailed',
  severity: 'warning',
  category: 'config',
  labels: [],
  timing: () => ({ forMs: 0, keepFiringForMs: 0 }),
  doc: {
    activeWhen:
      'the last apply failed to start its config (a bind, a certificate), or a file reload (SIGHUP, `--watch`) was refused; a refusal answered to its caller (API, CLI) raises nothing. Resolves on the next successful apply',
    whatToDo: 'The running version is kept. `fulcrum validate`/`lint` the file and apply again.',
  },
  evaluate(ctx) {
    const a = ctx.lastApply;
    if (a === undefined || a.ok) return [];
    return [
      {
        labels: {},
        value: 1,
        annotations: {
          summary: `the last config apply failed; version ${ctx.runningVersion} is still running`,
          description: `The config apply at ${new Date(a.at).toISOString()} failed: ${a.error ?? 'unknown error'}. The running config (version ${ctx.version}) was kept. Run \`fulcrum validate\` and \`fulcrum lint\` on the file, then apply again; \`fulcrum history\` lists versions.`,
          command: 'fulcrum history',
        },
      },
    ];
  },
  promql: () => ({
    expr: 'fulcrum_config_last_apply_success == 0',
    summary: 'the last config apply failed; the previous version is still running',
    description:
      'The last config apply failed and the running config was kept. Run `fulcrum validate` and `fulcrum lint` on the file, then apply again; `fulcrum history` lists versions.',
  }),
});
