// The admin API contract: auth, one error shape, readiness with reasons, SSE events.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

let backends: FakeBackend[];
let tb: TestBalancer;
const TOKEN = 's3cret-token-for-tests';
const JSON_TYPE = { 'content-type': 'application/json' };
const YAML_TYPE = { 'content-type': 'application/yaml' };

beforeAll(async () => {
  backends = await startFakeBackends(3, 'app-');
  tb = await startTestBalancer(
    {
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          backends: backends.map((b) => ({ name: b.name, address: b.address })),
          healthCheck: { interval: '200ms', timeout: '150ms', healthyThreshold: 1, unhealthyThreshold: 1 },
        },
      },
      admin: { address: '127.0.0.1:0', token: '${env:ADMIN_TOKEN}' },
    },
    { env: { ADMIN_TOKEN: TOKEN }, force: true },
  );
});
afterAll(async () => {
  await tb.close();
  await Promise.all(backends.map((b) => b.close()));
});

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${tb.adminUrl}${path}`, init);
  const text = await res.text();
  let body: any = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (metrics)
  }
  return { status: res.status, body, headers: res.headers };
}

describe('admin API', () => {
  it('answers /healthz and /readyz when ready', async () => {
    expect((await call('/healthz')).body).toEqual({ status: 'ok' });
    const r = await call('/readyz');
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe('ready');
  });

  it('lets reads through on loopback without a token', async () => {
    const r = await call('/api/v1/pools');
    expect(r.status).toBe(200);
    expect(r.body.pools[0].backends.map((b: { name: string }) => b.name)).toEqual(
      backends.map((b) => b.name),
    );
  });

  it('refuses mutating calls without the token, with the one error shape', async () => {
    const r = await call('/api/v1/config/rollback', { method: 'POST', body: '{}', headers: JSON_TYPE });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_UNAUTHORIZED');
    const wrong = await call('/api/v1/config', {
      method: 'POST',
      body: 'x',
      headers: { authorization: 'Bearer nope', ...YAML_TYPE },
    });
    expect(wrong.status).toBe(401);
  });

  it('never returns the token in logs or the config API shape beyond the text the user wrote', async () => {
    const r = await call('/api/v1/config');
    expect(r.status).toBe(200);
    // The stored text keeps the ${env:} reference, not the secret it resolved to.
    expect(r.body.text).toContain('${env:ADMIN_TOKEN}');
    expect(JSON.stringify(r.body)).not.toContain(TOKEN);
  });

  it('answers unknown paths and methods with coded errors', async () => {
    const nf = await call('/api/v1/nope');
    expect(nf.status).toBe(404);
    expect(nf.body.error.code).toBe('FULCRUM_ERR_ADMIN_NOT_FOUND');
    const m = await call('/api/v1/pools', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(m.status).toBe(405);
    expect(m.body.error.code).toBe('FULCRUM_ERR_ADMIN_METHOD');
  });

  it('refuses bodies over 4 MiB', async () => {
    const r = await call('/api/v1/config', {
      method: 'POST',
      body: 'x'.repeat(5 * 1024 * 1024),
      headers: { authorization: `Bearer ${TOKEN}`, ...YAML_TYPE },
    });
    expect(r.status).toBe(413);
    expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_BODY_TOO_LARGE');
  });

  it('refuses a malformed rollback body', async () => {
    const r = await call('/api/v1/config/rollback', {
      method: 'POST',
      body: '{"version":"two"}',
      headers: { authorization: `Bearer ${TOKEN}`, ...JSON_TYPE },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('FULCRUM_ERR_ADMIN_BAD_REQUEST');
  });

  it('audits drift with the environment the balancer was started with', async () => {
    const r = await call('/api/v1/audits', {
      method: 'POST',
      body: JSON.stringify({ checks: ['drift'] }),
      headers: { authorization: `Bearer ${TOKEN}`, ...JSON_TYPE },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status, JSON.stringify(r.body.checks)).toBe('pass');
    const list = await call('/api/v1/audits');
    expect(list.body.runs[0].id).toBe(r.body.id);
    expect(list.body.schedule).toMatchObject({ schedule: '*/15 * * * *' });
  });

  it('serves Prometheus metrics', async () => {
    const r = await call('/metrics');
    expect(r.status).toBe(200);
    expect(String(r.body)).toContain('fulcrum_config_version');
  });

  it('streams host state changes as server-sent events, and /readyz names the reason', async () => {
    const events: string[] = [];
    const url = new URL('/api/v1/events', tb.adminUrl);
    const req = http.get(url, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => events.push(d));
    });
    await new Promise((r) => setTimeout(r, 200));
    for (const b of backends) b.setHealth('fail');
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !events.join('').includes('event: host-state')) {
      await new Promise((r) => setTimeout(r, 50));
    }
    req.destroy();
    expect(events.join('')).toContain('event: host-state');
    let ready = await call('/readyz');
    while (Date.now() < deadline && ready.status === 200) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await call('/readyz');
    }
    expect(ready.status).toBe(503);
    expect(ready.body.reasons.join(' ')).toMatch(/app/);
    for (const b of backends) b.setHealth('ok');
  });
});
