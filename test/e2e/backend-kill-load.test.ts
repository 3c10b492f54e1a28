// Issue 12 "done when": one of three backends killed with SIGKILL under 8- and 64-connection GET
// load costs 0 failed requests with health checks and retries, and with fulcrum's defaults no
// more than nginx's defaults in the same test; a backend restarted every 5 s costs 0.
// Backends are separate processes (a real SIGKILL), fulcrum runs as `fulcrum start` in its own
// process, nginx (/usr/sbin/nginx) from a temp prefix; every process is stopped by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { spawnBackend, type BackendProcess } from '../helpers/backend-process.ts';
import { spawnCli } from '../helpers/cli.ts';
import { startLoad, type LoadResult } from '../helpers/load.ts';
import { testWorkers } from '../helpers/balancer.ts';
import { freePort } from '../../src/sim/free-port.ts';

const NGINX = '/usr/sbin/nginx';
const LOAD_MS = 6000;
const KILL_AT_MS = 1500;

let backends: BackendProcess[] = [];
const children = new Set<ChildProcess>();

beforeAll(async () => {
  backends = await Promise.all(['b1', 'b2', 'b3'].map((n) => spawnBackend(n)));
});
afterAll(async () => {
  for (const c of children) await stopChild(c);
  for (const b of backends) if (b.child !== undefined) await b.kill();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function stopChild(c: ChildProcess): Promise<void> {
  children.delete(c);
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/** A `fulcrum start` process over the three backends; returns its listener URL. */
async function startFulcrum(pool: Record<string, unknown>): Promise<{ url: string; child: ChildProcess }> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-kill-'));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(
    file,
    YAML.stringify({
      version: 1,
      ...testWorkers(),
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })), ...pool } },
      admin: { address: '127.0.0.1:0' },
      store: { sqlite: join(dir, 'state.db') },
      log: { level: 'info', access: false },
    }),
  );
  const { child, match } = await spawnCli(
    ['start', '-c', file, '--force'],
    /"listeners":\{"web":"127\.0\.0\.1:(\d+)"/,
  );
  children.add(child);
  return { url: `http://127.0.0.1:${match[1]}/`, child };
}

