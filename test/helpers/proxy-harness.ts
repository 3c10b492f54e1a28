// Runs a ProxyServer in-process from a config object, the way main.ts wires it.
import pino from 'pino';
import { configSchema, type Config } from '../../src/config/schema.ts';
import { EventHub, type RequestOutcome } from '../../src/core/events.ts';
import { HostRegistry, type HostState } from '../../src/data-plane/host-state.ts';
import { ProxyServer, type ProxyDeps } from '../../src/proxy/proxy-server.ts';
import { buildSnapshot, type Snapshot } from '../../src/data-plane/snapshot.ts';
import type { FakeBackend } from './fake-backend.ts';

// Policies start at offset 0 so tests can tell which backend gets the first try.
const BUILD = { random: () => 0 };

export interface Harness {
  proxy: ProxyServer;
  hub: EventHub;
  registry: HostRegistry;
  config: Config;
  outcomes: RequestOutcome[];
  /** The host of a backend by its address, in the newest snapshot that has it. */
  host(pool: string, address: string): HostState | undefined;
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
  const built: Snapshot[] = [buildSnapshot(config, version, registry, BUILD)];
  await proxy.activate(built[0] as Snapshot);
  let closed = false;
  return {
    proxy,
    hub,
    registry,
    config,
    outcomes,
    host(pool, address) {
      for (let i = built.length - 1; i >= 0; i--) {
        const h = built[i]?.pools.get(pool)?.state.hosts.find((x) => x.address === address);
        if (h !== undefined) return h;
      }
      return undefined;
    },
    port(listener = 'web') {
      const a = proxy.boundAddress(listener);
      if (a === undefined) throw new Error(`listener ${listener} not bound`);
      return a.port;
    },
    async apply(next) {
      version++;
      const snapshot = buildSnapshot(configSchema.parse(next), version, registry, BUILD);
      built.push(snapshot);
      await proxy.activate(snapshot);
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
