// Runs a ProxyServer in-process from a config object, the way main.ts wires it.
import pino from 'pino';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { EventHub, type RequestOutcome } from '../../src/core/events.ts';
import { HostRegistry } from '../../src/data-plane/host-state.ts';
import { ProxyServer, type ProxyDeps } from '../../src/proxy/proxy-server.ts';
import { buildSnapshot } from '../../src/data-plane/snapshot.ts';
import type { FakeBackend } from './fake-backend.ts';

// Policies start at offset 0 so tests can tell which backend gets the first try.
const BUILD = { random: () => 0 };

export interface Harness {
  proxy: ProxyServer;
  hub: EventHub;
  registry: HostRegistry;
  config: Config;
  outcomes: RequestOutcome[];
  port(listener?: string): number;
  /** Parse and activate another config (version + 1). */
  apply(input: unknown): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export async function startProxy(
  input: unknown,
  deps: Partial<Pick<ProxyDeps, 'explainToken' | 'auditSecret'>> = {},
): Promise<Harness> {
  const hub = new EventHub();
  const outcomes: RequestOutcome[] = [];
  hub.requests.subscribe((o) => outcomes.push(o));
  const registry = new HostRegistry();
  const proxy = new ProxyServer({
    hub,
    logger: pino({ level: 'silent' }),
    ...deps,
  });
  let version = 1;
  const config = configSchema.parse(input);
  await proxy.activate(buildSnapshot(config, version, registry, BUILD));
  let closed = false;
  return {
    proxy,
    hub,
    registry,
    config,
    outcomes,
    port(listener = 'web') {
      const a = proxy.boundAddress(listener);
      if (a === undefined) throw new Error(`listener ${listener} not bound`);
      return a.port;
    },
    async apply(next) {
      version++;
      await proxy.activate(buildSnapshot(configSchema.parse(next), version, registry, BUILD));
    },
    async close(graceMs = 0) {
      if (closed) return;
      closed = true;
      await proxy.shutdown(graceMs);
    },
  };
}

/** A one-listener, one-pool config input: listener `web` on an ephemeral port, pool `app`. */
export function simpleConfig(
  backends: readonly FakeBackend[],
  pool: Record<string, unknown> = {},
  listener: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    version: 1,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }], ...listener } },
    pools: {
      app: { backends: backends.map((b) => ({ name: b.name, address: b.address })), ...pool },
    },
  };
}
