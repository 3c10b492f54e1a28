import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../config/load.ts';
import { loadOrThrow } from '../../testing/config-kit.ts';
import { HostRegistry } from '../../data-plane/host-state.ts';
import { buildSnapshot, type Snapshot } from '../../data-plane/snapshot.ts';
import { startFakeBackend, type FakeBackend } from '../../../test/helpers/fake-backend.ts';
import type { CheckContext } from '../types.ts';
import {
  AUDIT_BACKEND_HEADER,
  AUDIT_REQUEST_HEADER,
  dialHost,
  distributionCheck,
  judgePair,
  requestFor,
  type PairResult,
} from './distribution.ts';
import { driftCheck } from './drift.ts';
import { healthCheck } from './health.ts';
import { lintCheck } from './lint.ts';

const load = (text: string): LoadedConfig => loadOrThrow(text, { source: 'test.yaml' });

function yaml(backends: { name: string; address: string; weight?: number }[], extra = ''): string {
  return `version: 1
listeners:
  web:
    address: 127.0.0.1:0
    routes:
      - match: { host: api.example.com, pathPrefix: /v1 }
        pool: app
pools:
  app:
    policy: weighted-round-robin
    healthCheck: { path: /healthz, interval: 1s, timeout: 500ms }
    backends:
${backends.map((b) => `      - { name: ${b.name}, address: "${b.address}", weight: ${b.weight ?? 1} }`).join('\n')}
${extra}`;
}

function ctx(loaded: LoadedConfig, more: Partial<CheckContext> = {}): CheckContext {
  return { loaded, snapshot: undefined, audit: loaded.config.audit, desired: async () => undefined, ...more };
}

