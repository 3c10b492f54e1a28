// Adversarial review of the admin's browser guard and secret redaction (issue 11 items 4–6):
// exact request bytes over raw loopback sockets, so no client normalises Host, the target,
// header case or duplicates. Every refused mutation is also checked not to change the
// running config version.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { launchBrowser, openPage } from '../helpers/browser.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';

const TOKEN = 'review-token-7f3a9c';
const HOOK_SECRET = 'B0000SECRETPATH';
const HOOK_QUERY = 'qsecret42';
const HEADER_DEFAULT = 'hdrdefault99';

let backends: FakeBackend[];
let open: TestBalancer;
let guarded: TestBalancer;

interface Raw {
  status: number;
  head: string;
  body: string;
}

/** Send `bytes` as written and read until the server closes (every request says close). */
function raw(tb: TestBalancer, bytes: string, readMs = 0): Promise<Raw> {
  const port = Number(new URL(tb.adminUrl).port);
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      const text = Buffer.concat(chunks).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const head = end < 0 ? text : text.slice(0, end);
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        body: text.slice(end + 4),
      });
    };
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', finish);
    s.on('error', reject);
    s.write(bytes);
    // Streams (SSE) never close by themselves: read what came within readMs.
    if (readMs > 0) setTimeout(() => (s.destroy(), finish()), readMs);
  });
}

function req(method: string, target: string, headers: string[], body = ''): string {
  const len = body === '' ? [] : [`Content-Length: ${Buffer.byteLength(body)}`];
  return `${method} ${target} HTTP/1.1\r\n${[...headers, ...len, 'Connection: close'].join('\r\n')}\r\n\r\n${body}`;
}

const codeOf = (r: Raw): string | undefined =>
  (JSON.parse(r.body) as { error?: { code: string } }).error?.code;

async function version(tb: TestBalancer): Promise<number> {
  const r = await raw(tb, req('GET', '/api/v1/config', ['Host: 127.0.0.1'], ''));
  return (JSON.parse(r.body) as { version: number }).version;
}

function config(weights: number[], token: boolean): Record<string, unknown> {
  return {
    version: 1,
    log: { level: 'silent', access: false },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: { backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })) },
    },
    audit: { schedule: '' },
    monitor: {
      notify: [
        {
          webhook: `http://127.0.0.1:9/services/T000/${HOOK_SECRET}?k=${HOOK_QUERY}`,
          headers: { 'x-api-key': `\${env:HOOK_KEY:-${HEADER_DEFAULT}}` },
        },
      ],
    },
    admin: { address: '127.0.0.1:0', ...(token ? { token: TOKEN } : {}) },
  };
}

const yamlOf = (weights: number[], token: boolean): string => YAML.stringify(config(weights, token));

beforeAll(async () => {
  backends = await startFakeBackends(2);
  open = await startTestBalancer(config([1, 1], false), { force: true });
  guarded = await startTestBalancer(config([1, 1], true), { force: true });
}, 60_000);

afterAll(async () => {
  await open?.close();
  await guarded?.close();
  await Promise.all((backends ?? []).map((b) => b.close()));
});

const H = 'Host: 127.0.0.1';

