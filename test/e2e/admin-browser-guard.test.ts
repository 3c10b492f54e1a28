// Issue 11 "done when": in real Chromium, a page from another origin (a second local server)
// tries to reconfigure the admin the ways a browser allows without a preflight — a no-cors
// text/plain fetch, text/plain and urlencoded form posts — plus a CORS fetch, and a
// rebinding-style host (--host-resolver-rules maps rebind.test to 127.0.0.1, so a page at
// http://rebind.test:PORT is same-origin with the admin by name). The config version never
// changes, with and without an admin token, while the very same YAML applies from the CLI
// path; the dashboard's own rollback still works and records its author.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { launchBrowser, openPage, textOf } from '../helpers/browser.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';

const TOKEN = 'browser-guard-token';

let backends: FakeBackend[];
let open: TestBalancer;
let guarded: TestBalancer;
let attacker: Server;
let attackerUrl: string;
let browser: Browser;

function config(weights: number[], token: boolean): Record<string, unknown> {
  return {
    version: 1,
    log: { level: 'silent', access: false },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: { backends: backends.map((b, i) => ({ name: b.name, address: b.address, weight: weights[i] })) },
    },
    audit: { schedule: '' },
    admin: { address: '127.0.0.1:0', ...(token ? { token: '${env:ADMIN_TOKEN}' } : {}) },
  };
}

const portOf = (tb: TestBalancer): number => Number(new URL(tb.adminUrl).port);

async function runningVersion(tb: TestBalancer): Promise<number> {
  const r = await httpRequest({ port: portOf(tb), path: '/api/v1/config' });
  return (JSON.parse(r.text) as { version: number }).version;
}

/** The attacks, run inside a page of another origin; each reports how far it got. */
const ATTACKS = `async ({ admin, yaml }) => {
  const out = {};
  const target = admin + '/api/v1/config?force=1';
  try {
    await fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: yaml });
    out.noCors = 'answered';
  } catch (e) { out.noCors = 'network error ' + e; }
  try {
    const r = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/yaml' }, body: yaml });
    out.cors = 'read status ' + r.status;
  } catch { out.cors = 'blocked'; }
  try {
    const r = await fetch(admin + '/api/v1/config');
    out.read = 'read status ' + r.status;
  } catch { out.read = 'blocked'; }
  for (const enctype of ['text/plain', 'application/x-www-form-urlencoded']) {
    const frame = document.createElement('iframe');
    frame.name = 'sink-' + enctype.length;
    document.body.append(frame);
    const loaded = new Promise((r) => frame.addEventListener('load', r, { once: true }));
    const form = document.createElement('form');
    form.method = 'POST';
    form.action = target;
    form.enctype = enctype;
    form.target = frame.name;
    // text/plain sends "name=value": the YAML in the name, "=x" closed off by a comment.
    const field = document.createElement('textarea');
    field.name = yaml + '#';
    field.value = 'x';
    form.append(field);
    document.body.append(form);
    form.submit();
    await loaded;
    out[enctype] = 'submitted';
  }
  return out;
}`;

async function attack(page: Page, admin: string, yaml: string): Promise<Record<string, string>> {
  return page.evaluate(`(${ATTACKS})(${JSON.stringify({ admin, yaml })})`);
}

beforeAll(async () => {
  backends = await startFakeBackends(2, 'app-');
  open = await startTestBalancer(config([1, 1], false), { force: true });
  guarded = await startTestBalancer(config([1, 1], true), { env: { ADMIN_TOKEN: TOKEN }, force: true });
  attacker = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><html><head><title>cat pictures</title></head><body><h1>cats</h1></body></html>');
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
  browser = await launchBrowser(['--host-resolver-rules=MAP rebind.test 127.0.0.1']);
});

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (attacker ? attacker.close(() => r()) : r()));
  await open?.close();
  await guarded?.close();
  await Promise.all((backends ?? []).map((b) => b.close()));
});