const backends: FakeBackend[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(backends.splice(0).map((b) => b.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('lint check', () => {
  it('reports the lint catalog findings of the running config with their paths', async () => {
    const loaded = load(
      yaml([
        { name: 'a', address: '127.0.0.1:1', weight: 10 },
        { name: 'b', address: '127.0.0.1:2' },
      ]),
    );
    const out = await lintCheck.run(ctx(loaded));
    const skew = out.findings.find((f) => f.ruleId === 'weight-skew');
    expect(skew).toMatchObject({ severity: 'error', path: 'pools.app.backends[0].weight' });
    expect(skew?.data).toMatchObject({ file: 'test.yaml', line: expect.any(Number) });
  });
});

describe('drift check', () => {
  const running = yaml([
    { name: 'a', address: '127.0.0.1:1' },
    { name: 'b', address: '127.0.0.1:2' },
  ]);

  it('is skipped without a desired source, and clean when only formatting differs', async () => {
    expect((await driftCheck.run(ctx(load(running)))).skipped).toBeDefined();
    const reformatted = running.replace('interval: 1s', 'interval: 1000ms');
    const out = await driftCheck.run(
      ctx(load(running), { desired: async () => ({ text: reformatted, origin: 'fulcrum.yaml' }) }),
    );
    expect(out.findings).toEqual([]);
  });

  it('reports each difference as an error finding carrying the diff', async () => {
    const changed = running.replace(
      'name: b, address: "127.0.0.1:2", weight: 1',
      'name: b, address: "127.0.0.1:2", weight: 9',
    );
    const out = await driftCheck.run(
      ctx(load(changed), { desired: async () => ({ text: running, origin: 'fulcrum.yaml' }) }),
    );
    expect(out.findings).toHaveLength(1);
    expect(out.findings[0]).toMatchObject({
      ruleId: 'drift',
      severity: 'error',
      path: 'pools.app.backends[1].weight',
      message: 'running 9, desired 1',
      data: { kind: 'changed', running: 9, desired: 1 },
    });
  });

  it('an invalid desired source is an error finding, not a crash', async () => {
    const out = await driftCheck.run(
      ctx(load(running), { desired: async () => ({ text: 'version: 2', origin: 'x.yaml' }) }),
    );
    expect(out.findings[0]).toMatchObject({ ruleId: 'drift-desired-invalid', severity: 'error' });
  });
});

describe('health check', () => {
  it('flags a backend called healthy that fails a direct probe, and one called down that passes', async () => {
    const a = await startFakeBackend({ name: 'a' });
    const b = await startFakeBackend({ name: 'b' });
    const c = await startFakeBackend({ name: 'c' });
    backends.push(a, b, c);
    const loaded = load(yaml([a, b, c]));
    const snapshot = buildSnapshot(loaded.config, 1, new HostRegistry());
    const [ha, hb, hc] = snapshot.pools.get('app')!.state.hosts;
    ha!.status = 'healthy'; // and it is: agrees
    hb!.status = 'healthy'; // but its health endpoint fails: false up
    b.setHealth('fail');
    hc!.status = 'unhealthy'; // but it answers: false down
    const out = await healthCheck.run(ctx(loaded, { snapshot }));
    expect(out.findings.map((f) => [f.ruleId, f.severity, f.path])).toEqual([
      ['health-false-up', 'error', 'pools.app/b'],
      ['health-false-down', 'warning', 'pools.app/c'],
    ]);
    expect(out.findings[0]!.message).toContain('status 503');
  });

  it('without a pool health check, a backend called healthy must at least accept a connection', async () => {
    const a = await startFakeBackend({ name: 'a' });
    backends.push(a);
    const loaded = load(yaml([a]).replace(/ {4}healthCheck: .*\n/, ''));
    const snapshot = buildSnapshot(loaded.config, 1, new HostRegistry());
    expect((await healthCheck.run(ctx(loaded, { snapshot }))).findings).toEqual([]);
    await a.setMode('down');
    const out = await healthCheck.run(ctx(loaded, { snapshot }));
    expect(out.findings).toEqual([
      expect.objectContaining({ ruleId: 'health-false-up', path: 'pools.app/a' }),
    ]);
    expect(out.findings[0]!.message).toContain('ECONNREFUSED');
  });

  it('does not judge ejected or draining backends', async () => {
    const a = await startFakeBackend({ name: 'a' });
    backends.push(a);
    a.setHealth('fail');
    const loaded = load(yaml([a]));
    const snapshot = buildSnapshot(loaded.config, 1, new HostRegistry());
    snapshot.pools.get('app')!.state.hosts[0]!.status = 'ejected';
    const out = await healthCheck.run(ctx(loaded, { snapshot }));
    expect(out.findings).toEqual([]);
    expect(out.skipped).toBeDefined();
  });
});

function pair(counts: number[], expected: number[], failed = 0): PairResult {
  const answered = counts.reduce((a, b) => a + b, 0);
  const rows = counts.map((o, i) => ({
    backend: `b${i}`,
    observed: o,
    observedShare: o / answered,
    expectedShare: expected[i]!,
    shareRatio: expected[i]! > 0 ? o / answered / expected[i]! : null,
  }));
  return {
    listener: 'web',
    pool: 'app',
    probes: answered + failed,
    expectedFrom: 'running config',
    answered,
    failed,
    statuses: { 200: answered },
    rows,
    chiSquare: 0,
    degreesOfFreedom: 0,
    pValue: 1,
    maxShareRatio: 0,
    minShareRatio: 0,
  };
}

describe('distribution verdict', () => {
  const third = [1 / 3, 1 / 3, 1 / 3];

  it('flags a large skew that is also significant, naming the overfed backend', async () => {
    const { chiSquare } = await import('../chi-square.ts');
    const r = pair([480, 60, 60], third);
    Object.assign(r, { pValue: chiSquare([480, 60, 60], third).pValue });
    const f = judgePair(r, 0.15);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ ruleId: 'distribution-skew', severity: 'error', path: 'pools.app/b0' });
    expect(f[0]!.message).toContain('share ratio 2.40');
  });

  it('does not flag a share beyond tolerance that the sample cannot tell from noise', () => {
    const r = pair([13, 9, 8], third);
    Object.assign(r, { pValue: 0.5 });
    expect(judgePair(r, 0.15).filter((f) => f.ruleId === 'distribution-skew')).toEqual([]);
  });

  it('flags traffic to a backend that should get none, and failed probes', () => {
    const r = pair([100, 100, 5], [0.5, 0.5, 0], 10);
    const ids = judgePair(r, 0.15).map((f) => f.ruleId);
    expect(ids).toContain('distribution-unexpected-backend');
    expect(ids).toContain('distribution-probe-failures');
  });

  it('reaches a wildcard bind address on loopback', () => {
    expect([dialHost('0.0.0.0'), dialHost('::'), dialHost('127.0.0.2')]).toEqual([
      '127.0.0.1',
      '::1',
      '127.0.0.2',
    ]);
  });

  it('builds a request the route matches', () => {
    expect(
      requestFor({
        match: { host: '*.example.com', pathPrefix: '/v1', headers: { 'X-Tenant': 'a' } },
        pool: 'p',
      }),
    ).toEqual({
      path: '/v1',
      headers: { host: 'fulcrum-audit.example.com', 'x-tenant': 'a' },
    });
  });
});

/**
 * A stand-in for the proxy: routes with the snapshot's router, picks with the pool's policy
 * (the same PoolState the real proxy uses) and answers with the audit header only for
 * requests carrying the secret.
 */
async function standInProxy(snapshot: Snapshot, secret: string): Promise<{ host: string; port: number }> {
  const listener = snapshot.listeners.get('web')!;
  const server = http.createServer((req, res) => {
    const route = listener.router.match(req.headers.host, req.url ?? '/', req.headers);
    const host = route && snapshot.pools.get(route.pool)!.state.pick(undefined);
    if (host === undefined) {
      res.writeHead(route ? 503 : 404).end();
      return;
    }
    res
      .writeHead(
        200,
        req.headers[AUDIT_REQUEST_HEADER] === secret ? { [AUDIT_BACKEND_HEADER]: host.name } : {},
      )
      .end('ok');
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { host: '127.0.0.1', port: (server.address() as AddressInfo).port };
}

describe('distribution check through a listener', () => {
  it('passes weights honoured as configured, and fails the postmortem skew once the running weights change', async () => {
    const bs = [
      { name: 'a', address: '127.0.0.1:1' },
      { name: 'b', address: '127.0.0.1:2' },
      { name: 'c', address: '127.0.0.1:3' },
    ];
    const loaded = load(yaml(bs, 'audit: { distribution: { probes: 300, tolerance: 0.15 } }'));
    const registry = new HostRegistry();
    const snapshot = buildSnapshot(loaded.config, 1, registry);
    const target = await standInProxy(snapshot, 's3cret');
    const good = await distributionCheck.run(
      ctx(loaded, { snapshot, proxyAddress: () => target, auditSecret: 's3cret' }),
    );
    expect(good.findings).toEqual([]);
    const details = good.details as { pairs: PairResult[] };
    expect(details.pairs[0]).toMatchObject({ listener: 'web', pool: 'app', answered: 300, failed: 0 });
    expect(details.pairs[0]!.rows.map((r) => r.observed)).toEqual([100, 100, 100]);
    expect(good.notes).toEqual([
      'pool app via web: 300/300 probes answered; chi-square 0.0 (df 2), p = 1.0; share ratio 1.00..1.00 (expected by running config)',
    ]);

    // Behind the config's back: the running pool now sends 80% to "a" while the audit expects a third.
    const skewed = buildSnapshot(
      load(
        yaml([
          { ...bs[0]!, weight: 8 },
          { ...bs[1]!, weight: 1 },
          { ...bs[2]!, weight: 1 },
        ]),
      ).config,
      2,
      new HostRegistry(),
    );
    const target2 = await standInProxy(skewed, 's3cret');
    const bad = await distributionCheck.run(
      ctx(loaded, { snapshot, proxyAddress: () => target2, auditSecret: 's3cret' }),
    );
    const skew = bad.findings.find((f) => f.ruleId === 'distribution-skew');
    expect(skew).toMatchObject({ severity: 'error', path: 'pools.app/a' });
    expect(skew!.message).toMatch(/a got 80\.0% of 300 probes, expected 33\.3%/);
  });

  it('judges against the desired source: weights changed behind its back are a skew', async () => {
    const bs = [
      { name: 'a', address: '127.0.0.1:1' },
      { name: 'b', address: '127.0.0.1:2' },
      { name: 'c', address: '127.0.0.1:3' },
    ];
    const intended = yaml(bs, 'audit: { distribution: { probes: 200 } }');
    const running = load(
      yaml([{ ...bs[0]!, weight: 8 }, bs[1]!, bs[2]!], 'audit: { distribution: { probes: 200 } }'),
    );
    const snapshot = buildSnapshot(running.config, 2, new HostRegistry());
    const target = await standInProxy(snapshot, 's');
    const base = { snapshot, proxyAddress: () => target, auditSecret: 's' };
    // Against the running config itself the balancer does what it is told...
    expect((await distributionCheck.run(ctx(running, base))).findings).toEqual([]);
    // ...against the source of truth it overfeeds "a".
    const out = await distributionCheck.run(
      ctx(running, { ...base, desired: async () => ({ text: intended, origin: 'fulcrum.yaml' }) }),
    );
    expect(out.findings).toEqual([
      expect.objectContaining({ ruleId: 'distribution-skew', path: 'pools.app/a' }),
    ]);
    expect(out.findings[0]!.message).toContain('expected 33.3% by fulcrum.yaml');
  });

  it('without the secret no backend is identified, so every probe counts as failed', async () => {
    const loaded = load(
      yaml([{ name: 'a', address: '127.0.0.1:1' }], 'audit: { distribution: { probes: 20 } }'),
    );
    const snapshot = buildSnapshot(loaded.config, 1, new HostRegistry());
    const target = await standInProxy(snapshot, 'right');
    const out = await distributionCheck.run(
      ctx(loaded, { snapshot, proxyAddress: () => target, auditSecret: 'wrong' }),
    );
    expect(out.findings[0]).toMatchObject({ ruleId: 'distribution-probe-failures', severity: 'error' });
  });
});
