// `lint`: the lint catalog on the running config. A config applied with --force keeps its
// lint errors; the audit keeps reporting them until someone fixes them.
import { lintConfig } from '../../config/lint/lint-config.ts';
import type { AuditCheck } from '../types.ts';

export const lintCheck: AuditCheck = {
  name: 'lint',
  description: 'the lint catalog on the running config',
  live: false,
  async run(ctx) {
    const findings = lintConfig(ctx.loaded).map((f) => ({
      ruleId: f.ruleId,
      severity: f.severity,
      message: f.message,
      remediation: f.remediation,
      path: f.path,
      data: {
        file: f.file,
        ...(f.line === undefined ? {} : { line: f.line }),
        ...(f.suppressed === undefined ? {} : { suppressed: f.suppressed }),
      },
    }));
    const suppressed = findings.filter((f) => f.data.suppressed !== undefined).length;
    const notes = [
      `${ctx.loaded.source}: ${findings.length} lint finding(s)${suppressed === 0 ? '' : `, ${suppressed} suppressed by lint.suppress`}`,
    ];
    return { findings, notes, details: { source: ctx.loaded.source, findings: findings.length } };
  },
};
