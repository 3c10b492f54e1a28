// Issue 14: the dashboard's Fleet panel in real Chromium over a real fleet — two fulcrum
// processes on a real etcd. Instance a's page lists both instances with their versions; an
// apply made through a shows the new version on both; a killed b shows as lost once its lease
// expires (TTL 5 s).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasEtcd, startEtcd, type EtcdServer } from '../../src/drill/etcd-server.ts';
import { launchBrowser, openPage, textOf, type WatchedPage } from '../helpers/browser.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { fleetConfig, postConfig, startInstance, writeConfig, type FleetInstance } from '../helpers/fleet.ts';
import { startLoad, type RunningLoad } from '../helpers/load.ts';

/** The page refreshes every 2 s; fleet records follow within a report interval (500 ms). */
const poll = <T>(fn: () => Promise<T> | T, timeout = 10_000) => expect.poll(fn, { timeout, interval: 200 });

describe.skipIf(!hasEtcd() && !process.env['CI'])(
  'dashboard Fleet panel in Chromium (2 instances, real etcd)',
  () => {
    let etcd: EtcdServer;
    let backends: FakeBackend[];
    let a: FleetInstance;
    let b: FleetInstance;
    let base: Record<string, unknown>;
    let browser: Browser;
    let watched: WatchedPage;
    let page: Page;
    const loads: RunningLoad[] = [];
    const prefix = `/dashboard-fleet-${process.pid}/`;

    const row = (instance: string) => page.locator(`#fleet-view tr[data-instance="${instance}"]`);
    const cell = (instance: string, label: string) => row(instance).locator(`td[data-label="${label}"]`);
    const lostRow = (instance: string) => page.locator(`#fleet-view tr.lost[data-instance="${instance}"]`);

    beforeAll(async () => {
      etcd = await startEtcd();
      backends = await startFakeBackends(3);
      base = fleetConfig(
        [etcd.endpoint],
        prefix,
        backends.map((x) => ({ name: x.name, address: x.address })),
      );
      const file = writeConfig(base);
      a = await startInstance('a', file);
      b = await startInstance('b', file);
      for (const i of [a, b])
        loads.push(startLoad({ url: `${i.proxyUrl}/`, concurrency: 1, pauseMs: 20, maxMs: 120_000 }));
      browser = await launchBrowser();
      watched = await openPage(browser, `${a.adminUrl}/`);
      page = watched.page;
    }, 120_000);

    afterAll(async () => {
      await Promise.all(loads.map((l) => l.stop()));
      await browser?.close();
      await Promise.all([a, b].map((i) => i?.stop()));
      await Promise.all((backends ?? []).map((x) => x.close()));
      await etcd?.stop();
    }, 30_000);

    it('lists both instances with their versions, health and the fleet-wide shares', async () => {
      await poll(() => page.locator('#fleet').isVisible()).toBe(true);
      await poll(() => page.locator('#fleet-view tr[data-instance]').count()).toBe(2);
      await poll(() => textOf(cell('a', 'Instance'))).toBe('a (this)');
      expect(await textOf(cell('b', 'Instance'))).toBe('b');
      for (const id of ['a', 'b']) {
        await poll(() => textOf(cell(id, 'Version'))).toBe('1');
        await poll(() => textOf(cell(id, 'Health'))).toBe('ok');
      }
      await poll(() => textOf(page.locator('#fleet-view .fleet-summary'))).toContain('latest version 1');
      // Both instances serve traffic: the fleet-wide shares of pool app list its three backends.
      await poll(() => page.locator('#fleet-view table.fleet-shares tbody tr').count()).toBe(3);
      await poll(() => textOf(page.locator('#fleet-view table.fleet-shares caption'))).toMatch(
        /^pool app: fleet-wide shares \(\d+ requests\)$/,
      );
      await poll(() => page.locator('nav.sections a[href="#fleet"]').isVisible()).toBe(true);
      expect(watched.problems).toEqual([]);
    }, 40_000);

    it('shows a version applied through a running on both instances', async () => {
      const pools = base['pools'] as { app: Record<string, unknown> };
      const r = await postConfig(a, {
        ...base,
        pools: { app: { ...pools.app, timeouts: { connect: '3s' } } },
      });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      expect(r.body['version']).toBe(2);
      for (const id of ['a', 'b']) await poll(() => textOf(cell(id, 'Version')), 15_000).toBe('2');
      await poll(() => textOf(page.locator('#fleet-view .fleet-summary'))).toContain('latest version 2');
      expect(watched.problems).toEqual([]);
    }, 40_000);

    it('shows a killed instance as lost once its lease expires, with the version it last ran', async () => {
      await b.stop('SIGKILL');
      // Lease TTL 5 s, then a report round and a page refresh.
      await poll(() => lostRow('b').count(), 20_000).toBe(1);
      expect(await row('b').locator('td[data-label="Version"]').count()).toBe(0);
      expect(await textOf(lostRow('b'))).toMatch(/lost \(lease expired\).*version 2/);
      await poll(() => page.locator('#fleet-view tr[data-instance]:not(.lost)').count()).toBe(1);
      expect(await textOf(cell('a', 'Instance'))).toBe('a (this)');
      expect(watched.problems).toEqual([]);
    }, 40_000);
  },
);