describe('content types on mutating routes (open admin, no token)', () => {
  const refused = [
    'text/plain',
    'text/plain; charset=utf-8',
    'text/plain; x=application/json',
    'text/plain;application/json',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json, text/plain',
    'text/plain, application/json',
  ];
  for (const path of ['/api/v1/config?force=1', '/api/v1/config?dryRun=1', '/api/v1/config']) {
    it(`refuses ${path} with each simple or malformed type, and with none`, async () => {
      const before = await version(open);
      const body = yamlOf([5, 1], false);
      for (const type of [...refused, undefined]) {
        const headers = type === undefined ? [H] : [H, `Content-Type: ${type}`];
        const r = await raw(open, req('POST', path, headers, body));
        expect([type, r.status, codeOf(r)]).toEqual([type, 403, 'FULCRUM_ERR_ADMIN_CONTENT_TYPE']);
      }
      expect(await version(open)).toBe(before);
    });
  }

  it('refuses rollback and audits with form, text and multipart bodies', async () => {
    const before = await version(open);
    for (const path of ['/api/v1/config/rollback', '/api/v1/audits']) {
      for (const type of [
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=b',
      ]) {
        const r = await raw(open, req('POST', path, [H, `Content-Type: ${type}`], '{"version":1}'));
        expect([path, type, r.status, codeOf(r)]).toEqual([
          path,
          type,
          403,
          'FULCRUM_ERR_ADMIN_CONTENT_TYPE',
        ]);
      }
    }
    expect(await version(open)).toBe(before);
  });

  it('accepts the non-simple types the way browsers parse them (case, parameters)', async () => {
    for (const type of [
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/yaml; charset=utf-8',
      'APPLICATION/X-YAML',
    ]) {
      const r = await raw(
        open,
        req('POST', '/api/v1/config?dryRun=1', [H, `Content-Type: ${type}`], yamlOf([2, 1], false)),
      );
      expect([type, r.status]).toEqual([type, 200]);
    }
  });

  it('other methods and method-override headers change nothing; OPTIONS grants no CORS', async () => {
    const before = await version(open);
    for (const m of ['PUT', 'DELETE', 'PATCH']) {
      const r = await raw(
        open,
        req(m, '/api/v1/config', [H, 'Content-Type: application/yaml'], yamlOf([7, 1], false)),
      );
      expect([m, r.status, codeOf(r)]).toEqual([m, 405, 'FULCRUM_ERR_ADMIN_METHOD']);
    }
    for (const h of ['X-HTTP-Method-Override: POST', 'X-Method-Override: POST', 'X-HTTP-Method: POST']) {
      const r = await raw(
        open,
        req('GET', '/api/v1/config?force=1', [H, h, 'Content-Type: application/yaml'], yamlOf([7, 1], false)),
      );
      expect(r.status).toBe(200);
    }
    const pre = await raw(
      open,
      req('OPTIONS', '/api/v1/config', [
        H,
        'Origin: http://evil.example',
        'Access-Control-Request-Method: POST',
        'Access-Control-Request-Headers: content-type, x-fulcrum-request',
      ]),
    );
    expect(pre.head.toLowerCase()).not.toContain('access-control-allow');
    expect(await version(open)).toBe(before);
  });
});

describe('Host games (reads and writes)', () => {
  const refusedHosts = [
    '127.0.0.1.evil.com',
    'localhost.evil.com',
    'evil.com',
    '0x7f.1',
    '2130706433',
    'user@127.0.0.1',
    '127.0.0.1:80@evil.com',
    'localhost..',
    '',
  ];
  it('refuses Host values that do not name the admin', async () => {
    for (const host of refusedHosts) {
      const r = await raw(open, req('GET', '/api/v1/config', [`Host: ${host}`]));
      expect([host, r.status, codeOf(r)]).toEqual([host, 403, 'FULCRUM_ERR_ADMIN_HOST']);
      expect(r.body).not.toContain(HOOK_SECRET);
    }
    // HEAD is checked like GET; the SSE stream too.
    expect((await raw(open, req('HEAD', '/api/v1/config', ['Host: evil.com']))).status).toBe(403);
    expect((await raw(open, req('GET', '/api/v1/events', ['Host: evil.com']))).status).toBe(403);
  });

  it('refuses a request without Host (HTTP/1.0 included) on the API', async () => {
    const r = await raw(open, 'GET /api/v1/config HTTP/1.0\r\n\r\n');
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(HOOK_SECRET);
  });

  it('accepts IP literals, loopback names in any case and with a trailing dot', async () => {
    for (const host of [
      '127.0.0.1:1',
      '[::1]',
      '[::ffff:127.0.0.1]:9901',
      'localhost.',
      'LOCALHOST:5',
      'admin.localhost',
    ]) {
      const r = await raw(open, req('GET', '/api/v1/config', [`Host: ${host}`]));
      expect([host, r.status]).toEqual([host, 200]);
    }
  });

  it('refuses two Host headers, in either order', async () => {
    for (const pair of [
      ['evil.com', '127.0.0.1'],
      ['127.0.0.1', 'evil.com'],
    ]) {
      const r = await raw(
        open,
        req(
          'GET',
          '/api/v1/config',
          pair.map((h) => `Host: ${h}`),
        ),
      );
      expect([pair, r.status === 400 || r.status === 403]).toEqual([pair, true]);
    }
  });

  it('an absolute-form target must name the admin too (its authority wins over Host)', async () => {
    const before = await version(open);
    const r = await raw(open, req('GET', 'http://evil.com/api/v1/config', [H]));
    expect([r.status, codeOf(r)]).toEqual([403, 'FULCRUM_ERR_ADMIN_HOST']);
    const w = await raw(
      open,
      req(
        'POST',
        'http://rebind.evil/api/v1/config?force=1',
        [H, 'Content-Type: application/yaml'],
        yamlOf([9, 1], false),
      ),
    );
    expect([w.status, codeOf(w)]).toEqual([403, 'FULCRUM_ERR_ADMIN_HOST']);
    expect((await raw(open, req('GET', 'http://127.0.0.1/api/v1/config', [H]))).status).toBe(200);
    expect(await version(open)).toBe(before);
  });
});