/** nginx with its defaults: an upstream of the three backends and proxy_pass, nothing tuned. */
async function startNginx(): Promise<{ url: string; child: ChildProcess }> {
  const prefix = mkdtempSync(join(tmpdir(), 'fulcrum-nginx-'));
  const tmp = join(prefix, 'tmp');
  mkdirSync(tmp);
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(
    conf,
    `pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;
events {}
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  upstream app {
${backends.map((b) => `    server ${b.address};`).join('\n')}
  }
  server {
    listen 127.0.0.1:${port};
    location / { proxy_pass http://app; }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' });
  children.add(child);
  const url = `http://127.0.0.1:${port}/`;
  // Bounded wait until it answers through to a backend.
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`);
    const r = await startLoad({ url, concurrency: 1, maxRequests: 1, timeoutMs: 1000 }).done;
    if (r.ok === 1) return { url, child };
    await sleep(100);
  }
  throw new Error('nginx did not answer within 10 s');
}

interface Run {
  result: LoadResult;
  /** Answers from the victim before it was first killed. */
  victimBefore: number;
}

/**
 * GET load at `concurrency` for `loadMs`; the victim (b2) is SIGKILLed at KILL_AT_MS. With
 * `restart`, it is started again at once and killed again `everyMs` after the previous kill (or
 * once it has served again, if starting took longer), `kills` times in all; the load then runs
 * `loadMs` more after a last restart. Afterwards the victim runs again for the next scenario.
 */
async function killUnderLoad(
  url: string,
  concurrency: number,
  loadMs = LOAD_MS,
  restart?: { everyMs: number; kills: number },
): Promise<Run & { servedBetweenKills: number[] }> {
  const victim = backends[1] as BackendProcess;
  // Bounded by time (the helper's default of 100,000 requests can end a fast run early).
  const load = startLoad({ url, concurrency, maxMs: 120_000, maxRequests: 2_000_000 });
  const started = Date.now();
  const served = (): number => load.result.backends[victim.name] ?? 0;
  await sleep(KILL_AT_MS);
  const victimBefore = served();
  await victim.kill();
  let killedAt = Date.now();
  const servedBetweenKills: number[] = [];
  for (let k = 1; restart !== undefined && k < restart.kills; k++) {
    const atKill = served();
    await victim.start();
    // Bounded: the restarted backend takes traffic again (a passing check or the back-off's probe).
    for (let i = 0; i < 200 && served() === atKill; i++) await sleep(50);
    await sleep(killedAt + restart.everyMs - Date.now());
    servedBetweenKills.push(served() - atKill);
    await victim.kill();
    killedAt = Date.now();
  }
  if (restart !== undefined) await victim.start();
  await sleep(restart === undefined ? started + loadMs - Date.now() : loadMs);
  const result = await load.stop();
  if (victim.child === undefined) await victim.start();
  return { result, victimBefore, servedBetweenKills };
}

function report(what: string, concurrency: number, r: Run): void {
  const { result } = r;
  console.log(
    `[kill] ${what} @${concurrency}: ${result.failures} failed of ${result.sent} ` +
      `(statuses ${JSON.stringify(result.statuses)} ${JSON.stringify(result.codes)}, errors ${JSON.stringify(result.errors)}, ` +
      `answers by backend ${JSON.stringify(result.backends)})`,
  );
}

const HEALTH_AND_RETRIES = {
  healthCheck: { interval: '1s', timeout: '500ms', unhealthyThreshold: 3, healthyThreshold: 2 },
  // As the issue measured (64 and 694 failed), with the default `on` (connect-failure, reset): a
  // request in flight when the backend dies may be reset on a connection it had just opened,
  // and only `reset` lets such an idempotent request go elsewhere.
  retries: { attempts: 2, on: ['connect-failure', 'reset', '502', '503'] },
};

describe('one of three backends killed with SIGKILL under GET load', () => {
  const nginxFailures = new Map<number, number>();

  // A fresh nginx per run: after a failure it keeps a backend out for fail_timeout (10 s).
  it.each([8, 64])(
    'nginx with its defaults, the reference (%i connections)',
    async (c) => {
      const nginx = await startNginx();
      const run = await killUnderLoad(nginx.url, c);
      await stopChild(nginx.child);
      report('nginx defaults', c, run);
      expect(run.victimBefore).toBeGreaterThan(0);
      expect(run.result.ok).toBeGreaterThan(100);
      nginxFailures.set(c, run.result.failures);
    },
    60_000,
  );

  it.each([8, 64])(
    'fulcrum with its defaults fails no more requests than nginx with its defaults (%i connections)',
    async (c) => {
      const f = await startFulcrum({});
      const run = await killUnderLoad(f.url, c);
      await stopChild(f.child);
      report('fulcrum defaults', c, run);
      expect(run.victimBefore).toBeGreaterThan(0);
      expect(run.result.ok).toBeGreaterThan(100);
      const reference = nginxFailures.get(c);
      expect(reference).toBeDefined();
      expect(run.result.failures).toBeLessThanOrEqual(reference as number);
    },
    60_000,
  );

  it.each([8, 64])(
    'fulcrum with health checks and retries on connect failures loses 0 requests (%i connections)',
    async (c) => {
      const f = await startFulcrum(HEALTH_AND_RETRIES);
      const run = await killUnderLoad(f.url, c);
      await stopChild(f.child);
      report('fulcrum health checks + retries', c, run);
      expect(run.victimBefore).toBeGreaterThan(0);
      expect(run.result.ok).toBeGreaterThan(100);
      expect(run.result.failures, JSON.stringify(run.result)).toBe(0);
    },
    60_000,
  );

  it('a backend restarted every 5 s costs 0 requests with health checks and retries (64 connections)', async () => {
    const f = await startFulcrum(HEALTH_AND_RETRIES);
    const run = await killUnderLoad(f.url, 64, 4000, { everyMs: 5000, kills: 3 });
    await stopChild(f.child);
    report(
      `fulcrum health checks + retries, 3 kills 5 s apart, restarted at once (served between: ${run.servedBetweenKills.join(', ')})`,
      64,
      run,
    );
    expect(run.victimBefore).toBeGreaterThan(0);
    // The restarted backend served between kills: each kill hit a live, loaded backend.
    expect(run.servedBetweenKills).toHaveLength(2);
    expect(run.result.sent).toBeLessThan(2_000_000);
    for (const n of run.servedBetweenKills) expect(n).toBeGreaterThan(0);
    expect(run.result.failures, JSON.stringify(run.result)).toBe(0);
  }, 60_000);
});
