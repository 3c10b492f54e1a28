import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../../core/errors.ts';
import type { LoadedConfig } from '../load.ts';
import { loadOrThrow } from '../../testing/config-kit.ts';
import { lintConfig } from './lint-config.ts';

function load(pools: string): LoadedConfig {
  const text = `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes: [{ pool: app }]
pools:
${pools}`;
  return loadOrThrow(text, { source: 'mem.yaml', env: {} });
}

const skewed = load(`  app:
    policy: weighted-round-robin
    backends:
      - { name: a, address: 127.0.0.1:9001, weight: 10 }
      - { name: b, address: 127.0.0.1:9002, weight: 1 }
`);

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isFulcrumError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('expected a FulcrumError');
}

describe('lintConfig', () => {
  it('sorts errors first, then by line', () => {
    const findings = lintConfig(skewed);
    expect(findings.map((f) => `${f.severity}:${f.ruleId}:${f.line}`)).toEqual([
      'error:weight-skew:10',
      'warning:no-health-checking:7',
      'warning:few-backends:9',
    ]);
    expect(findings.every((f) => f.file === 'mem.yaml')).toBe(true);
  });

  it('lets parameters be overridden per rule, with the type of the default', () => {
    expect(
      lintConfig(skewed, { params: { 'weight-skew': { maxRatio: 20 } } }).map((f) => f.ruleId),
    ).not.toContain('weight-skew');
    expect(usageError(() => lintConfig(skewed, { params: { 'weight-skew': { maxRatio: '20' } } }))).toMatch(
      /^FULCRUM_ERR_CLI_USAGE: .*maxRatio.* must be like 3/,
    );
    expect(usageError(() => lintConfig(skewed, { params: { 'weight-skew': { max: 2 } } }))).toContain(
      'has no parameter "max"',
    );
    expect(usageError(() => lintConfig(skewed, { params: { 'weight-skwe': {} } }))).toContain(
      '"weight-skwe"',
    );
  });

  it('runs only --rule ids and never --skip ids', () => {
    expect(
      lintConfig(skewed, { rules: ['few-backends', 'weight-skew'], skip: ['weight-skew'] }).map(
        (f) => f.ruleId,
      ),
    ).toEqual(['few-backends']);
  });

  it('points a finding about a defaulted key at its nearest written ancestor', () => {
    const loaded = load(`  app:
    backends:
      - { name: a, address: 127.0.0.1:9001 }
      - { name: b, address: 127.0.0.1:9002 }
      - { name: c, address: 127.0.0.1:9003 }
    healthCheck: {}
`);
    const [idle] = lintConfig(loaded, {
      rules: ['upstream-idle-timeout'],
      params: { 'upstream-idle-timeout': { backendKeepAliveMs: 3000 } },
    });
    expect(idle).toMatchObject({ path: 'pools.app.timeouts.idle', line: 7 });
    expect(idle?.message).toContain('timeouts.idle 4s ≥ backend keep-alive 3s');
  });

  it('tells an explicit key from a default (hash-source-ip)', () => {
    const implicit = load(`  app:
    policy: consistent-hash
    backends:
      - { name: a, address: 127.0.0.1:9001 }
      - { name: b, address: 127.0.0.1:9002 }
      - { name: c, address: 127.0.0.1:9003 }
`);
    const [f] = lintConfig(implicit, { rules: ['hash-source-ip'] });
    expect(f).toMatchObject({ path: 'pools.app.policy', line: 8 });
    expect(f?.message).toContain('(the default)');
  });

  it('audit-disabled also notices a schedule that leaves out the distribution check', () => {
    const text = `version: 1
listeners: { web: { address: 127.0.0.1:8080, routes: [{ pool: app }] } }
pools: { app: { backends: [{ name: a, address: 127.0.0.1:9001 }] } }
audit: { checks: [lint, drift] }
`;
    expect(
      lintConfig(loadOrThrow(text, { source: 'a.yaml', env: {} }), { rules: ['audit-disabled'] }),
    ).toEqual([expect.objectContaining({ path: 'audit.checks', line: 4, severity: 'info' })]);
  });

  it('weight-skew: a light canary passes against the median, not against the minimum', () => {
    const canary = load(`  app:
    policy: weighted-round-robin
    backends:
      - { name: big, address: 127.0.0.1:9001, weight: 6 }
      - { name: small, address: 127.0.0.1:9002, weight: 3 }
      - { name: canary, address: 127.0.0.1:9003, weight: 1 }
`);
    expect(lintConfig(canary, { rules: ['weight-skew'] })).toEqual([]);
    const strict = lintConfig(canary, {
      rules: ['weight-skew'],
      params: { 'weight-skew': { compareTo: 'min' } },
    });
    expect(strict.map((f) => f.message)).toEqual([
      'big weight 6 is 6× canary weight 1 (max 3×); big would take 60% of pool app',
    ]);
    // With two backends the lower median is the lighter one: 10:1 is skew.
    expect(lintConfig(skewed, { rules: ['weight-skew'] }).map((f) => f.message)).toEqual([
      'a weight 10 is 10× b weight 1 (max 3×); a would take 91% of pool app',
    ]);
  });

  it('shadowed-route follows first-match: catch-all, wildcard host, path prefix, header subset', () => {
    const routes = (list: string[]) => {
      const text = `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes:
${list.map((r) => `      - ${r}`).join('\n')}
pools:
  app: { backends: [{ name: a, address: 127.0.0.1:9001 }] }
  api: { backends: [{ name: b, address: 127.0.0.1:9002 }] }
`;
      return lintConfig(loadOrThrow(text, { source: 'r.yaml', env: {} }), { rules: ['shadowed-route'] }).map(
        (f) => f.path,
      );
    };
    expect(routes(['{ pool: app }', '{ match: { host: api.example.com }, pool: api }'])).toEqual([
      'listeners.web.routes[1]',
    ]);
    expect(
      routes([
        '{ match: { pathPrefix: /v1 }, pool: app }',
        '{ match: { pathPrefix: /v1/users }, pool: api }',
      ]),
    ).toEqual(['listeners.web.routes[1]']);
    expect(
      routes([
        '{ match: { pathPrefix: /v1/users }, pool: api }',
        '{ match: { pathPrefix: /v1 }, pool: app }',
      ]),
    ).toEqual([]);
    expect(
      routes([
        '{ match: { headers: { X-Canary: "1" } }, pool: api }',
        '{ match: { headers: { x-canary: "1", x-b: "2" } }, pool: app }',
      ]),
    ).toEqual(['listeners.web.routes[1]']);
    expect(
      routes([
        '{ match: { headers: { x-canary: "1", x-b: "2" } }, pool: api }',
        '{ match: { headers: { x-canary: "1" } }, pool: app }',
      ]),
    ).toEqual([]);
    expect(
      routes([
        '{ match: { host: API.example.com }, pool: api }',
        '{ match: { host: api.example.com, pathPrefix: /x }, pool: app }',
      ]),
    ).toEqual(['listeners.web.routes[1]']);
    expect(
      routes([
        '{ match: { host: "*.example.com" }, pool: api }',
        '{ match: { host: example.com }, pool: app }',
      ]),
    ).toEqual([]);
  });
});
