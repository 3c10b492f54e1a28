// A fleet for tests: fulcrum instances as real processes (`fulcrum start`) sharing one etcd
// cluster, each with its own listener and admin address (per-instance env and --listen-admin).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { freePort } from '../../src/sim/free-port.ts';
import { spawnCli } from './cli.ts';

export interface FleetInstance {
  readonly id: string;
  readonly adminUrl: string;
  readonly proxyUrl: string;
  readonly webAddress: string;
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM (clean stop) or SIGKILL (a crash); waits for the exit. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/** Resolve when `check` returns a value other than undefined, polling every 100 ms for at most `ms`. */
export async function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  ms: number,
  what: string,
): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end)
      throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: (await res.json()) as T };
}

export interface FleetViewBody {
  store: string;
  latestVersion: number | null;
  instances: {
    instance: string;
    version: number | null;
    health: string;
    reasons: string[];
    listeners: Record<string, string>;
    adoptFailure?: { version: number; message: string };
    configSkewSince: number | null;
  }[];
  lost: { instance: string }[];
  skewed: { instance: string; pool: string; backend: string; cause: string; detail: string }[];
  pools: {
    pool: string;
    requests: number;
    backends: {
      backend: string;
      observedShare: number | null;
      shareRatio: number | null;
      requests: number;
    }[];
  }[];
  canary: unknown;
}

export async function fleetView(instance: FleetInstance): Promise<FleetViewBody> {
  const r = await getJson<FleetViewBody>(`${instance.adminUrl}/api/v1/fleet`);
  if (r.status !== 200) throw new Error(`fleet view: HTTP ${r.status}`);
  return r.body;
}

/** The shared config document of a test fleet: listener `web` at ${env:WEB_ADDR}, pool `app`. */
export function fleetConfig(
  endpoints: string[],
  prefix: string,
  backends: { name: string; address: string }[],
  extra: { pools?: Record<string, unknown>; listeners?: Record<string, unknown>; weights?: number[] } = {},
): Record<string, unknown> {
  return {
    version: 1,
    log: { level: 'info', access: false },
    listeners: {
      web: { address: '${env:WEB_ADDR}', routes: [{ pool: 'app' }] },
      ...extra.listeners,
    },
    pools: {
      app: {
        policy: 'round-robin',
        backends: backends.map((b, i) => ({
          ...b,
          ...(extra.weights ? { weight: extra.weights[i] } : {}),
        })),
        // Gentle enough for a busy 2-core machine: two failed checks a second apart mark a backend down.
        healthCheck: { interval: '1s', timeout: '800ms', healthyThreshold: 1, unhealthyThreshold: 2 },
      },
      ...extra.pools,
    },
    store: { etcd: { endpoints, prefix } },
    fleet: { name: 'edge', instance: '${env:FLEET_INSTANCE}', report: '500ms' },
  };
}

export function writeConfig(doc: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-fleet-'));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(file, YAML.stringify(doc));
  return file;
}

export async function startInstance(
  id: string,
  configFile: string,
  env: Record<string, string> = {},
  args: string[] = [],
): Promise<FleetInstance> {
  const webPort = await freePort();
  const adminPort = await freePort();
  const webAddress = `127.0.0.1:${webPort}`;
  const { child, output } = await spawnCli(
    ['start', '-c', configFile, '--listen-admin', `127.0.0.1:${adminPort}`, '--grace', '1s', ...args],
    /"msg":"fulcrum started"/,
    { FLEET_INSTANCE: id, WEB_ADDR: webAddress, ...env },
    60_000,
  );
  return {
    id,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    proxyUrl: `http://${env['WEB_ADDR'] ?? webAddress}`,
    webAddress: env['WEB_ADDR'] ?? webAddress,
    child,
    output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await gone;
      }
    },
  };
}

/** POST a config text to an instance's admin API. */
export async function postConfig(
  instance: FleetInstance,
  doc: Record<string, unknown>,
  query = '',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${instance.adminUrl}/api/v1/config${query}`, {
    method: 'POST',
    body: YAML.stringify(doc),
    headers: { 'content-type': 'application/yaml' },
    signal: AbortSignal.timeout(20_000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The config version an instance runs, from its admin API. */
export async function runningVersion(instance: FleetInstance): Promise<number | null> {
  const r = await getJson<{ version?: number }>(`${instance.adminUrl}/api/v1/config`);
  return r.status === 200 ? (r.body.version ?? null) : null;
}
