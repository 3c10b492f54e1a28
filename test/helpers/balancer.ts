// Starts a real balancer (startBalancer: proxy, health, monitor, admin) on ephemeral
// loopback ports with an in-memory store, from a config given as a plain object.
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
  options: { env?: Record<string, string>; force?: boolean; sqlite?: boolean } = {},
): Promise<TestBalancer> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-test-'));
  const configFile = join(dir, 'fulcrum.yaml');
  const doc = { version: 1, log: { level: 'silent', access: false }, ...config };
  writeFileSync(configFile, YAML.stringify(doc));
  const balancer = await startBalancer({
    configFile,
    env: options.env ?? {},
    memoryStore: options.sqlite !== true,
    adminAddress: '127.0.0.1:0',
    ...(options.force ? { force: true } : {}),
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
