import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RULES } from '../../config/lint/catalog.ts';
import { captureIo } from '../../../test/helpers/cli.ts';
import { lintCommand, type LintCommandOptions } from './lint.ts';
import { wantsColor } from '../io.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

const capture = (env: Record<string, string> = {}) => captureIo({ FULCRUM_ADMIN_TOKEN: 't', ...env }, ROOT);

const opts = (o: Partial<LintCommandOptions> = {}): LintCommandOptions => ({
  strict: false,
  rules: [],
  skip: [],
  format: 'text',
  ...o,
});
const fixture = (rule: string, which: 'fail' | 'pass') => `test/fixtures/lint/${rule}/${which}.yaml`;

describe('fulcrum lint', () => {
  it('exits 2 on the postmortem config and names file, line, rule, path and fix', async () => {
    const io = capture();
    expect(await lintCommand(fixture('weight-skew', 'fail'), opts(), io)).toBe(2);
    expect(io.stdout).toContain('test/fixtures/lint/weight-skew/fail.yaml');
    expect(io.stdout).toMatch(/ 14 {2}error {2}weight-skew {2}pools\.app\.backends\[0\]\.weight/);
    expect(io.stdout).toContain('app-1 weight 10 is 10× app-3 weight 1');
    expect(io.stdout).toContain('fix: Bring the weights');
    expect(io.stdout).toContain('1 error, 0 warnings, 0 info');
    expect(io.stdout).not.toContain('\u001b[');
  });

  it('passes warnings without --strict and fails them with it; info never fails', async () => {
    expect(await lintCommand(fixture('few-backends', 'fail'), opts(), capture())).toBe(0);
    expect(await lintCommand(fixture('few-backends', 'fail'), opts({ strict: true }), capture())).toBe(2);
    expect(await lintCommand(fixture('hash-source-ip', 'fail'), opts({ strict: true }), capture())).toBe(0);
  });

  it('exits 0 with "no findings" on a clean file', async () => {
    const io = capture();
    expect(await lintCommand(fixture('weight-skew', 'pass'), opts({ strict: true }), io)).toBe(0);
    expect(io.stdout).toContain('no findings');
  });

  it('honours --skip and --rule', async () => {
    expect(
      await lintCommand(fixture('weight-skew', 'fail'), opts({ skip: ['weight-skew'] }), capture()),
    ).toBe(0);
    const io = capture();
    expect(await lintCommand(fixture('weight-skew', 'fail'), opts({ rules: ['few-backends'] }), io)).toBe(0);
    expect(io.stdout).toContain('no findings');
  });

  it('exits 1 with FULCRUM_ERR_CLI_USAGE on an unknown rule id, before reading the file', async () => {
    const io = capture();
    expect(await lintCommand('does-not-exist.yaml', opts({ skip: ['weight-skwe'] }), io)).toBe(1);
    expect(io.stderr).toContain('"weight-skwe"');
    expect(io.stderr).toContain('FULCRUM_ERR_CLI_USAGE');
  });

  it('exits 1 on an unreadable file', async () => {
    const io = capture();
    expect(await lintCommand('no/such/file.yaml', opts(), io)).toBe(1);
    expect(io.stderr).toContain('FULCRUM_ERR_CONFIG_READ');
  });

  it('exits 2 and prints the issues of an invalid config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-lint-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'version: 1\nlisteners: {}\npools:\n  app:\n    backends: [{ name: a, address: nope }]\n',
    );
    const io = capture();
    expect(await lintCommand(file, opts(), io)).toBe(2);
    expect(io.stdout).toContain('pools.app.backends[0].address');
    expect(io.stdout).toContain('invalid config, not linted');
  });

  it('--format json gives the findings and summary', async () => {
    const io = capture();
    expect(await lintCommand(fixture('weight-skew', 'fail'), opts({ format: 'json' }), io)).toBe(2);
    const doc = JSON.parse(io.stdout);
    expect(doc).toMatchObject({ valid: true, passed: false, summary: { error: 1, warning: 0, info: 0 } });
    expect(doc.findings[0]).toMatchObject({
      ruleId: 'weight-skew',
      severity: 'error',
      path: 'pools.app.backends[0].weight',
      file: 'test/fixtures/lint/weight-skew/fail.yaml',
      line: 14,
    });
  });

  it('--format sarif is SARIF 2.1.0 with the catalog as rules and a located result', async () => {
    const io = capture();
    expect(await lintCommand(fixture('weight-skew', 'fail'), opts({ format: 'sarif' }), io)).toBe(2);
    const sarif = JSON.parse(io.stdout);
    expect(sarif.version).toBe('2.1.0');
    expect(sarif.$schema).toContain('sarif-2.1.0');
    const run = sarif.runs[0];
    expect(run.tool.driver.name).toBe('fulcrum');
    expect(run.tool.driver.rules.map((r: { id: string }) => r.id)).toEqual(RULES.map((r) => r.id));
    for (const r of run.tool.driver.rules) {
      expect(r.shortDescription.text.length).toBeGreaterThan(0);
      expect(['error', 'warning', 'note']).toContain(r.defaultConfiguration.level);
    }
    expect(run.results).toHaveLength(1);
    const result = run.results[0];
    expect(result).toMatchObject({ ruleId: 'weight-skew', level: 'error' });
    expect(run.tool.driver.rules[result.ruleIndex].id).toBe('weight-skew');
    expect(result.locations[0].physicalLocation).toEqual({
      artifactLocation: { uri: 'test/fixtures/lint/weight-skew/fail.yaml' },
      region: { startLine: 14 },
    });
    expect(result.locations[0].logicalLocations[0].fullyQualifiedName).toBe('pools.app.backends[0].weight');
  });

  it('maps info to SARIF note and keeps an invalid config a located error', async () => {
    const io = capture();
    await lintCommand(fixture('hash-source-ip', 'fail'), opts({ format: 'sarif' }), io);
    expect(JSON.parse(io.stdout).runs[0].results[0].level).toBe('note');

    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-lint-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'version: 1\nlisteners: {}\npools:\n  app:\n    backends: [{ name: a, address: nope }]\n',
    );
    const io2 = capture();
    expect(await lintCommand(file, opts({ format: 'sarif' }), io2)).toBe(2);
    const res = JSON.parse(io2.stdout).runs[0].results[0];
    expect(res.ruleId).toBe('config-invalid');
    expect(res.locations[0].physicalLocation.region.startLine).toBe(5);
  });

  it('colours only a TTY, never with NO_COLOR, always with FORCE_COLOR', () => {
    expect(wantsColor(capture())).toBe(false);
    expect(wantsColor(capture({ FORCE_COLOR: '1' }))).toBe(true);
    expect(wantsColor(capture({ FORCE_COLOR: '1', NO_COLOR: '1' }))).toBe(false);
  });
});