describe.each([
  ['without a token', () => open, false],
  ['with a token', () => guarded, true],
])('a page of another origin against the admin %s', { timeout: 60_000 }, (_what, tb, token) => {
  it('cannot change the config by no-cors fetch, CORS fetch or form posts', async () => {
    const before = await runningVersion(tb());
    const page = (await openPage(browser, attackerUrl)).page;
    const yaml = YAML.stringify(config([10, 1], token));
    const result = await attack(page, tb().adminUrl, yaml);
    // Every attempt reached the admin (the no-cors fetch was answered, the forms loaded their
    // answer), the CORS fetch was stopped at the preflight, and no answer was readable.
    expect(result).toEqual({
      noCors: 'answered',
      cors: 'blocked',
      read: 'blocked',
      'text/plain': 'submitted',
      'application/x-www-form-urlencoded': 'submitted',
    });
    expect(await runningVersion(tb())).toBe(before);
    await page.context().close();

    // The same YAML through the front door (as the CLI sends it) does apply: the attacks were
    // refused for what they are, not for what they carried.
    const r = await httpRequest({
      port: portOf(tb()),
      method: 'POST',
      path: '/api/v1/config?force=1',
      headers: { 'content-type': 'application/yaml', ...(token ? { authorization: `Bearer ${TOKEN}` } : {}) },
      body: yaml,
    });
    expect(r.status, r.text).toBe(200);
    expect(await runningVersion(tb())).toBe(before + 1);
  });

  it('cannot read or change it through a rebound host name either', async () => {
    const before = await runningVersion(tb());
    const port = portOf(tb());
    // rebind.test resolves to 127.0.0.1: the dashboard page loads, same-origin by name.
    const watched = await openPage(browser, `http://rebind.test:${port}/`);
    const same = await watched.page.evaluate(`(async (yaml) => {
      const read = await fetch('/api/v1/config');
      const write = await fetch('/api/v1/config?force=1', {
        method: 'POST',
        headers: { 'content-type': 'application/yaml', 'x-fulcrum-request': '1' },
        body: yaml,
      });
      return { read: read.status, readBody: await read.text(), write: write.status, code: (await write.json()).error.code };
    })(${JSON.stringify(YAML.stringify(config([7, 1], token)))})`);
    expect(same).toMatchObject({ read: 403, write: 403, code: 'FULCRUM_ERR_ADMIN_HOST' });
    expect((same as { readBody: string }).readBody).not.toContain('listeners');
    expect(await runningVersion(tb())).toBe(before);
    await watched.context.close();

    // The raw form of the same: a request naming evil.example:PORT in Host.
    const raw = await httpRequest({
      port,
      method: 'POST',
      path: '/api/v1/config?force=1',
      headers: { host: `evil.example:${port}`, 'content-type': 'application/yaml' },
      body: YAML.stringify(config([7, 1], token)),
    });
    expect(raw.status).toBe(403);
    expect(await runningVersion(tb())).toBe(before);
  });
});

describe('the dashboard itself', { timeout: 60_000 }, () => {
  it('still rolls back, and records the name given as the author', async () => {
    const tb = guarded;
    const current = await runningVersion(tb);
    expect(current).toBeGreaterThanOrEqual(2);
    const watched = await openPage(browser, `${tb.adminUrl}/`);
    const page = watched.page;
    await page.locator('#config').scrollIntoViewIfNeeded();
    await expect
      .poll(() => textOf(page.locator('#config-version')), { timeout: 10_000 })
      .toBe(String(current));
    await page.locator('button[data-rollback="1"]').click();
    const dialog = page.locator('#action-dialog');
    await expect.poll(() => dialog.isVisible()).toBe(true);
    await dialog.locator('#token-input').fill(TOKEN);
    await dialog.locator('#author-input').fill('alice');
    await dialog.locator('#action-confirm').click();
    await expect
      .poll(() => textOf(page.locator('#config-result')), { timeout: 10_000 })
      .toContain(`Rolled back: version ${current + 1} now runs the text of version 1`);
    expect(await runningVersion(tb)).toBe(current + 1);
    const v = JSON.parse(
      (await httpRequest({ port: portOf(tb), path: `/api/v1/config/versions/${current + 1}` })).text,
    ) as { author: string; source: string };
    expect(v).toMatchObject({ author: 'alice (dashboard)', source: 'rollback' });
    expect(watched.problems).toEqual([]);
    await watched.context.close();
  });
});
