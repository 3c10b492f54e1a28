// Start-up hands the controller the config it loaded and linted before binding
// (ApplyOptions.loaded): the apply runs those instead of parsing and linting the same text
// again, and only for the same text, source and base directory.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { lintConfig } from '../config/lint/lint-config.ts';
import { loadConfigText, type LoadedConfig } from '../config/load.ts';
import { EventHub } from '../core/events.ts';
import { HostRegistry } from '../data-plane/host-state.ts';
import { openMemoryStore } from '../store/memory-store.ts';
import { ConfigController } from './controller.ts';

const FILE = '/etc/fulcrum/fulcrum.yaml';

const text = (port: number): string => `version: 1
log: { level: silent, access: false }
listeners:
  web:
    address: 127.0.0.1:0
    routes: [{ pool: app }]
pools:
  app:
    policy: round-robin
    backends:
      - { name: a, address: 127.0.0.1:${port} }
`;

async function controller(): Promise<ConfigController> {
  return new ConfigController({
    store: await openMemoryStore(),
    registry: new HostRegistry(),
    health: { prepare: async () => undefined, commit: () => {}, discard: () => {} },
    proxy: { activate: async () => {} },
    hub: new EventHub(),
    logger: pino({ level: 'silent' }),
    env: {},
    baseDir: '/etc/fulcrum',
  });
}

/** As startBalancer does: load, then lint in the same turn. */
function startLoad(
  t: string,
  baseDir = '/etc/fulcrum',
): { config: LoadedConfig; findings: ReturnType<typeof lintConfig> } {
  const r = loadConfigText(t, { source: FILE, env: {} });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  const config = { ...r.value, baseDir };
  return { config, findings: lintConfig(config) };
}

const hosts = (c: ConfigController): string[] | undefined =>
  c.snapshot?.pools.get('app')?.state.hosts.map((h) => h.address);

describe('ConfigController: apply with the start-up load', () => {
  it('runs the given load and findings of the same text without parsing or linting it again', async () => {
    const c = await controller();
    const pre = startLoad(text(8001));
    // A single-backend pool without health checks: lint has findings, and they carry lines.
    expect(pre.findings.some((f) => f.line !== undefined)).toBe(true);
    const r = await c.apply(text(8001), { source: 'file', origin: FILE, force: true, loaded: pre });
    expect(r.status).toBe('applied');
    // The very objects made before binding: nothing was parsed or linted a second time.
    expect(c.loaded).toBe(pre.config);
    expect(r.findings).toBe(pre.findings);
    expect(c.loaded?.lineOf(['pools', 'app', 'backends', 0, 'address'])).toBe(11);
    expect(hosts(c)).toEqual(['127.0.0.1:8001']);
  });

  it('loads and lints the text itself when the load is of another text, source or base directory', async () => {
    for (const [pre, origin, port] of [
      [startLoad(text(8001)), FILE, 8002],
      [startLoad(text(8001)), 'store version 3', 8001],
      [startLoad(text(8001), '/elsewhere'), FILE, 8001],
    ] as const) {
      const c = await controller();
      const r = await c.apply(text(port), { source: 'file', origin, force: true, loaded: pre });
      expect(c.loaded).not.toBe(pre.config);
      expect(r.findings).not.toBe(pre.findings);
      expect(r.findings).toEqual(lintConfig(c.loaded as LoadedConfig));
      expect(c.loaded).toMatchObject({ text: text(port), source: origin, baseDir: '/etc/fulcrum' });
      expect(hosts(c)).toEqual([`127.0.0.1:${port}`]);
    }
  });
});
