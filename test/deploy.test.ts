// deploy/: the systemd unit through systemd-analyze, the Dockerfile's instructions (no Docker
// engine runs here, so it is parsed, not built), the Grafana dashboard against the metric
// catalog it is generated from, every dashboard query through promtool.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { DASHBOARD_FILE, metricCatalog, renderDashboard } from '../scripts/gen-grafana-dashboard.ts';
import { loadConfigText } from '../src/config/load.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const BIN = join(ROOT, 'bin', 'fulcrum.js');

/** systemd-analyze verify: exit code and everything it complains about. */
async function verifyUnit(text: string, name = 'fulcrum.service'): Promise<{ code: number; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-unit-'));
  const file = join(dir, name);
  writeFileSync(file, text);
  return run('systemd-analyze', ['verify', file]).then(
    (r) => ({ code: 0, stderr: r.stderr }),
    (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
  );
}

describe('deploy/fulcrum.service', () => {
  const unit = readFileSync(join(DEPLOY, 'fulcrum.service'), 'utf8');
  // verify checks that the commands exist: point them at this checkout's bin.
  const here = unit.replaceAll('/usr/local/bin/fulcrum', BIN);

  it('passes systemd-analyze verify without a warning', async () => {
    const r = await verifyUnit(here);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('is a check that can fail: a misspelt option is reported', async () => {
    const r = await verifyUnit(here.replace('NoNewPrivileges=yes', 'NoNewPrivilegs=yes'));
    expect(r.stderr).toContain("Unknown key 'NoNewPrivilegs'");
  });

  it('reloads with SIGHUP, drains on SIGTERM, and is hardened (systemd-analyze security below 3)', async () => {
    const keys = new Map<string, string>();
    for (const line of unit.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) keys.set(m[1] as string, m[2] as string);
    }
    expect(keys.get('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(keys.get('KillSignal')).toBe('SIGTERM');
    expect(keys.get('NoNewPrivileges')).toBe('yes');
    expect(keys.get('ProtectSystem')).toBe('strict');
    expect(keys.get('User')).toBe('fulcrum');
    // The store of the example config is one of the few writable paths.
    const example = YAML.parse(readFileSync(join(DEPLOY, 'fulcrum.example.yaml'), 'utf8')) as {
      store: { sqlite: string };
    };
    const writable = (keys.get('ReadWritePaths') ?? '').split(' ');
    expect(writable.some((p) => example.store.sqlite.startsWith(`${p}/`))).toBe(true);

    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-unit-'));
    writeFileSync(join(dir, 'fulcrum.service'), here);
    const sec = await run('systemd-analyze', [
      'security',
      '--offline=yes',
      join(dir, 'fulcrum.service'),
    ]).then(
      (r) => r.stdout,
      (err: { stdout: string }) => err.stdout,
    );
    const exposure = Number(/Overall exposure level for fulcrum\.service: ([\d.]+)/.exec(sec)?.[1]);
    expect(exposure).toBeLessThan(3);
  });
});

describe('deploy/Dockerfile', () => {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
  // Instructions with their continuation lines joined, comments and the parser directive left out.
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
  const stages = instructions.reduce<{ op: string; args: string }[][]>((acc, i) => {
    if (i.op === 'FROM') acc.push([]);
    acc.at(-1)?.push(i);
    return acc;
  }, []);
  const final = stages.at(-1) ?? [];

  it('uses only Dockerfile instructions', () => {
    const known = new Set([
      'FROM',
      'ARG',
      'ENV',
      'WORKDIR',
      'COPY',
      'RUN',
      'USER',
      'VOLUME',
      'EXPOSE',
      'HEALTHCHECK',
      'STOPSIGNAL',
      'ENTRYPOINT',
      'CMD',
      'LABEL',
    ]);
    expect(instructions.map((i) => i.op).filter((op) => !known.has(op))).toEqual([]);
  });

  it('is multi-stage: the runtime stage copies the built package from the build stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]?.[0]?.args).toMatch(/ AS build$/);
    expect(final.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build '))).toBe(true);
    expect(final.some((i) => i.op === 'RUN' && i.args.includes('--omit=dev'))).toBe(true);
    // npm pack does not create its --pack-destination (found by running these steps by hand).
    const pack = stages[0]?.find((i) => i.op === 'RUN' && i.args.includes('npm pack'))?.args ?? '';
    const dest = /--pack-destination (\S+)/.exec(pack)?.[1];
    expect(pack).toContain(`mkdir -p ${dest} && npm pack`);
  });

  it('runs as a user that is not root, with a HEALTHCHECK on /healthz and fulcrum as the entry point', () => {
    const user = final.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    const health = final.find((i) => i.op === 'HEALTHCHECK')?.args ?? '';
    expect(health).toContain('http://127.0.0.1:9901/healthz');
    // The exec form of CMD is a JSON array.
    const cmd = /CMD (\[.*\])$/.exec(health)?.[1];
    expect(JSON.parse(cmd ?? 'null')).toEqual(expect.arrayContaining(['node']));
    expect(JSON.parse(final.find((i) => i.op === 'ENTRYPOINT')?.args ?? 'null')).toEqual(['fulcrum']);
  });

  it('copies only paths that exist, and its config is valid with the admin API where the health check looks', () => {
    for (const i of instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      const sources = i.args.split(/\s+/).slice(0, -1);
      for (const s of sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
    }
    const loaded = loadConfigText(readFileSync(join(DEPLOY, 'fulcrum.example.yaml'), 'utf8'), { env: {} });
    expect(loaded.ok).toBe(true);
    if (loaded.ok) expect(loaded.value.config.admin.address).toBe('127.0.0.1:9901');
  });
});

describe('deploy/grafana/fulcrum-dashboard.json', () => {
  it('is what `node scripts/gen-grafana-dashboard.ts` writes from the metric catalog (run it after changing a metric)', async () => {
    expect(readFileSync(DASHBOARD_FILE, 'utf8')).toBe(await renderDashboard());
  });

  it('has a panel for every fulcrum_* metric, and promtool parses every query', async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
      panels: { type: string; title: string; targets?: { expr: string }[] }[];
    };
    const titles = dashboard.panels.filter((p) => p.type === 'timeseries').map((p) => p.title);
    const catalog = await metricCatalog();
    expect(titles).toEqual(catalog.map((m) => m.name));
    expect(titles).toContain('fulcrum_tls_certificate_expiry_timestamp_seconds');
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: exprs.map((expr, i) => ({
            record: `dashboard:query_${i}`,
            expr: expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'),
          })),
        },
      ],
    };
    const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-dash-')), 'rules.yaml');
    writeFileSync(file, YAML.stringify(rules));
    const r = await run('promtool', ['check', 'rules', file]);
    expect(r.stdout).toContain(`SUCCESS: ${exprs.length} rules found`);
  });
});
