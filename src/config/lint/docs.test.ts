import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LINT_DOCS_FILE, renderLintDocs } from '../../../scripts/gen-lint-docs.ts';
import { RULES } from './catalog.ts';

describe('docs/lint-rules.md', () => {
  it('is what `node scripts/gen-lint-docs.ts` writes from the catalog (run it after changing a rule)', () => {
    expect(readFileSync(LINT_DOCS_FILE, 'utf8')).toBe(renderLintDocs());
  });

  it('documents every rule with its severity, parameters and a failing example that finds something', () => {
    const docs = renderLintDocs();
    for (const rule of RULES) {
      const section = docs.slice(docs.indexOf(`## ${rule.id}\n`));
      expect(section).toContain(`**${rule.severity}** · ${rule.title}`);
      for (const name of Object.keys(rule.parameters)) expect(section).toContain(`| \`${name}\` |`);
      expect(section).toMatch(new RegExp(`fail\\.yaml:\\d+ ${rule.severity} ${rule.id} `));
    }
  });
});
