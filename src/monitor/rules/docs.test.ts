import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  MONITORING_DOCS_FILE,
  renderAlertTable,
  renderMonitoringDocs,
} from '../../../scripts/gen-monitoring-docs.ts';
import { ALERT_RULES } from './catalog.ts';

describe('docs/monitoring.md alert table', () => {
  it('is what `node scripts/gen-monitoring-docs.ts` writes from the catalog (run it after changing a rule)', async () => {
    const current = readFileSync(MONITORING_DOCS_FILE, 'utf8');
    expect(current).toBe(await renderMonitoringDocs(current));
  });

  it('has one row per rule, in catalog order, with its severity and category', () => {
    const rows = renderAlertTable().split('\n').slice(2);
    expect(rows.map((r) => /^\| `(\w+)`/.exec(r)?.[1])).toEqual(ALERT_RULES.map((r) => r.name));
    ALERT_RULES.forEach((r, i) => expect(rows[i]).toContain(`| ${r.severity} | ${r.category} |`));
  });
});
