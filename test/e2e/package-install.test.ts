// The package as a user gets it: `npm pack` (prepack builds dist/), `npm i -g` of the tarball
// into an empty prefix, then the installed bin, outside the repository, on the pinned Node and
// on the system's Node 20 (which must get the coded version message, not an import crash).
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SYSTEM_NODE = '/usr/bin/node';
let dir: string;
let bin: string;
let files: string[];

/** PATH with the pinned Node first: npm and the bin's `#!/usr/bin/env node` run on it. */
const pinnedEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  NO_COLOR: '1',
  PATH: `${dirname(process.execPath)}${delimiter}${process.env['PATH'] ?? ''}`,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-pkg-'));
  const env = pinnedEnv();
  const packed = await run('npm', ['pack', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    env,
    maxBuffer: 16 << 20,
  });
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  files = info[0]!.files.map((f) => f.path);
  const tarball = join(dir, info[0]!.filename);
  // The npm cache first (no registry round trip when the dependencies are cached), the
  // registry for whatever is not.
  await run(
    'npm',
    ['i', '-g', '--prefix', join(dir, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', tarball],
    { cwd: dir, env, maxBuffer: 16 << 20 },
  );
  bin = join(dir, 'prefix', 'bin', 'fulcrum');
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('ships the compiled CLI and what it reads at run time, not the sources or tests', () => {
    expect(files).toContain('dist/cli/run.js');
    expect(files).toContain('bin/fulcrum.js');
    expect(files).toContain('src/admin/dashboard/static/index.html');
    expect(files).toContain('examples/demo.yaml');
    expect(files.filter((f) => f.endsWith('.ts') || f.startsWith('test/') || f.startsWith('bench/'))).toEqual(
      [],
    );
    expect(existsSync(join(dir, 'prefix', 'lib', 'node_modules', 'fulcrum', 'src', 'cli'))).toBe(false);
  });

  it('runs --help, validate and a short start from the installed bin on the pinned Node', async () => {
    const env = pinnedEnv();
    const help = await run(bin, ['--help'], { cwd: dir, env });
    expect(help.stdout).toContain('Usage: fulcrum');

    const config = join(dir, 'fulcrum.yaml');
    writeFileSync(
      config,
      YAML.stringify({
        version: 1,
        admin: { address: '127.0.0.1:0' },
        store: { sqlite: 'state/fulcrum.sqlite' },
        listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
        pools: { app: { backends: [{ name: 'a', address: '127.0.0.1:9' }] } },
      }),
    );
    const valid = await run(bin, ['validate', config], { cwd: dir, env });
    expect(valid.stdout).toContain('valid (1 listener, 1 pool, 1 backend)');

    const child = spawn(bin, ['start', '-c', config, '--force', '--grace', '1s'], {
      cwd: dir,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const deadline = Date.now() + 30_000;
    while (!out.includes('fulcrum started') && child.exitCode === null && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(out).toContain('fulcrum started');
    // The bin's shebang passed its V8 flag (a 4 MiB young generation) to the process it became.
    const argv = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(argv.slice(0, 2)).toEqual([expect.stringMatching(/(^|\/)node$/), '--max-semi-space-size=4']);
    // The SQLite store lands next to the config file, whatever the working directory.
    expect(readdirSync(join(dir, 'state'))).toContain('fulcrum.sqlite');
    // The live verbs against it, from the installed bin.
    const admin = (
      JSON.parse(out.split('\n').find((l) => l.includes('fulcrum started')) as string) as { admin: string }
    ).admin;
    const history = await run(bin, ['history', '--admin', admin], { cwd: dir, env });
    expect(history.stdout).toMatch(/^\*1 /m);
    const status = await run(bin, ['status', '--admin', admin, '--format', 'json'], { cwd: dir, env });
    expect(JSON.parse(status.stdout)).toMatchObject({ configVersion: 1 });
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 60_000);

  it("runs the offline verbs from the installed bin: lint, diff, audit, alerts rules, and each verb's --help", async () => {
    const env = pinnedEnv();
    const config = join(dir, 'offline.yaml');
    const other = join(dir, 'offline-b.yaml');
    const doc = (w: number) => ({
      version: 1,
      listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          policy: 'weighted-round-robin',
          backends: [1, 2, 3].map((i) => ({
            name: `a${i}`,
            address: `127.0.0.1:900${i}`,
            weight: i === 1 ? w : 1,
          })),
        },
      },
    });
    writeFileSync(config, YAML.stringify(doc(1)));
    writeFileSync(other, YAML.stringify(doc(2)));
    const lint = await run(bin, ['lint', config, '--format', 'json'], { cwd: dir, env });
    expect(JSON.parse(lint.stdout)).toHaveProperty('findings');
    // diff exits 2 when there are changes.
    const diff = await run(bin, ['diff', other, '--against', config], { cwd: dir, env }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
    );
    expect(diff.code).toBe(2);
    expect(diff.stdout).toContain('a1');
    const audit = await run(bin, ['audit', '-c', config, '--checks', 'lint', '--format', 'json'], {
      cwd: dir,
      env,
    }).then(
      (r) => r.stdout,
      (err: { stdout: string }) => err.stdout,
    );
    expect(JSON.parse(audit)).toHaveProperty('checks');
    const rules = await run(bin, ['alerts', 'rules'], { cwd: dir, env });
    expect(rules.stdout).toContain('groups:');
    for (const verb of ['start', 'demo', 'apply', 'rollback', 'drill']) {
      const help = await run(bin, [verb, '--help'], { cwd: dir, env });
      expect(help.stdout).toContain(`Usage: fulcrum ${verb}`);
    }
  }, 60_000);

  it('exits 1 with FULCRUM_ERR_NODE_VERSION on Node 20, before importing anything that needs 22.13', async () => {
    const v = await run(SYSTEM_NODE, ['--version']);
    expect(v.stdout).toMatch(/^v20\./);
    // The installed bin through its shebang, with the system Node first on PATH.
    const env = { ...process.env, PATH: `${dirname(SYSTEM_NODE)}${delimiter}${process.env['PATH'] ?? ''}` };
    const r = await run(bin, ['start', '-c', 'whatever.yaml'], { cwd: dir, env }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^FULCRUM_ERR_NODE_VERSION: fulcrum needs Node\.js >= 22\.13, but .* is v20\./);
    expect(r.stderr).not.toContain('node:sqlite');
  });
});
