import { defineRule } from '../types.ts';

export const auditDisabled = defineRule({
  id: 'audit-disabled',
  severity: 'info',
  title: 'Scheduled audits of traffic distribution are off',
  rationale:
    'The postmortem asks for regular audits of the running config and of real traffic shares; without the ' +
    '`distribution` check on a schedule, a balancer that plays favourites is only found by its users.',
  remediation:
    'Set `audit.schedule` (e.g. "*/15 * * * *") and keep `distribution` in `audit.checks`, or run `fulcrum audit` from elsewhere on a schedule.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const { schedule, checks } = config.audit;
    if (schedule.trim() === '') {
      return [{ path: ['audit', 'schedule'], message: 'audit.schedule is empty: no audit runs on its own' }];
    }
    if (!checks.includes('distribution')) {
      return [
        {
          path: ['audit', 'checks'],
          message: `audit.checks (${checks.join(', ') || 'none'}) leaves out distribution: real traffic shares are never audited`,
        },
      ];
    }
    return [];
  },
});
