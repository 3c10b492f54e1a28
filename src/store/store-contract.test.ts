// One contract suite, run against every Store implementation: memory, SQLite and etcd
// (etcd is a real single-member server on loopback; skipped when no etcd binary exists).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { openEtcdStore } from './etcd-store.ts';
import { openMemoryStore } from './memory-store.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { AuditRunRecord, Store } from './store.ts';
import { sha256 } from './store.ts';
import { hasEtcd, startEtcd, type EtcdServer } from '../drill/etcd-server.ts';
import { rejectionCode } from '../testing/store/rejection-code.ts';

interface Harness {
  /** A fresh, empty store whose clock is `now`, keeping EVENTS_KEPT events. */
  open(now: () => number): Promise<Store>;
  /** Reopen the same backing data (persistent stores only). */
  reopen?: (now: () => number) => Promise<Store>;
}

const EVENTS_KEPT = 5;
const CONFIG = 'version: 1\nlisteners: {}\npools: {}\n# ünïcödé → ok\n';

function run(id: string, startedAt: number, extra: Partial<AuditRunRecord> = {}): AuditRunRecord {
  return {
    id,
    startedAt,
    endedAt: startedAt + 5,
    status: 'pass',
    trigger: 'schedule',
    checks: [{ check: 'lint', status: 'pass', findings: [] }],
    ...extra,
  };
}

