import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { queryObjects } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { Document } from 'yaml';
import { configIssuesError, formatPath, loadConfigFile, loadConfigText } from './load.ts';
import type { ConfigIssue, LoadedConfig, LoadResult } from './load.ts';
import { ACCESS_LOG_FIELDS } from './schema.ts';

const minimal = (extra = '', poolExtra = '') => `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes:
      - pool: app
pools:
  app:
    backends:
      - { name: app-1, address: 127.0.0.1:9001 }
      - { name: app-2, address: 127.0.0.1:9002 }
${poolExtra}${extra}`;

function ok(r: LoadResult): LoadedConfig {
  if (!r.ok) throw new Error(`expected a valid config, got ${JSON.stringify(r.issues, null, 2)}`);
  return r.value;
}

function issues(r: LoadResult): ConfigIssue[] {
  if (r.ok) throw new Error('expected issues, the config is valid');
  return r.issues;
}

describe('formatPath', () => {
  it('writes dotted paths with [index]', () => {
    expect(formatPath(['pools', 'app', 'backends', 1, 'weight'])).toBe('pools.app.backends[1].weight');
    expect(formatPath([])).toBe('');
    expect(formatPath(['pools', 'a.b', 'policy'])).toBe('pools["a.b"].policy');
  });
});

