// Issue 11 items 4-6 and issue 17's admin-input fixes over a real balancer: Host, Origin and
// content type of admin calls (with and without the token), config reads with secrets
// redacted unless the token is presented, no apply that leaves an insecure admin, bounded
// bodies, coded errors for malformed author and audit input, and who the history records.
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../../src/main.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TOKEN = 'guard-test-token-7f3a';
const HOOK = 'http://127.0.0.1:9/services/T000/B000/HOOKSECRET?sig=QUERYSECRET';
const HEADER = 'Bearer HEADERSECRET';
const SECRETS = [TOKEN, 'HOOKSECRET', 'QUERYSECRET', 'HEADERSECRET', 'services/T000'];

let backends: FakeBackend[];
let tb: TestBalancer;
let port: number;

function config(weights: number[], admin: Record<string, unknown> = { token: '${env:ADMIN_TOKEN}' }) {
  return {
    version: 1,
    log: { level: 'silent', access: false },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })),
      },
    },
    monitor: { notify: [{ webhook: HOOK, headers: { authorization: HEADER } }] },
    audit: { schedule: '' },
    admin: { address: '127.0.0.1:0', ...admin },
  };
}

interface Answer {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

/** One admin call over a raw socket, so Host and every other header are ours to choose. */
async function call(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
  target = port,
): Promise<Answer> {
  const r = await httpRequest({
    port: target,
    method,
    path,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  let parsed: unknown = r.text;
  try {
    parsed = JSON.parse(r.text);
  } catch {
    // metrics, dashboard
  }
  return { status: r.status, body: parsed, headers: r.headers };
}

const auth = { authorization: `Bearer ${TOKEN}` };
const yaml = { 'content-type': 'application/yaml' };
const version = async (): Promise<number> => (await call('GET', '/api/v1/config')).body.version;

beforeAll(async () => {
  backends = await startFakeBackends(2, 'app-');
  tb = await startTestBalancer(config([1, 1]), { env: { ADMIN_TOKEN: TOKEN }, force: true });
  port = Number(new URL(tb.adminUrl).port);
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

describe('Host: the DNS-rebinding defence', () => {
  it('refuses /api/ calls whose Host names another site, reads and writes alike', async () => {
    const before = await version();
    const evil = { host: `evil.example:${port}` };
    const read = await call('GET', '/api/v1/config', evil);
    expect(read.status).toBe(403);
    expect(read.body.error.code).toBe('FULCRUM_ERR_ADMIN_HOST');
    expect(JSON.stringify(read.body)).not.toContain('version: 1');
    const write = await call(
      'POST',
      '/api/v1/config?force=1',
      { ...evil, ...auth, ...yaml },
      YAML.stringify(config([5, 1])),
    );
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('FULCRUM_ERR_ADMIN_HOST');
    for (const path of ['/api/v1/config/versions/1', '/api/v1/events', '/api/v1/pools'])
      expect((await call('GET', path, evil)).status).toBe(403);
    expect(await version()).toBe(before);
  });

  it('answers its own names: IPs, localhost and loopback names, on any port (tunnels, relays)', async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `[::1]:${port}`,
      `10.9.8.7:${port}`,
      'localhost:19901',
      'admin.localhost',
    ])
      expect((await call('GET', '/api/v1/pools', { host })).status, host).toBe(200);
    for (const host of [
      `rebind.example:${port}`,
      `localhost.evil.example:${port}`,
      '127.0.0.1.nip.io',
      'a b',
    ])
      expect((await call('GET', '/api/v1/pools', { host })).body.error.code, host).toBe(
        'FULCRUM_ERR_ADMIN_HOST',
      );
  });

  it('answers the names listed in admin.allowedHosts', async () => {
    const listed = config([1, 1], {
      token: '${env:ADMIN_TOKEN}',
      allowedHosts: ['ops.example', 'tunnel.example:8443'],
    });
    const r = await call('POST', '/api/v1/config', { ...auth, ...yaml }, YAML.stringify(listed));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    for (const host of ['ops.example:9901', 'ops.example', 'tunnel.example:8443'])
      expect((await call('GET', '/api/v1/pools', { host })).status, host).toBe(200);
    expect((await call('GET', '/api/v1/pools', { host: 'tunnel.example:8444' })).status).toBe(403);
  });

  it('leaves probes and scrapes alone: /healthz, /readyz and /metrics answer any Host', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics'])
      expect((await call('GET', path, { host: 'prometheus-target.internal:80' })).status, path).toBe(200);
  });
});

describe('mutating calls a cross-origin page could forge', () => {
  const skew = () => YAML.stringify(config([9, 1]));

  it.each([
    ['text/plain', 'text/plain;charset=UTF-8'],
    ['a form post', 'application/x-www-form-urlencoded'],
    ['multipart', 'multipart/form-data; boundary=x'],
    ['no content type', undefined],
  ])('refuses %s with FULCRUM_ERR_ADMIN_CONTENT_TYPE, with or without the token', async (_what, type) => {
    const before = await version();
    for (const token of [auth, {}]) {
      const headers: Record<string, string> = {
        ...token,
        ...(type === undefined ? {} : { 'content-type': type }),
      };
      const r = await call('POST', '/api/v1/config?force=1', headers, skew());
      expect(r.status).toBe(403);
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_CONTENT_TYPE');
      const rb = await call('POST', '/api/v1/config/rollback', headers, '{}');
      expect(rb.body.error.code).toBe('FULCRUM_ERR_ADMIN_CONTENT_TYPE');
    }
    expect(await version()).toBe(before);
  });

  it('refuses a foreign or opaque Origin even with a JSON or YAML type and the token', async () => {
    const before = await version();
    for (const origin of ['http://evil.example', `http://localhost:${port + 1}`, 'null']) {
      const r = await call('POST', '/api/v1/config?force=1', { origin, ...auth, ...yaml }, skew());
      expect(r.status, origin).toBe(403);
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_ORIGIN');
    }
    expect(await version()).toBe(before);
  });

  it('takes the admin own origin, X-Fulcrum-Request, and grants no CORS', async () => {
    const same = await call(
      'POST',
      '/api/v1/config?dryRun=1',
      { origin: `http://127.0.0.1:${port}`, ...auth, ...yaml },
      skew(),
    );
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expect(same.body.status).toBe('dry-run');
    const header = await call(
      'POST',
      '/api/v1/config?dryRun=1',
      { 'x-fulcrum-request': '1', ...auth },
      skew(),
    );
    expect(header.status, JSON.stringify(header.body)).toBe(200);
    const preflight = await call('OPTIONS', '/api/v1/config', {
      origin: 'http://evil.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });
});

describe('config reads keep secrets to the token holder', () => {
  it('redacts token, webhook path and query and header values without the token', async () => {
    const v = await version();
    for (const path of ['/api/v1/config', `/api/v1/config/versions/${v}`]) {
      const r = await call('GET', path);
      expect(r.status).toBe(200);
      expect(r.body.redacted).toBe(true);
      for (const s of SECRETS) expect(r.body.text, `${path} leaks ${s}`).not.toContain(s);
      expect(r.body.text).toContain('http://127.0.0.1:9');
      // The reference names no secret; it stays.
      expect(r.body.text).toContain('${env:ADMIN_TOKEN}');
    }
  });

  it('serves the full text to a caller presenting the token, and never a wrong one', async () => {
    const r = await call('GET', '/api/v1/config', auth);
    expect(r.body.redacted).toBe(false);
    expect(r.body.text).toContain('HOOKSECRET');
    const wrong = await call('GET', '/api/v1/config', { authorization: 'Bearer nope' });
    expect(wrong.body.text).not.toContain('HOOKSECRET');
  });

  it('keeps secrets out of diffs, apply answers, history, events and audits', async () => {
    const moved = { ...config([2, 1]) };
    (moved.monitor.notify[0] as { webhook: string }).webhook = HOOK.replace('HOOKSECRET', 'HOOKSECRET2');
    const applied = await call('POST', '/api/v1/config', { ...auth, ...yaml }, YAML.stringify(moved));
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    const v = applied.body.version as number;
    const reads = [
      applied.body,
      (await call('GET', `/api/v1/config/diff?from=${v - 1}&to=${v}`)).body,
      (await call('GET', '/api/v1/config/versions')).body,
      (await call('GET', '/api/v1/config/events')).body,
      (
        await call(
          'POST',
          '/api/v1/audits',
          { ...auth, 'content-type': 'application/json' },
          '{"checks":["drift","lint"]}',
        )
      ).body,
      (await call('GET', '/api/v1/audits')).body,
    ];
    expect(JSON.stringify(reads[1])).toContain('monitor.notify[0].webhook');
    for (const [i, body] of reads.entries())
      for (const s of SECRETS) expect(JSON.stringify(body), `read ${i} leaks ${s}`).not.toContain(s);
  });
});

describe('no apply leaves an admin start would refuse', () => {
  it('refuses, forced or not, a config whose admin address is off loopback without a token', async () => {
    const before = await version();
    const open = YAML.stringify(config([1, 1], { address: '0.0.0.0:9901' }));
    for (const q of ['', '?force=1']) {
      const r = await call('POST', `/api/v1/config${q}`, { ...auth, ...yaml }, open);
      expect(r.status).toBe(422);
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_INSECURE');
    }
    expect(await version()).toBe(before);
  });

  it('refuses to drop the token of an admin bound off loopback', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-guard-'));
    const file = join(dir, 'fulcrum.yaml');
    writeFileSync(file, YAML.stringify(config([1, 1])));
    const b: Balancer = await startBalancer({
      configFile: file,
      env: { ADMIN_TOKEN: TOKEN },
      memoryStore: true,
      adminAddress: '0.0.0.0:0',
      force: true,
    });
    try {
      const p = Number(new URL(b.adminUrl).port);
      const r = await call(
        'POST',
        '/api/v1/config?force=1',
        { ...auth, ...yaml },
        YAML.stringify(config([1, 1], {})),
        p,
      );
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_INSECURE');
      expect(b.controller.version?.version).toBe(1);
      expect(b.controller.snapshot?.config.admin.token).toBe(TOKEN);
    } finally {
      await b.close(0);
    }
  });
});

describe('bounded bodies and malformed input are coded 4xx', () => {
  it('refuses a config body over 2 MiB before parsing with FULCRUM_ERR_CONFIG_TOO_LARGE (413)', async () => {
    const big = `${YAML.stringify(config([1, 1]))}\n# ${'x'.repeat(3 * 1024 * 1024)}\n`;
    const r = await call('POST', '/api/v1/config', { ...auth, ...yaml }, big);
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('FULCRUM_ERR_CONFIG_TOO_LARGE');
  });

  it('answers a malformed percent-escape in X-Fulcrum-Author or -Message with 400, changing nothing', async () => {
    const before = await version();
    for (const h of ['x-fulcrum-author', 'x-fulcrum-message']) {
      const r = await call(
        'POST',
        '/api/v1/config',
        { ...auth, ...yaml, [h]: '%E0%A4%A' },
        YAML.stringify(config([3, 1])),
      );
      expect(r.status, h).toBe(400);
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_BAD_REQUEST');
    }
    expect(await version()).toBe(before);
  });

  it('answers POST /api/v1/audits with a non-list checks with 400, running nothing', async () => {
    const runs = (await call('GET', '/api/v1/audits')).body.runs.length as number;
    for (const checks of ['"lint"', '{"a":1}', '[1]', 'null']) {
      const r = await call(
        'POST',
        '/api/v1/audits',
        { ...auth, 'content-type': 'application/json' },
        `{"checks":${checks}}`,
      );
      expect(r.status, checks).toBe(400);
      expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_BAD_REQUEST');
    }
    expect((await call('GET', '/api/v1/audits')).body.runs.length).toBe(runs);
  });
});

describe('who the history records', () => {
  it('records X-Fulcrum-Author, else the token holder with the client address', async () => {
    const named = await call(
      'POST',
      '/api/v1/config?force=1',
      { ...auth, ...yaml, 'x-fulcrum-author': encodeURIComponent('Zoë Ops') },
      YAML.stringify(config([4, 1])),
    );
    const unnamed = await call(
      'POST',
      '/api/v1/config?force=1',
      { ...auth, ...yaml },
      YAML.stringify(config([5, 1])),
    );
    expect([named.status, unnamed.status], JSON.stringify([named.body, unnamed.body])).toEqual([200, 200]);
    const list = (await call('GET', '/api/v1/config/versions')).body.versions as {
      version: number;
      author: string;
    }[];
    expect(list.find((v) => v.version === named.body.version)?.author).toBe('Zoë Ops');
    expect(list.find((v) => v.version === unnamed.body.version)?.author).toBe('token@127.0.0.1');
    const escaped = await call(
      'POST',
      '/api/v1/config?force=1',
      { ...auth, ...yaml, 'x-fulcrum-author': '%1B%5B31mEve%0A' },
      YAML.stringify(config([6, 1])),
    );
    expect(escaped.status, JSON.stringify(escaped.body)).toBe(200);
    const v = (await call('GET', `/api/v1/config/versions/${escaped.body.version}`)).body as {
      author: string;
    };
    expect(v.author).toBe('[31mEve');
  });
});