describe('Origin and Fetch Metadata on mutating calls', () => {
  it('refuses foreign, null and look-alike origins', async () => {
    const before = await version(open);
    const port = new URL(open.adminUrl).port;
    for (const origin of [
      'null',
      `http://127.0.0.1:${port}.evil.com`,
      'http://evil.com',
      `http://127.0.0.1.evil.com:${port}`,
      'file://',
      `ftp://127.0.0.1:${port}`,
    ]) {
      const r = await raw(
        open,
        req(
          'POST',
          '/api/v1/config?force=1',
          [`Host: 127.0.0.1:${port}`, `Origin: ${origin}`, 'Content-Type: application/yaml'],
          yamlOf([3, 1], false),
        ),
      );
      expect([origin, r.status, codeOf(r)]).toEqual([origin, 403, 'FULCRUM_ERR_ADMIN_ORIGIN']);
    }
    expect(await version(open)).toBe(before);
  });

  it('refuses a mutating call a browser marks Sec-Fetch-Site: cross-site, even with a JSON type', async () => {
    const before = await version(open);
    const r = await raw(
      open,
      req(
        'POST',
        '/api/v1/config?force=1',
        [H, 'Sec-Fetch-Site: cross-site', 'Content-Type: application/yaml'],
        yamlOf([4, 1], false),
      ),
    );
    expect([r.status, codeOf(r)]).toEqual([403, 'FULCRUM_ERR_ADMIN_ORIGIN']);
    const rb = await raw(
      open,
      req('POST', '/api/v1/config/rollback', [H, 'Sec-Fetch-Site: cross-site', 'X-Fulcrum-Request: 1'], '{}'),
    );
    expect([rb.status, codeOf(rb)]).toEqual([403, 'FULCRUM_ERR_ADMIN_ORIGIN']);
    expect(await version(open)).toBe(before);
    // The dashboard's own calls are same-origin.
    const ok = await raw(
      open,
      req(
        'POST',
        '/api/v1/config?dryRun=1',
        [H, 'Sec-Fetch-Site: same-origin', 'Content-Type: application/yaml'],
        yamlOf([4, 1], false),
      ),
    );
    expect(ok.status).toBe(200);
  });

  it('an Origin on a GET read does not unlock anything (no CORS headers)', async () => {
    const r = await raw(open, req('GET', '/api/v1/config', [H, 'Origin: http://evil.com']));
    expect(r.head.toLowerCase()).not.toContain('access-control-allow');
  });
});