describe('loadConfigText', () => {
  it('validates, normalises and applies defaults from the schema', () => {
    const v = ok(loadConfigText(minimal('', '    healthCheck: { interval: 1s }\n'), { source: 'x.yaml' }));
    expect(v.source).toBe('x.yaml');
    const pool = v.config.pools.app;
    expect(pool?.policy).toBe('round-robin');
    expect(pool?.backends[0]?.weight).toBe(1);
    expect(pool?.healthCheck?.interval).toBe(1000);
    expect(pool?.healthCheck?.timeout).toBe(1000);
    expect(pool?.panicThreshold).toBe(0.5);
    expect(pool?.retries.bufferSize).toBe(64 * 1024);
    expect(v.config.admin.address).toBe('127.0.0.1:9901');
    // Sections left out are filled from their keys' defaults.
    expect(pool?.flapDampening.maxHoldTime).toBe(300_000);
    expect(pool?.timeouts.idle).toBe(4000);
    expect(v.config.listeners.web?.timeouts.idle).toBe(60_000);
    expect(v.config.listeners.web?.limits.maxHeaderSize).toBe(16 * 1024);
    expect(v.config.monitor).toMatchObject({ window: 60_000, slo: { target: 0.999 }, notify: [] });
    expect(v.config.monitor.fairness.for).toBe(30_000);
    expect(v.config.audit.distribution).toEqual({ probes: 600, tolerance: 0.15 });
    expect(v.config.audit.schedule).toBe('*/15 * * * *');
    expect(v.config.store.sqlite).toBe('./.fulcrum/state.db');
    expect(v.config.log).toEqual({
      level: 'info',
      access: { enabled: true, format: 'json', fields: [...ACCESS_LOG_FIELDS], query: false },
    });
    // raw is the document as written: no defaults filled in.
    expect((v.raw as { admin?: unknown }).admin).toBeUndefined();
    expect(v.text).toContain('app-2');
  });

  it('defaults source to <api>', () => {
    expect(ok(loadConfigText(minimal())).source).toBe('<api>');
  });

  it('accepts JSON', () => {
    const json = JSON.stringify({
      version: 1,
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: [{ name: 'a', address: '127.0.0.1:9001', weight: 3 }] } },
    });
    expect(ok(loadConfigText(json)).config.pools.app?.backends[0]?.weight).toBe(3);
  });

  it('accepts numeric retry conditions and status codes as YAML writes them', () => {
    const v = ok(
      loadConfigText(
        minimal(
          '',
          '    retries: { on: [connect-failure, 502, 503] }\n    healthCheck: { expectStatus: 204 }\n',
        ),
      ),
    );
    expect(v.config.pools.app?.retries.on).toEqual(['connect-failure', '502', '503']);
    expect(v.config.pools.app?.healthCheck?.expectStatus).toBe('204');
  });

  it('lineOf finds keys, list items and nested values', () => {
    const v = ok(loadConfigText(minimal()));
    expect(v.lineOf(['pools', 'app'])).toBe(8);
    expect(v.lineOf(['pools', 'app', 'backends', 1])).toBe(11);
    expect(v.lineOf(['pools', 'app', 'backends', 1, 'address'])).toBe(11);
    expect(v.lineOf(['listeners', 'web', 'routes', 0, 'pool'])).toBe(6);
    // A path that is not written resolves to its deepest written ancestor.
    expect(v.lineOf(['pools', 'app', 'healthCheck'])).toBe(8);
  });

  it('a kept config does not keep its parsed document; lineOf parses the text again when asked', async () => {
    const live = (): number => queryObjects(Document, { format: 'count' }) as number;
    const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
    await tick();
    const before = live();
    const v = ok(loadConfigText(minimal()));
    expect(v.lineOf(['pools', 'app', 'backends', 1, 'address'])).toBe(11);
    await tick(); // a WeakRef's target is kept until the job that made it ends
    expect(live() - before).toBe(0);
    expect(v.lineOf(['pools', 'app', 'backends', 1, 'address'])).toBe(11);
    expect(v.lineOf(['listeners', 'web', 'routes', 0, 'pool'])).toBe(6);
  });

  it('reports YAML syntax errors with FULCRUM_ERR_CONFIG_PARSE, line and column', () => {
    const list = issues(loadConfigText('version: 1\npools:\n  app: { backends: [\n'));
    expect(list[0]).toMatchObject({ code: 'FULCRUM_ERR_CONFIG_PARSE', path: '' });
    expect(list[0]?.line).toBeGreaterThanOrEqual(3);
    expect(list[0]?.column).toBeGreaterThanOrEqual(1);
  });

  it('refuses duplicate keys rather than letting the last one win silently', () => {
    const list = issues(loadConfigText(minimal('log: { level: info }\nlog: { level: debug }\n')));
    expect(list[0]).toMatchObject({
      code: 'FULCRUM_ERR_CONFIG_PARSE',
      line: 13,
      message: 'duplicate key "log": each key may appear once',
    });
    expect(issues(loadConfigText('{"a": 1, "a": 2}'))[0]?.message).toBe(
      'duplicate key "a": each key may appear once',
    );
  });

  it('refuses a stream of several documents', () => {
    expect(issues(loadConfigText(`${minimal()}---\nversion: 1\n`))[0]).toMatchObject({
      code: 'FULCRUM_ERR_CONFIG_PARSE',
      line: 12,
    });
  });

  it('refuses an alias bomb', () => {
    const bomb = [
      'a: &a ["x","x","x","x","x","x","x","x","x","x"]',
      'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]',
      'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]',
      'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]',
      'e: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]',
    ].join('\n');
    expect(issues(loadConfigText(bomb))[0]?.code).toBe('FULCRUM_ERR_CONFIG_PARSE');
  });

  it('reports every schema problem at once, sorted by line, with path-precise messages', () => {
    const text = `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes:
      - pool: app
pools:
  app:
    policy: round-robn
    backends:
      - { name: app-1, address: 127.0.0.1:9001 }
      - { name: app-2, address: 127.0.0.1:9002, weight: -1 }
    helthCheck: { path: /healthz }
monitor:
  slo: { target: 150% }
`;
    const list = issues(loadConfigText(text));
    expect(list.map((i) => [i.line, i.path, i.message, i.hint])).toEqual([
      [
        9,
        'pools.app.policy',
        'must be one of: round-robin, weighted-round-robin, least-requests, p2c-ewma, consistent-hash, random',
        'did you mean "round-robin"?',
      ],
      [12, 'pools.app.backends[1].weight', 'must be ≥ 0', undefined],
      [13, 'pools.app.helthCheck', 'unknown key "helthCheck"', 'did you mean "healthCheck"?'],
      [15, 'monitor.slo.target', 'must be a percentage between 0% and 100% (got "150%")', undefined],
    ]);
    expect(new Set(list.map((i) => i.code))).toEqual(new Set(['FULCRUM_ERR_CONFIG_INVALID']));
  });

  it('lists the allowed keys when no key is close to an unknown one', () => {
    const [issue] = issues(loadConfigText(minimal('log: { zzzzzz: true }\n')));
    expect(issue).toMatchObject({ path: 'log.zzzzzz', hint: 'allowed keys: level, access, file' });
  });

  it('takes log.access as a boolean shorthand or as a section, and refuses an unknown field', () => {
    const off = ok(loadConfigText(minimal('log: { access: false }\n'))).config.log.access;
    expect(off).toEqual({ enabled: false, format: 'json', fields: [...ACCESS_LOG_FIELDS], query: false });
    const some = ok(loadConfigText(minimal('log: { access: { fields: [path, status], format: logfmt } }\n')))
      .config.log.access;
    expect(some).toEqual({ enabled: true, format: 'logfmt', fields: ['path', 'status'], query: false });
    const [issue] = issues(loadConfigText(minimal('log: { access: { fields: [paht] } }\n')));
    expect(issue?.path).toBe('log.access.fields[0]');
    expect(issue?.code).toBe('FULCRUM_ERR_CONFIG_INVALID');
  });

  it('suggests keys of either notifier kind', () => {
    const list = issues(
      loadConfigText(minimal('monitor: { notify: [{ webhok: "http://127.0.0.1:1/" }] }\n')),
    );
    expect(list.find((i) => i.path === 'monitor.notify[0].webhok')?.hint).toBe('did you mean "webhook"?');
  });

  it('names the expected and the actual type', () => {
    const [issue] = issues(loadConfigText(minimal('', '    slowStart: 5\n')));
    expect(issue).toMatchObject({ path: 'pools.app.slowStart', message: 'must be a string, got 5' });
  });

  it.each([
    ['http://127.0.0.1:9001', 'must be host:port without a scheme'],
    ['127.0.0.1', 'the port is missing'],
    ['127.0.0.1:70000', 'port must be 0-65535'],
    ['::1:9001', 'an IPv6 host needs brackets'],
  ])('explains what is wrong with the address %s', (address, message) => {
    const [issue] = issues(loadConfigText(minimal().replace('127.0.0.1:9002', address)));
    expect(issue?.path).toBe('pools.app.backends[1].address');
    expect(issue?.message).toContain(message);
    expect(issue?.message).toContain(`(got "${address}")`);
  });

  it('reports a bad record key (pool name) by its path', () => {
    const list = issues(loadConfigText(minimal('', '  "bad name": { backends: [] }\n')));
    expect(list[0]?.path).toBe('pools["bad name"]');
    expect(list[0]?.message).toMatch(/^invalid name "bad name": must be 1-63/);
  });
});

