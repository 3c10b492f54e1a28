// The dashboard's Drain / Undrain button in real Chromium over a real balancer: the token
// dialog confirms, the backend leaves rotation (API and page agree, with who and since when),
// and Undrain puts it back.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';
import { launchBrowser, openPage, textOf, type WatchedPage } from '../helpers/browser.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';

const TOKEN = 'dashboard-drain-token';
let backends: FakeBackend[];
let tb: TestBalancer;
let browser: Browser;
let watched: WatchedPage;
let page: Page;

beforeAll(async () => {
  backends = await startFakeBackends(2, 'd');
  tb = await startTestBalancer(
    {
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })) } },
      admin: { address: '127.0.0.1:0', token: '${env:ADMIN_TOKEN}' },
    },
    { env: { ADMIN_TOKEN: TOKEN }, force: true },
  );
  browser = await launchBrowser();
  watched = await openPage(browser, `${tb.adminUrl}/`);
  page = watched.page;
});

afterAll(async () => {
  await browser?.close();
  await tb?.close();
  await Promise.all((backends ?? []).map((b) => b.close()));
});

async function drainOf(name: string): Promise<{ by: string } | null | undefined> {
  const r = (await (await fetch(`${tb.adminUrl}/api/v1/pools`)).json()) as {
    pools: { backends: { name: string; drain: { by: string } | null }[] }[];
  };
  return r.pools[0]?.backends.find((b) => b.name === name)?.drain;
}

const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 10_000 });

describe('dashboard drain button', () => {
  it('drains and undrains a backend from its row, through the token dialog', async () => {
    const row = page.locator('tr.backend[data-backend="d1"]');
    const button = page.locator('button[data-drain-for="d1"]');
    const dialog = page.locator('#action-dialog');
    await poll(() => textOf(button)).toBe('Drain');

    await button.click();
    await poll(() => dialog.isVisible()).toBe(true);
    await poll(() => textOf(dialog)).toContain('Drain app/d1');
    await dialog.locator('#token-input').fill(TOKEN);
    await dialog.locator('#action-confirm').click();
    await poll(() => textOf(page.locator('#drain-result'))).toContain('app/d1 drained.');
    await poll(async () => (await drainOf('d1'))?.by).toBe('api');
    await poll(() => row.getAttribute('data-state')).toBe('draining');
    await poll(() => textOf(row.locator('.drain-note'))).toMatch(/^runtime drain by api since /);
    await poll(() => textOf(button)).toBe('Undrain');

    await button.click();
    await poll(() => dialog.isVisible()).toBe(true);
    await dialog.locator('#token-input').fill(TOKEN);
    await dialog.locator('#action-confirm').click();
    await poll(() => textOf(page.locator('#drain-result'))).toContain('app/d1 back in rotation.');
    await poll(() => drainOf('d1')).toBeNull();
    await poll(() => row.getAttribute('data-state')).toBe('healthy');
    await poll(() => textOf(button)).toBe('Drain');
    expect(watched.problems).toEqual([]);
  });
});
