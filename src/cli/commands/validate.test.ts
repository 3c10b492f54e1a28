import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../io.ts';
import { validateCommand } from './validate.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const examplesDir = join(root, 'examples');
const fixturesDir = join(root, 'test/fixtures/config');

function capture(env: Record<string, string> = {}): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), env, cwd: root };
}

interface Expectation {
  path: string;
  code: string;
  line: number | undefined;
  text: string;
}

/** A fixture states what it must fail with: `# expect: PATH CODE LINE message-substring`. */
function expectationsOf(file: string): Expectation[] {
  const sidecar = `${file}.expect`;
  const text = file.endsWith('.json') ? readFileSync(sidecar, 'utf8') : readFileSync(file, 'utf8');
  const lines = file.endsWith('.json')
    ? text.split('\n').filter((l) => l.trim() !== '')
    : text
        .split('\n')
        .filter((l) => l.startsWith('# expect: '))
        .map((l) => l.slice('# expect: '.length));
  return lines.map((l) => {
    const [path = '', code = '', line = '-', ...rest] = l.split(' ');
    return {
      path: path === '-' ? '' : path,
      code,
      line: line === '-' ? undefined : Number(line),
      text: rest.join(' '),
    };
  });
}

const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));
const fixtures = readdirSync(fixturesDir).filter((f) => f.endsWith('.yaml') || f.endsWith('.json'));

describe('fulcrum validate over examples/', () => {
  it('finds the examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['demo.yaml', 'minimal.yaml', 'full.yaml']));
  });

  it.each(examples)('accepts examples/%s with exit 0', async (name) => {
    const io = capture();
    const code = await validateCommand(join('examples', name), { format: 'text' }, io);
    expect(io.stdout.join('\n')).toMatch(/: valid \(/);
    expect(code).toBe(0);
  });
});

describe('fulcrum validate over broken fixtures', () => {
  it('finds the fixtures', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
  });

  it.each(fixtures)(
    'rejects test/fixtures/config/%s with the expected path, code and exit 2',
    async (name) => {
      const file = join(fixturesDir, name);
      const expectations = expectationsOf(file);
      expect(expectations.length).toBeGreaterThan(0);

      const io = capture();
      const code = await validateCommand(file, { format: 'json' }, io);
      expect(code).toBe(2);
      const report = JSON.parse(io.stdout.join('\n')) as {
        valid: boolean;
        issues: { path: string; code: string; line?: number; message: string; hint?: string }[];
      };
      expect(report.valid).toBe(false);
      for (const e of expectations) {
        const match = report.issues.find((i) => i.path === e.path && i.code === e.code);
        expect(match, `${e.path} ${e.code} in ${JSON.stringify(report.issues)}`).toBeDefined();
        if (e.line !== undefined) expect(match?.line).toBe(e.line);
        expect(`${match?.message} ${match?.hint ?? ''}`).toContain(e.text);
      }
      // Reported in file order.
      const lines = report.issues.map((i) => i.line ?? Infinity);
      expect(lines).toEqual([...lines].sort((a, b) => a - b));
    },
  );
});

describe('validateCommand output', () => {
  it('prints FILE:LINE:COL: path: message (CODE) hint, then a summary', async () => {
    const io = capture();
    const code = await validateCommand('test/fixtures/config/unknown-key.yaml', { format: 'text' }, io);
    expect(code).toBe(2);
    expect(io.stdout).toEqual([
      'test/fixtures/config/unknown-key.yaml:12:5: pools.app.helthCheck: unknown key "helthCheck" (FULCRUM_ERR_CONFIG_INVALID) did you mean "healthCheck"?',
      'test/fixtures/config/unknown-key.yaml: invalid, 1 problem',
    ]);
  });

  it('prints JSON { valid, file, issues } for a valid file', async () => {
    const io = capture();
    const code = await validateCommand('examples/minimal.yaml', { format: 'json' }, io);
    expect(code).toBe(0);
    expect(JSON.parse(io.stdout.join('\n'))).toEqual({
      valid: true,
      file: 'examples/minimal.yaml',
      issues: [],
    });
  });

  it('exits 1 with FULCRUM_ERR_CONFIG_READ when the file cannot be read', async () => {
    const io = capture();
    const code = await validateCommand('no/such/file.yaml', { format: 'text' }, io);
    expect(code).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/no\/such\/file\.yaml: .*no such file \(FULCRUM_ERR_CONFIG_READ\)/);
    expect(io.stdout).toEqual([]);
  });

  describe('with a directory as the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-validate-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    it('exits 1 in JSON too', async () => {
      const io = capture();
      const code = await validateCommand(dir, { format: 'json' }, io);
      expect(code).toBe(1);
      const report = JSON.parse(io.stdout.join('\n')) as { valid: boolean; issues: { code: string }[] };
      expect(report.valid).toBe(false);
      expect(report.issues[0]?.code).toBe('FULCRUM_ERR_CONFIG_READ');
    });
  });

  it('resolves ${env:NAME} from the io environment', async () => {
    const fixture = 'test/fixtures/config/missing-env.yaml';
    const unset = capture();
    expect(await validateCommand(fixture, { format: 'text' }, unset)).toBe(2);
    const set = capture({ FULCRUM_TEST_UNSET_TOKEN: 's3cret' });
    expect(await validateCommand(fixture, { format: 'text' }, set)).toBe(0);
  });
});
