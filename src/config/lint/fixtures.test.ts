// One table-driven test over test/fixtures/lint/<rule-id>/{fail,pass}.yaml: every rule in the
// catalog must fire on its failing fixture (at the path the fixture's `# expect-path:` lines
// name, with a line number) and its passing fixture must be clean of every rule.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigText, type LoadedConfig } from '../load.ts';
import { RULES } from './catalog.ts';
import { lintConfig } from './lint-config.ts';

const FIXTURES = join(import.meta.dirname, '../../../test/fixtures/lint');
const ENV = { FULCRUM_ADMIN_TOKEN: 'fixture-token' };

function load(file: string): LoadedConfig {
  const result = loadConfigText(readFileSync(file, 'utf8'), { source: file, env: ENV });
  if (!result.ok) throw new Error(`${file} is not a valid config: ${JSON.stringify(result.issues)}`);
  return result.value;
}

describe('lint fixtures', () => {
  it('has a fixture directory for every rule and a rule for every fixture directory', () => {
    const dirs = readdirSync(FIXTURES).sort();
    expect(dirs).toEqual(RULES.map((r) => r.id).sort());
  });

  describe.each(RULES.map((r) => [r.id, r] as const))('%s', (id, rule) => {
    const dir = join(FIXTURES, id);

    it('fires on fail.yaml at the expected path, naming file and line', () => {
      const file = join(dir, 'fail.yaml');
      expect(existsSync(file)).toBe(true);
      const text = readFileSync(file, 'utf8');
      const expected = [...text.matchAll(/^# expect-path: (.+)$/gm)].map((m) => m[1]);
      expect(expected.length).toBeGreaterThan(0);
      const own = lintConfig(load(file)).filter((f) => f.ruleId === id);
      expect(own.map((f) => f.path)).toEqual(expected);
      for (const f of own) {
        expect(f.severity).toBe(rule.severity);
        expect(f.file).toBe(file);
        expect(f.line).toBeGreaterThan(0);
        expect(f.remediation).toBe(rule.remediation);
        expect(f.message.length).toBeGreaterThan(10);
      }
    });

    it('is clean on pass.yaml (no finding of any rule)', () => {
      expect(lintConfig(load(join(dir, 'pass.yaml')))).toEqual([]);
    });
  });

  it("reports the postmortem's 10:1:1 weights as an error by default", () => {
    const findings = lintConfig(load(join(FIXTURES, 'weight-skew/fail.yaml')));
    const skew = findings.find((f) => f.ruleId === 'weight-skew');
    expect(skew?.severity).toBe('error');
    expect(skew?.message).toContain('app-1 weight 10 is 10× app-3 weight 1');
  });
});