/** `persistent`: the store keeps its data across close and reopen (its harness has `reopen`). */
function contract(
  name: string,
  persistent: boolean,
  setup: () => Promise<Harness>,
  teardown: () => Promise<void> = async () => {},
) {
  describe(`Store contract: ${name}`, () => {
    let harness: Harness;
    let store: Store;
    let t = 1_700_000_000_000;
    const now = () => t;

    beforeAll(async () => {
      harness = await setup();
    });
    afterAll(teardown);
    afterEach(async () => {
      await store?.close();
    });

    const fresh = async () => {
      store = await harness.open(now);
      return store;
    };

    it('starts empty', async () => {
      const s = await fresh();
      expect(await s.latestVersion()).toBeUndefined();
      expect(await s.getVersion(1)).toBeUndefined();
      expect(await s.listVersions()).toEqual([]);
      expect(await s.listEvents()).toEqual([]);
      expect(await s.listAuditRuns()).toEqual([]);
    });

    it('commits numbered versions with the exact text, its sha256 and metadata', async () => {
      const s = await fresh();
      t = 1_700_000_000_123;
      const v1 = await s.commitVersion({
        text: CONFIG,
        author: 'ana',
        message: 'first',
        source: 'file',
        expectedLatest: null,
      });
      expect(v1).toEqual({
        version: 1,
        sha256: sha256(CONFIG),
        author: 'ana',
        message: 'first',
        createdAt: 1_700_000_000_123,
        source: 'file',
        text: CONFIG,
      });
      const big = `${CONFIG}${'# padding line\n'.repeat(20_000)}`;
      const v2 = await s.commitVersion({
        text: big,
        author: 'bo',
        message: '',
        source: 'rollback',
        expectedLatest: 1,
        parent: 1,
      });
      expect(v2.version).toBe(2);
      expect(v2.parent).toBe(1);
      expect(await s.latestVersion()).toEqual(v2);
      expect(await s.getVersion(1)).toEqual(v1);
      expect((await s.getVersion(2))?.text).toBe(big);
      expect(await s.getVersion(3)).toBeUndefined();
      expect(await s.getVersion(0)).toBeUndefined();
      // Admin routes pass Number(param) straight through.
      expect(await s.getVersion(Number.NaN)).toBeUndefined();
      expect(await s.getVersion(1.5)).toBeUndefined();
    });

    it('refuses a commit based on a stale or wrong version with CONFIG_CONFLICT and stores nothing', async () => {
      const s = await fresh();
      expect(
        await rejectionCode(
          s.commitVersion({ text: 'a', author: 'x', message: '', source: 'api', expectedLatest: 3 }),
        ),
      ).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      await s.commitVersion({ text: 'a', author: 'x', message: '', source: 'api', expectedLatest: null });
      expect(
        await rejectionCode(
          s.commitVersion({ text: 'b', author: 'x', message: '', source: 'api', expectedLatest: null }),
        ),
      ).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      await s.commitVersion({ text: 'b', author: 'x', message: '', source: 'api', expectedLatest: 1 });
      expect(
        await rejectionCode(
          s.commitVersion({ text: 'c', author: 'x', message: '', source: 'api', expectedLatest: 1 }),
        ),
      ).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      expect((await s.listVersions()).map((v) => v.version)).toEqual([2, 1]);
      expect((await s.latestVersion())?.text).toBe('b');
    });

    it('lets exactly one of two racing commits on the same base win', async () => {
      const s = await fresh();
      await s.commitVersion({ text: 'base', author: 'x', message: '', source: 'file', expectedLatest: null });
      const results = await Promise.allSettled([
        s.commitVersion({ text: 'left', author: 'l', message: '', source: 'api', expectedLatest: 1 }),
        s.commitVersion({ text: 'right', author: 'r', message: '', source: 'api', expectedLatest: 1 }),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isFulcrumError(lost[0]?.reason) && lost[0].reason.code).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      expect((await s.listVersions()).map((v) => v.version)).toEqual([2, 1]);
    });

    it('lists versions newest first, without text, with limit and before', async () => {
      const s = await fresh();
      for (let i = 1; i <= 5; i++) {
        t += 1000;
        await s.commitVersion({
          text: `v${i}`,
          author: 'x',
          message: `m${i}`,
          source: 'api',
          expectedLatest: i === 1 ? null : i - 1,
        });
      }
      const all = await s.listVersions();
      expect(all.map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
      expect(all[0]).not.toHaveProperty('text');
      expect(all[0]).toMatchObject({ sha256: sha256('v5'), message: 'm5', source: 'api', createdAt: t });
      expect((await s.listVersions({ limit: 2 })).map((v) => v.version)).toEqual([5, 4]);
      expect((await s.listVersions({ before: 4 })).map((v) => v.version)).toEqual([3, 2, 1]);
      expect((await s.listVersions({ before: 4, limit: 1 })).map((v) => v.version)).toEqual([3]);
      expect(await s.listVersions({ before: 1 })).toEqual([]);
      expect((await s.listVersions({ before: 99 })).map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    });

    it('appends events with increasing ids and lists them newest first, by type', async () => {
      const s = await fresh();
      const a = await s.appendEvent({
        at: 10,
        type: 'apply-failed',
        data: { message: 'bad', nested: { n: [1, 2] } },
      });
      const b = await s.appendEvent({
        at: 20,
        type: 'guard-rollback',
        version: 3,
        data: { reason: 'error ratio' },
      });
      const c = await s.appendEvent({ at: 30, type: 'apply-failed', data: {} });
      expect(a.id).toBeLessThan(b.id);
      expect(b.id).toBeLessThan(c.id);
      expect(b).toEqual({
        id: b.id,
        at: 20,
        type: 'guard-rollback',
        version: 3,
        data: { reason: 'error ratio' },
      });
      expect((await s.listEvents()).map((e) => e.at)).toEqual([30, 20, 10]);
      expect(await s.listEvents({ type: 'apply-failed', limit: 1 })).toEqual([c]);
      expect((await s.listEvents({ type: 'apply-failed' })).map((e) => e.id)).toEqual([c.id, a.id]);
      expect((await s.listEvents({ type: 'apply-failed' }))[1]).toEqual(a);
      expect(await s.listEvents({ type: 'none' })).toEqual([]);
    });

    it(`keeps only the newest ${EVENTS_KEPT} events`, async () => {
      const s = await fresh();
      for (let i = 1; i <= EVENTS_KEPT + 3; i++)
        await s.appendEvent({ at: i, type: i % 2 ? 'odd' : 'even', data: { i } });
      const kept = await s.listEvents();
      expect(kept.map((e) => e.at)).toEqual([8, 7, 6, 5, 4]);
      expect((await s.listEvents({ type: 'odd' })).map((e) => e.at)).toEqual([7, 5]);
    });

    it('keeps audit runs newest first, replaces by id, and applies retention', async () => {
      const s = await fresh();
      await s.saveAuditRun(run('r1', 100), 3);
      await s.saveAuditRun(run('r2', 200, { status: 'fail', trigger: 'api', configVersion: 4 }), 3);
      await s.saveAuditRun(run('r3', 300), 3);
      expect((await s.listAuditRuns()).map((r) => r.id)).toEqual(['r3', 'r2', 'r1']);
      expect(await s.getAuditRun('r2')).toEqual(
        run('r2', 200, { status: 'fail', trigger: 'api', configVersion: 4 }),
      );
      await s.saveAuditRun(run('r4', 400), 3);
      expect((await s.listAuditRuns()).map((r) => r.id)).toEqual(['r4', 'r3', 'r2']);
      expect(await s.getAuditRun('r1')).toBeUndefined();
      // Re-saving a run (e.g. its end) replaces it instead of adding one.
      await s.saveAuditRun(run('r3', 300, { status: 'error', endedAt: 999 }), 3);
      expect((await s.listAuditRuns()).map((r) => [r.id, r.status])).toEqual([
        ['r4', 'pass'],
        ['r3', 'error'],
        ['r2', 'fail'],
      ]);
      expect((await s.listAuditRuns({ limit: 1 })).map((r) => r.id)).toEqual(['r4']);
      await s.saveAuditRun(run('r5', 500), 1);
      expect((await s.listAuditRuns()).map((r) => r.id)).toEqual(['r5']);
      expect(await s.getAuditRun('nope')).toBeUndefined();
    });

    it('does not let callers mutate what is stored', async () => {
      const s = await fresh();
      const data = { list: [1] };
      await s.appendEvent({ at: 1, type: 'x', data });
      data.list.push(2);
      const r = run('m', 1);
      await s.saveAuditRun(r, 10);
      (r.checks as unknown[]).push('extra');
      expect((await s.listEvents())[0]?.data).toEqual({ list: [1] });
      expect(await s.getAuditRun('m')).toEqual(run('m', 1));
    });

    // Only for persistent stores; the memory store's data ends with it by design.
    if (persistent)
      it('keeps everything across close and reopen (persistent stores)', async () => {
        const s = await fresh();
        const v = await s.commitVersion({
          text: CONFIG,
          author: 'a',
          message: 'm',
          source: 'file',
          expectedLatest: null,
        });
        const e = await s.appendEvent({ at: 5, type: 'rollback', version: 1, data: { to: 1 } });
        await s.saveAuditRun(run('keep', 7), 10);
        await s.close();
        store = await (harness.reopen as (now: () => number) => Promise<Store>)(now);
        expect(await store.latestVersion()).toEqual(v);
        expect(await store.listEvents()).toEqual([e]);
        expect(await store.getAuditRun('keep')).toEqual(run('keep', 7));
        // The optimistic check still holds after reopening.
        expect(
          await rejectionCode(
            store.commitVersion({ text: 'x', author: 'a', message: '', source: 'api', expectedLatest: null }),
          ),
        ).toBe('FULCRUM_ERR_CONFIG_CONFLICT');
      });
  });
}

contract('memory', false, async () => ({
  open: (now) => openMemoryStore({ now, eventRetention: EVENTS_KEPT }),
}));

{
  let dir = '';
  let n = 0;
  contract(
    'sqlite',
    true,
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'fulcrum-store-'));
      // A nested, not yet existing directory: the store creates it.
      const file = () => join(dir, 'nested', `state-${n}.db`);
      return {
        open: (now) => {
          n++;
          return openSqliteStore(file(), { now, eventRetention: EVENTS_KEPT });
        },
        reopen: (now) => openSqliteStore(file(), { now, eventRetention: EVENTS_KEPT }),
      };
    },
    async () => rmSync(dir, { recursive: true, force: true }),
  );
}

if (hasEtcd()) {
  let server: EtcdServer | undefined;
  let n = 0;
  contract(
    'etcd',
    true,
    async () => {
      server = await startEtcd();
      const endpoint = server.endpoint;
      // Each test gets its own prefix on the one server, which isolates it.
      return {
        open: (now) => {
          n++;
          return openEtcdStore({
            endpoints: [endpoint],
            prefix: `/test-${n}/`,
            now,
            eventRetention: EVENTS_KEPT,
          });
        },
        reopen: (now) =>
          openEtcdStore({ endpoints: [endpoint], prefix: `/test-${n}/`, now, eventRetention: EVENTS_KEPT }),
      };
    },
    async () => server?.stop(),
  );
} else {
  describe('Store contract: etcd', () => {
    // Without etcd this machine cannot run the contract; on CI that is a broken setup, not a skip.
    it.skipIf(!process.env['CI'])('has an etcd binary on PATH on CI (Debian: etcd-server)', () => {
      expect(hasEtcd()).toBe(true);
    });
  });
}