describe('the token', () => {
  const post = (auth: string[]): string =>
    req(
      'POST',
      '/api/v1/config?dryRun=1',
      [H, 'Content-Type: application/yaml', ...auth],
      yamlOf([1, 1], true),
    );

  it('accepts only the exact token in the Authorization header', async () => {
    expect((await raw(guarded, post([`Authorization: Bearer ${TOKEN}`]))).status).toBe(200);
    expect((await raw(guarded, post([`Authorization: bearer ${TOKEN}`]))).status).toBe(200);
    for (const auth of [
      [],
      [`Authorization: Bearer ${TOKEN}x`],
      [`Authorization: Bearer ${TOKEN.slice(0, -1)}`],
      [`Authorization: Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`],
      [`Authorization: ${TOKEN}`],
      [`X-Fulcrum-Token: ${TOKEN}`],
      ['Authorization: Bearer'],
    ]) {
      const r = await raw(guarded, post(auth));
      expect([auth, r.status, codeOf(r)]).toEqual([auth, 401, 'FULCRUM_ERR_ADMIN_UNAUTHORIZED']);
    }
    const q = await raw(
      guarded,
      req(
        'POST',
        `/api/v1/config?dryRun=1&token=${TOKEN}&access_token=${TOKEN}`,
        [H, 'Content-Type: application/yaml'],
        yamlOf([1, 1], true),
      ),
    );
    expect(q.status).toBe(401);
  });

  it('refuses an apply, forced or not, that leaves a 0.0.0.0 admin without a token', async () => {
    const before = await version(guarded);
    const c = config([1, 1], false);
    c['admin'] = { address: '0.0.0.0:0' };
    for (const path of ['/api/v1/config', '/api/v1/config?force=1']) {
      const r = await raw(
        guarded,
        req(
          'POST',
          path,
          [H, 'Content-Type: application/yaml', `Authorization: Bearer ${TOKEN}`],
          YAML.stringify(c),
        ),
      );
      expect([path, r.status, codeOf(r)]).toEqual([path, 422, 'FULCRUM_ERR_ADMIN_INSECURE']);
    }
    expect(await version(guarded)).toBe(before);
  });

  it('refuses a rollback to a stored version whose admin was 0.0.0.0 without a token', async () => {
    const store = guarded.balancer.store;
    const latest = await store.latestVersion();
    const c = config([1, 1], false);
    c['admin'] = { address: '0.0.0.0:0' };
    // As an older fulcrum could have stored it.
    const bad = await store.commitVersion({
      text: YAML.stringify(c),
      author: 'old-fulcrum',
      message: 'insecure',
      source: 'api',
      expectedLatest: latest?.version ?? null,
    });
    const before = await version(guarded);
    const r = await raw(
      guarded,
      req(
        'POST',
        '/api/v1/config/rollback',
        [H, 'Content-Type: application/json', `Authorization: Bearer ${TOKEN}`],
        JSON.stringify({ version: bad.version }),
      ),
    );
    expect([r.status, codeOf(r)]).toEqual([422, 'FULCRUM_ERR_ADMIN_INSECURE']);
    expect(await version(guarded)).toBe(before);
  });
});

