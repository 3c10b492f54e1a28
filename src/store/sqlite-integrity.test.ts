// The store checks itself: random bytes written into the middle of a real SQLite file are
// found at open (FULCRUM_ERR_STORE_CORRUPT, nothing written into it) and while running (the
// scheduled check; writes are refused from then on).
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { storeCheckCommand } from '../cli/commands/store.ts';
import { isFulcrumError } from '../core/errors.ts';
import { EventHub } from '../core/events.ts';
import { scheduleStoreCheck } from '../runtime/store-check.ts';
import { openSqliteStore } from './sqlite-store.ts';
import type { Store } from './store.ts';
import { checkpoint, corruptMiddlePage } from '../testing/store/corrupt-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-integrity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A store file with 40 versions of ~10 KiB (a few hundred pages). */
async function filledStore(): Promise<{ file: string; store: Store }> {
  const file = join(dir, `store-${++n}.db`);
  const store = await openSqliteStore(file);
  for (let i = 0; i < 40; i++) {
    await store.commitVersion({
      text: `version: 1\n# ${i} ${'x'.repeat(10_000)}\n`,
      author: 'test',
      message: `v${i + 1}`,
      source: 'api',
      expectedLatest: i === 0 ? null : i,
    });
  }
  return { file, store };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return isFulcrumError(err) ? err.code : String(err);
  }
}

describe('SQLite store integrity', () => {
  it('an intact file passes, at open and on demand', async () => {
    const { file, store } = await filledStore();
    expect(await store.checkIntegrity?.()).toEqual({ ok: true, problems: [] });
    await store.close();
    const again = await openSqliteStore(file);
    expect((await again.latestVersion())?.version).toBe(40);
    await again.close();
  });

  it('refuses to open a file with random bytes in its middle, and writes nothing into it', async () => {
    const { file, store } = await filledStore();
    await store.close();
    const page = corruptMiddlePage(file);
    expect(page).toBeGreaterThan(10);
    const before = statSync(file).mtimeMs;
    let error: unknown;
    try {
      await openSqliteStore(file);
    } catch (err) {
      error = err;
    }
    expect(isFulcrumError(error) && error.code).toBe('FULCRUM_ERR_STORE_CORRUPT');
    expect(String((error as Error).message)).toContain('fulcrum store check');
    expect(statSync(file).mtimeMs).toBe(before);
    // `fulcrum store check` opens it anyway to report and export.
    const damaged = await openSqliteStore(file, { skipIntegrityCheck: true });
    const report = await damaged.checkIntegrity?.();
    expect(report?.ok).toBe(false);
    expect(report?.problems.length).toBeGreaterThan(0);
    await damaged.close();

    // Recovery: the check names the newest version that reads back intact and exports it.
    const out: string[] = [];
    const io = {
      out: (t: string) => void out.push(t),
      err: (t: string) => void out.push(t),
      env: {},
      cwd: dir,
    };
    const exported = join(dir, `recovered-${n}.yaml`);
    expect(await storeCheckCommand(file, { export: exported }, io)).toBe(2);
    const named = /latest intact version: (\d+)/.exec(out.join('\n'));
    expect(named, out.join('\n')).not.toBeNull();
    const text = readFileSync(exported, 'utf8');
    expect(text).toMatch(new RegExp(`^version: 1\n# ${Number(named?.[1]) - 1} x+\n$`));
    // The recovered text starts a new store.
    const fresh = await openSqliteStore(join(dir, `fresh-${n}.db`));
    await fresh.commitVersion({
      text,
      author: 'ops',
      message: 'recovered',
      source: 'file',
      expectedLatest: null,
    });
    expect((await fresh.checkIntegrity?.())?.ok).toBe(true);
    await fresh.close();
  });

  it('store check passes an intact file (exit 0)', async () => {
    const { file, store } = await filledStore();
    await store.close();
    const out: string[] = [];
    const io = {
      out: (t: string) => void out.push(t),
      err: (t: string) => void out.push(t),
      env: {},
      cwd: dir,
    };
    expect(await storeCheckCommand(file, {}, io)).toBe(0);
    expect(out).toEqual([
      `${file}: integrity check ok`,
      expect.stringMatching(/^latest intact version: 40 /),
    ]);
  });

  it('finds damage while running: the scheduled check reports it once and writes are refused', async () => {
    const { file, store } = await filledStore();
    const hub = new EventHub();
    const notices: { type: string; data: Record<string, unknown> }[] = [];
    hub.notices.subscribe((x) => notices.push(x));
    const stop = scheduleStoreCheck({ store, hub, logger: pino({ level: 'silent' }), intervalMs: 20 });
    try {
      await new Promise((r) => setTimeout(r, 100));
      expect(notices).toEqual([]);
      checkpoint(file);
      corruptMiddlePage(file);
      const deadline = Date.now() + 10_000;
      while (notices.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(notices.map((x) => x.type)).toEqual(['store-corrupt']);
      expect((notices[0]?.data['problems'] as string[]).length).toBeGreaterThan(0);
      const write = store.commitVersion({
        text: 'version: 1\n',
        author: 'test',
        message: 'after damage',
        source: 'api',
        expectedLatest: 40,
      });
      expect(await codeOf(write)).toBe('FULCRUM_ERR_STORE_CORRUPT');
      await new Promise((r) => setTimeout(r, 100));
      expect(notices.length).toBe(1);
    } finally {
      stop();
      await store.close();
    }
  });
});
