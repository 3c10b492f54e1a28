// Starts a real balancer (startBalancer: proxy, health, monitor, admin) on ephemeral
// loopback ports with an in-memory store (or SQLite when asked), from a config given as a plain object.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { startBalancer, type Balancer } from '../../src/main.ts';

export interface TestBalancer {
  readonly balancer: Balancer;
  /** http://127.0.0.1:PORT of a listener (default: the first). */
  url(listener?: string): string;
  readonly adminUrl: string;
  readonly configFile: string;
  close(graceMs?: number): Promise<void>;
}

export async function startTestBalancer(
  config: Record<string, unknown>,
  options: { env?: Record<string, string>; force?: boolean; sqlite?: boolean; failpoints?: string } = {},
): Promise<TestBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-test-'));
  const configFile = join(dir, 'fulcrum.yaml');
  const doc = { version: 1, log: { level: 'silent', access: false }, ...testWorkers(config), ...config };
  writeFileSync(configFile, YAML.stringify(doc));
  const balancer = await startBalancer({
    configFile,
    env: options.env ?? {},
    memoryStore: options.sqlite !== true,
    adminAddress: '127.0.0.1:0',
    ...(options.force ? { force: true } : {}),
    ...(options.failpoints === undefined ? {} : { failpoints: options.failpoints }),
  });
  const listeners = Object.keys(config['listeners'] as Record<string, unknown>);
  return {
    balancer,
    adminUrl: balancer.adminUrl,
    configFile,
    url(listener = listeners[0] as string) {
      const a = balancer.proxy.boundAddress(listener);
      if (!a) throw new Error(`listener ${listener} not bound`);
      return `http://127.0.0.1:${a.port}`;
    },
    close: (graceMs = 1000) => balancer.close(graceMs),
  };
}

/**
 * `FULCRUM_TEST_WORKERS=N` runs every balancer a suite starts with `workers: N` unless its
 * config names its own (CI runs the e2e suites once with 2 workers this way). Suites that write
 * their own config file spread `...testWorkers()` into it.
 */
export function testWorkers(config: Record<string, unknown> = {}): Record<string, unknown> {
  const n = process.env['FULCRUM_TEST_WORKERS'];
  return n === undefined || n === '' || 'workers' in config ? {} : { workers: Number(n) };
}

/** A pool config over fake backends. */
export function poolOf(
  backends: { name: string; address: string }[],
  extra: Record<string, unknown> = {},
  weights?: number[],
): Record<string, unknown> {
  return {
    backends: backends.map((b, i) => ({
      name: b.name,
      address: b.address,
      ...(weights ? { weight: weights[i] } : {}),
    })),
    ...extra,
  };
}

/**
 * A whole config document: one listener `web` on `port` routing everything to a
 * weighted-round-robin pool `app` over `backends` with `weights`, health-checked every second.
 */
export function weightedConfig(
  port: number,
  backends: { name: string; address: string }[],
  weights: number[],
  pool: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: 1,
    log: { level: 'silent', access: false },
    listeners: { web: { address: `127.0.0.1:${port}`, routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        policy: 'weighted-round-robin',
        ...poolOf(backends, { healthCheck: { interval: '1s', timeout: '500ms' } }, weights),
        ...pool,
      },
    },
    admin: { address: '127.0.0.1:0' },
  };
}