describe('secrets in unauthenticated reads', () => {
  const secrets = [TOKEN, HOOK_SECRET, HOOK_QUERY, HEADER_DEFAULT, 'T000'];
  const leaks = (text: string): string[] => secrets.filter((s) => text.includes(s));

  it('config, versions, diff, events, alerts, audits, pools, guard, metrics, dashboard and SSE show none', async () => {
    // A second version so that there is a diff with the secrets on both sides.
    const applied = await raw(
      guarded,
      req(
        'POST',
        '/api/v1/config',
        [H, 'Content-Type: application/yaml', `Authorization: Bearer ${TOKEN}`, 'X-Fulcrum-Message: w'],
        yamlOf([2, 1], true),
      ),
    );
    expect(applied.status).toBe(200);
    const v = await version(guarded);
    const audit = await raw(
      guarded,
      req(
        'POST',
        '/api/v1/audits',
        [H, 'Content-Type: application/json', `Authorization: Bearer ${TOKEN}`],
        '{}',
      ),
    );
    expect(audit.status).toBe(200);
    const sse = raw(guarded, req('GET', '/api/v1/events', [H, 'Accept: text/event-stream']), 1500);
    const paths = [
      '/api/v1/config',
      `/api/v1/config/versions/${v}`,
      '/api/v1/config/versions/1',
      '/api/v1/config/versions',
      `/api/v1/config/diff?from=1&to=${v}`,
      `/api/v1/config/diff?from=${v}&to=1`,
      '/api/v1/config/events',
      '/api/v1/alerts',
      '/api/v1/audits',
      '/api/v1/pools',
      '/api/v1/guard',
      '/api/v1/series',
      '/metrics',
      '/readyz',
      '/',
    ];
    for (const p of paths) {
      const r = await raw(guarded, req('GET', p, [H]));
      expect([p, r.status]).toEqual([p, 200]);
      expect([p, leaks(r.head + r.body)]).toEqual([p, []]);
    }
    const events = await sse;
    expect(events.status).toBe(200);
    expect(leaks(events.head + events.body)).toEqual([]);
    // The token still unlocks the text as written.
    const full = await raw(guarded, req('GET', '/api/v1/config', [H, `Authorization: Bearer ${TOKEN}`]));
    expect(full.body).toContain(HOOK_SECRET);
    expect(full.body).toContain(HEADER_DEFAULT);
  });

  it('a ${env:NAME:-default} keeps the reference but not its literal default', async () => {
    const r = await raw(guarded, req('GET', '/api/v1/config', [H]));
    const text = (JSON.parse(r.body) as { text: string }).text;
    expect(text).not.toContain(HEADER_DEFAULT);
    expect(text).toContain('(redacted)');
  });

  it('a refused apply carrying secrets leaves none in the events, the stream or its own answer', async () => {
    const sse = raw(guarded, req('GET', '/api/v1/events', [H, 'Accept: text/event-stream']), 1500);
    const c = config([1, 1], true);
    // Invalid (a weight of -1) with the secrets in place: the refusal must not quote them.
    (c['pools'] as { app: { backends: { weight: number }[] } }).app.backends[0]!.weight = -1;
    const r = await raw(
      guarded,
      req(
        'POST',
        '/api/v1/config?force=1',
        [H, 'Content-Type: application/yaml', `Authorization: Bearer ${TOKEN}`],
        YAML.stringify(c),
      ),
    );
    expect(r.status).toBe(422);
    expect(leaks(r.body)).toEqual([]);
    const ev = await raw(guarded, req('GET', '/api/v1/config/events', [H]));
    expect(leaks(ev.body)).toEqual([]);
    const stream = await sse;
    expect(leaks(stream.body)).toEqual([]);
  });

  it('a dry run against the running config shows none of the running secrets (open admin)', async () => {
    const c = config([3, 1], false);
    (c['monitor'] as { notify: unknown[] }).notify = [
      { webhook: 'http://127.0.0.1:9/plain', headers: { 'x-api-key': 'k' } },
    ];
    for (const path of ['/api/v1/config?dryRun=1', '/api/v1/config?dryRun=1&force=1']) {
      const r = await raw(open, req('POST', path, [H, 'Content-Type: application/yaml'], YAML.stringify(c)));
      expect([path, r.status]).toEqual([path, 200]);
      expect([path, leaks(r.body)]).toEqual([path, []]);
      // The diff did cover the notifier (so the secrets were on its "before" side).
      expect(r.body).toContain('monitor.notify');
    }
  });

  it('percent-encoded or doubled API paths neither skip the Host check nor apply', async () => {
    const before = await version(open);
    for (const path of [
      '/%61pi/v1/config?force=1',
      '/api//v1/config?force=1',
      '/api/v1/config/?force=1',
      '/API/v1/config?force=1',
    ]) {
      const r = await raw(
        open,
        req('POST', path, ['Host: evil.com', 'Content-Type: application/yaml'], yamlOf([6, 1], false)),
      );
      expect([path, r.status === 403 || r.status === 404]).toEqual([path, true]);
    }
    expect(await version(open)).toBe(before);
  });

  it('an error quoting a bad value in a stored version does not leak it', async () => {
    const r = await raw(guarded, req('GET', '/api/v1/config/versions/999999', [H]));
    expect(r.status).toBe(404);
    expect(leaks(r.body)).toEqual([]);
  });
});