describe('${env:NAME} substitution', () => {
  const withToken = (value: string) => minimal(`admin:\n  token: ${value}\n`);

  it('substitutes string scalars from the given env', () => {
    const v = ok(loadConfigText(withToken('"Bearer ${env:TOKEN}"'), { env: { TOKEN: 'abc' } }));
    expect(v.config.admin.token).toBe('Bearer abc');
    expect((v.raw as { admin: { token: string } }).admin.token).toBe('Bearer abc');
  });

  it('uses the default when the variable is unset or empty', () => {
    expect(ok(loadConfigText(withToken('${env:TOKEN:-dflt}'), { env: {} })).config.admin.token).toBe('dflt');
    expect(
      ok(loadConfigText(withToken('${env:TOKEN:-dflt}'), { env: { TOKEN: '' } })).config.admin.token,
    ).toBe('dflt');
  });

  it('keeps $${env:NAME} literal', () => {
    expect(ok(loadConfigText(withToken("'$${env:TOKEN}'"), { env: {} })).config.admin.token).toBe(
      '${env:TOKEN}',
    );
  });

  it('reports a missing variable with FULCRUM_ERR_CONFIG_ENV at its path, alongside schema issues', () => {
    const text = withToken('${env:NOPE}').replace('weight', 'weight') + 'log: { level: loud }\n';
    const list = issues(loadConfigText(text, { env: {} }));
    expect(list[0]).toMatchObject({ code: 'FULCRUM_ERR_CONFIG_ENV', path: 'admin.token', line: 13 });
    expect(list[0]?.message).toContain('NOPE');
    expect(list[1]).toMatchObject({ code: 'FULCRUM_ERR_CONFIG_INVALID', path: 'log.level', line: 14 });
  });

  it('reports a malformed reference', () => {
    const [issue] = issues(loadConfigText(withToken('${env:1BAD}'), { env: {} }));
    expect(issue).toMatchObject({ code: 'FULCRUM_ERR_CONFIG_ENV', path: 'admin.token' });
  });

  it('never lets a value inject YAML structure', () => {
    const evil = 'x\nlisteners:\n  evil: { address: 0.0.0.0:1, routes: [{ pool: app }] }';
    const v = ok(loadConfigText(withToken('${env:TOKEN}'), { env: { TOKEN: evil } }));
    expect(v.config.admin.token).toBe(evil);
    expect(Object.keys(v.config.listeners)).toEqual(['web']);
  });

  it('keeps any value as one string, whatever YAML, JSON or ${env:...} it contains', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60, unit: 'binary' }), (value) => {
        const v = ok(loadConfigText(withToken('"pre-${env:T}"'), { env: { T: value } }));
        expect(v.config.admin.token).toBe(`pre-${value}`);
        expect(Object.keys(v.config.listeners)).toEqual(['web']);
      }),
      { numRuns: 100 },
    );
  });

  it('does not substitute in keys', () => {
    const v = ok(loadConfigText(minimal('', '    lameDuckHeader: x-${env:H}\n'), { env: { H: 'drain' } }));
    expect(v.config.pools.app?.lameDuckHeader).toBe('x-drain');
  });
});

