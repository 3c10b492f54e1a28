// etcd-specific behaviour beyond the shared contract, on a real single-member etcd:
// two balancers racing on one history, following versions with a watch, and failures.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { openEtcdStore, type EtcdStore } from './etcd-store.ts';
import type { ConfigVersion } from './store.ts';
import { hasEtcd, startEtcd, type EtcdServer } from '../drill/etcd-server.ts';
import { freePort } from '../sim/free-port.ts';
import { rejectionCode } from '../testing/store/rejection-code.ts';

/** Resolve when `predicate` holds, polling every 20 ms for at most `ms`. */
async function until(predicate: () => boolean, ms = 5000): Promise<void> {
  for (let waited = 0; !predicate(); waited += 20) {
    if (waited >= ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!hasEtcd())('etcd store (needs an etcd binary on PATH; Debian: etcd-server)', () => {
  let server: EtcdServer;
  let n = 0;
  let prefix = '';
  const opened: EtcdStore[] = [];
  const open = async () => {
    const s = await openEtcdStore({ endpoints: [server.endpoint], prefix });
    opened.push(s);
    return s;
  };

  beforeAll(async () => {
    server = await startEtcd();
  });
  afterAll(async () => server?.stop());
  beforeEach(() => {
    prefix = `/fleet-${++n}/`;
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('lets one of two balancers (separate connections) win a commit on the same base', async () => {
    const a = await open();
    const b = await open();
    await a.commitVersion({ text: 'base', author: 'a', message: '', source: 'file', expectedLatest: null });
    const results = await Promise.allSettled(
      [a, b].map((s, i) =>
        s.commitVersion({
          text: `change ${i}`,
          author: String(i),
          message: '',
          source: 'api',
          expectedLatest: 1,
        }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const lost = results.find((r) => r.status === 'rejected');
    expect(isFulcrumError(lost?.reason) && lost.reason.code).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
    expect((await b.listVersions()).map((v) => v.version)).toEqual([2, 1]);
    // Each commit is one transaction: the version key and latest move together.
    const latest = await a.latestVersion();
    expect(latest?.version).toBe(2);
    expect(await b.getVersion(2)).toEqual(latest);
  });

  it('tells every watcher about each version committed by any balancer, in order', async () => {
    const writer = await open();
    const follower = await open();
    const seen: ConfigVersion[] = [];
    const stop = await follower.watchVersions((v) => seen.push(v));
    for (let i = 1; i <= 3; i++) {
      await writer.commitVersion({
        text: `v${i}`,
        author: 'w',
        message: '',
        source: 'api',
        expectedLatest: i === 1 ? null : i - 1,
      });
    }
    await until(() => seen.length === 3);
    expect(seen.map((v) => [v.version, v.text])).toEqual([
      [1, 'v1'],
      [2, 'v2'],
      [3, 'v3'],
    ]);
    await stop();
    await writer.commitVersion({ text: 'v4', author: 'w', message: '', source: 'api', expectedLatest: 3 });
    // Give a stray delivery the time it would need, then check none came.
    await new Promise((r) => setTimeout(r, 200));
    expect(seen).toHaveLength(3);
  });

  it('keeps the prefix as the boundary: stores under other prefixes are invisible', async () => {
    const mine = await open();
    await mine.commitVersion({ text: 'mine', author: 'a', message: '', source: 'api', expectedLatest: null });
    prefix = `/other-${n}/`;
    const other = await open();
    expect(await other.latestVersion()).toBeUndefined();
    expect(await other.listVersions()).toEqual([]);
  });

  it('fails to open an unreachable cluster with STORE_OPEN', async () => {
    const port = await freePort();
    expect(
      await rejectionCode(openEtcdStore({ endpoints: [`http://127.0.0.1:${port}`], timeoutMs: 500 })),
    ).toBe('FULCRUM_ERR_STORE_OPEN');
  });

  it('fails writes with STORE_WRITE and reads with STORE_READ when the cluster goes away', async () => {
    const own = await startEtcd();
    const s = await openEtcdStore({ endpoints: [own.endpoint], timeoutMs: 500 });
    try {
      await s.commitVersion({ text: 'one', author: 'a', message: '', source: 'api', expectedLatest: null });
      await own.stop();
      expect(
        await rejectionCode(
          s.commitVersion({ text: 'two', author: 'a', message: '', source: 'api', expectedLatest: 1 }),
        ),
      ).toBe('FULCRUM_ERR_STORE_WRITE');
      expect(await rejectionCode(s.appendEvent({ at: 1, type: 'x', data: {} }))).toBe(
        'FULCRUM_ERR_STORE_WRITE',
      );
      expect(await rejectionCode(s.latestVersion())).toBe('FULCRUM_ERR_STORE_READ');
      expect(await rejectionCode(s.listAuditRuns())).toBe('FULCRUM_ERR_STORE_READ');
    } finally {
      await s.close();
      await own.stop();
    }
  });
});