describe('in real Chromium, from a cross-site page', () => {
  let attacker: Server;
  let browser: Browser;
  beforeAll(async () => {
    attacker = createServer((_q, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>cats</title><body>cats</body>');
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    browser = await launchBrowser(['--host-resolver-rules=MAP evil.test 127.0.0.1']);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => attacker?.close(r));
  });

  // Ways a page can post without a preflight beyond text/plain fetches and forms: Blob bodies
  // typed as JSON or YAML (the type must be dropped), beacons, keepalive, an unknown enctype.
  const ATTACKS = `async ({ target, yaml }) => {
    const out = [];
    const tries = {
      blobYaml: () => fetch(target, { method: 'POST', mode: 'no-cors', body: new Blob([yaml], { type: 'application/yaml' }) }),
      blobJsonHeader: () => fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'x-fulcrum-request': '1' }, body: new Blob([yaml], { type: 'application/json' }) }),
      typeParam: () => fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain; x=application/yaml' }, body: yaml }),
      keepalive: () => fetch(target, { method: 'POST', mode: 'no-cors', keepalive: true, body: yaml }),
      beaconText: async () => navigator.sendBeacon(target, yaml),
      beaconBlob: async () => navigator.sendBeacon(target, new Blob([yaml], { type: 'application/yaml' })),
    };
    for (const [name, run] of Object.entries(tries)) {
      try { await run(); out.push(name + ': sent'); } catch (e) { out.push(name + ': ' + e); }
    }
    const frame = document.createElement('iframe');
    frame.name = 'sink';
    document.body.append(frame);
    const loaded = new Promise((r) => frame.addEventListener('load', r, { once: true }));
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = target;
    form.enctype = 'application/json';
    form.target = 'sink';
    const field = document.createElement('textarea');
    field.name = yaml;
    form.append(field);
    document.body.append(form);
    form.submit();
    await loaded;
    out.push('form: sent');
    return out;
  }`;

  it('no attack changes the config; every post that arrives is refused and marked cross-site', async () => {
    const seen: { method: string; type: string; site: string; status: number }[] = [];
    const record = (q: IncomingMessage, res: ServerResponse): void => {
      // Only the browser's requests (the test's own reads carry no Fetch Metadata).
      if (!(q.url ?? '').startsWith('/api/v1/config') || q.headers['sec-fetch-site'] === undefined) return;
      res.on('finish', () =>
        seen.push({
          method: q.method ?? '',
          type: String(q.headers['content-type'] ?? ''),
          site: String(q.headers['sec-fetch-site'] ?? ''),
          status: res.statusCode,
        }),
      );
    };
    open.balancer.adminServer.on('request', record);
    try {
      const before = await version(open);
      const adminPort = new URL(open.adminUrl).port;
      const page = (await openPage(browser, `http://evil.test:${(attacker.address() as AddressInfo).port}/`))
        .page;
      const out = (await page.evaluate(
        `(${ATTACKS})(${JSON.stringify({ target: `http://127.0.0.1:${adminPort}/api/v1/config?force=1`, yaml: yamlOf([10, 1], false) })})`,
      )) as string[];
      expect(out).toHaveLength(7);
      // Beacons are sent after the call returns: wait (bounded) until 7 requests reached the admin.
      const deadline = Date.now() + 15_000;
      while (seen.length < 7 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(seen.length).toBeGreaterThanOrEqual(7);
      const posts = seen.filter((s) => s.method === 'POST');
      expect(posts.length).toBeGreaterThanOrEqual(1);
      for (const p of posts) expect(p).toMatchObject({ status: 403, site: 'cross-site' });
      for (const s of seen)
        expect([s.method, s.status === 403 || s.status === 405]).toEqual([s.method, true]);
      expect(await version(open)).toBe(before);
      await page.context().close();
    } finally {
      open.balancer.adminServer.off('request', record);
    }
  }, 60_000);
});