describe('semantic rules', () => {
  const firstIssue = (text: string): ConfigIssue | undefined => issues(loadConfigText(text, { env: {} }))[0];

  it('route to an unknown pool, with did-you-mean among pool names', () => {
    expect(firstIssue(minimal().replace('- pool: app', '- pool: apq'))).toMatchObject({
      path: 'listeners.web.routes[0].pool',
      line: 6,
      hint: 'did you mean "app"?',
    });
  });

  it('two listeners on port 0 are not a clash; the same port is; a wildcard clashes with any host', () => {
    const two = (a: string, b: string) => `version: 1
listeners:
  a: { address: "${a}", routes: [{ pool: app }] }
  b: { address: "${b}", routes: [{ pool: app }] }
pools:
  app:
    backends: [{ name: x, address: "127.0.0.1:9001" }]
`;
    ok(loadConfigText(two('127.0.0.1:0', '127.0.0.1:0')));
    ok(loadConfigText(two('127.0.0.1:8080', '127.0.0.2:8080')));
    expect(firstIssue(two('127.0.0.1:8080', '127.0.0.1:8080'))?.path).toBe('listeners.b.address');
    expect(firstIssue(two('127.0.0.1:8080', '0.0.0.0:8080'))?.path).toBe('listeners.b.address');
    expect(firstIssue(two('[::]:8080', '127.0.0.1:8080'))?.path).toBe('listeners.b.address');
  });

  it('a listener on the admin address', () => {
    expect(firstIssue(minimal('admin: { address: "127.0.0.1:8080" }\n'))).toMatchObject({
      path: 'admin.address',
      message: 'address 127.0.0.1:8080 is already used by listeners.web.address (127.0.0.1:8080)',
    });
  });

  it('duplicate backend names and addresses, but not two port-0 backends', () => {
    const pool = (b2: string) => minimal().replace('{ name: app-2, address: 127.0.0.1:9002 }', b2);
    expect(firstIssue(pool('{ name: app-1, address: 127.0.0.1:9002 }'))?.path).toBe(
      'pools.app.backends[1].name',
    );
    expect(firstIssue(pool('{ name: app-2, address: 127.0.0.1:9001 }'))?.path).toBe(
      'pools.app.backends[1].address',
    );
    ok(loadConfigText(pool('{ name: app-2, address: 127.0.0.1:9003 }')));
    const zeros = minimal().replace(/127\.0\.0\.1:900[12]/g, '127.0.0.1:0');
    ok(loadConfigText(zeros));
  });

  it('all weights zero; one zero weight is fine', () => {
    const zero = minimal()
      .replace('127.0.0.1:9001 }', '127.0.0.1:9001, weight: 0 }')
      .replace('127.0.0.1:9002 }', '127.0.0.1:9002, weight: 0 }');
    expect(firstIssue(zero)).toMatchObject({ path: 'pools.app.backends', line: 9 });
    ok(loadConfigText(minimal().replace('127.0.0.1:9001 }', '127.0.0.1:9001, weight: 0 }')));
  });

  it('hash on a pool that does not use consistent-hash; consistent-hash without hash is fine', () => {
    expect(firstIssue(minimal('', '    hash: { key: path }\n'))?.path).toBe('pools.app.hash');
    const v = ok(loadConfigText(minimal('', '    policy: consistent-hash\n')));
    // Left out, it takes the schema's defaults.
    expect(v.config.pools.app?.hash).toEqual({ key: 'source-ip', balanceFactor: 1.25 });
  });

  it('health check timeout must be > 0', () => {
    expect(firstIssue(minimal('', '    healthCheck: { timeout: "0" }\n'))).toMatchObject({
      path: 'pools.app.healthCheck.timeout',
      message: 'must be > 0',
    });
  });

  it('maxEjectionTime ≥ baseEjectionTime', () => {
    const text = minimal('', '    outlierDetection: { baseEjectionTime: 1m, maxEjectionTime: 30s }\n');
    expect(firstIssue(text)?.path).toBe('pools.app.outlierDetection.maxEjectionTime');
    ok(
      loadConfigText(minimal('', '    outlierDetection: { baseEjectionTime: 30s, maxEjectionTime: 30s }\n')),
    );
  });

  it('a wildcard host is one leading label', () => {
    const route = (host: string) =>
      minimal().replace('- pool: app', `- { match: { host: "${host}" }, pool: app }`);
    ok(loadConfigText(route('*.example.com')));
    ok(loadConfigText(route('api.example.com')));
    expect(firstIssue(route('api.*.com'))).toMatchObject({
      path: 'listeners.web.routes[0].match.host',
      line: 6,
    });
    expect(firstIssue(route('*example.com'))?.path).toBe('listeners.web.routes[0].match.host');
  });

  it('audit.schedule must be a cron expression that fires; empty disables', () => {
    expect(firstIssue(minimal('audit: { schedule: "61 * * * *" }\n'))?.message).toMatch(
      /invalid cron expression/,
    );
    expect(firstIssue(minimal('audit: { schedule: "0 0 31 2 *" }\n'))?.message).toMatch(/never fires/);
    expect(ok(loadConfigText(minimal('audit: { schedule: "" }\n'))).config.audit.schedule).toBe('');
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('loads a file and names it as the source', async () => {
    const file = join(dir, 'ok.yaml');
    writeFileSync(file, minimal());
    expect(ok(await loadConfigFile(file)).source).toBe(file);
  });

  it('turns an unreadable file into FULCRUM_ERR_CONFIG_READ', async () => {
    const [issue] = issues(await loadConfigFile(join(dir, 'missing.yaml')));
    expect(issue).toMatchObject({ code: 'FULCRUM_ERR_CONFIG_READ', path: '' });
    expect(issue?.message).toContain('no such file');
  });
});

describe('configIssuesError', () => {
  it('takes the code of the most basic failed stage and keeps every issue in details', () => {
    const list = issues(
      loadConfigText(minimal('admin: { token: "${env:NOPE}" }\nlog: { level: loud }\n'), { env: {} }),
    );
    const err = configIssuesError(list, 'f.yaml');
    expect(err.code).toBe('FULCRUM_ERR_CONFIG_INVALID');
    expect(err.status).toBe(422);
    expect(err.message).toBe(
      'f.yaml: invalid config: admin.token: environment variable NOPE is not set (and 1 more)',
    );
    expect(err.details).toEqual({ source: 'f.yaml', issues: list });
    expect(configIssuesError(issues(loadConfigText('a: [')), 'x').code).toBe('FULCRUM_ERR_CONFIG_PARSE');
    expect(configIssuesError([list[0] as ConfigIssue]).code).toBe('FULCRUM_ERR_CONFIG_ENV');
  });
});
