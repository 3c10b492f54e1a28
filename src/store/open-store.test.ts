import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore } from './open-store.ts';
import { hasEtcd, startEtcd } from '../drill/etcd-server.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-open-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('openStore', () => {
  it('opens the SQLite file relative to the config directory', async () => {
    const store = await openStore({ sqlite: './.fulcrum/state.db' }, { baseDir: dir });
    try {
      expect(store.kind).toBe('sqlite');
      expect(existsSync(join(dir, '.fulcrum', 'state.db'))).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('keeps an absolute SQLite path as it is', async () => {
    const file = join(dir, 'abs', 'state.db');
    const store = await openStore({ sqlite: file }, { baseDir: '/nonexistent' });
    await store.close();
    expect(existsSync(file)).toBe(true);
  });

  it('opens memory when asked, whatever the config says, and writes no file', async () => {
    const store = await openStore({ sqlite: './state.db' }, { baseDir: dir, memory: true });
    await store.close();
    expect(store.kind).toBe('memory');
    expect(existsSync(join(dir, 'state.db'))).toBe(false);
  });

  it.skipIf(!hasEtcd())('opens etcd when store.etcd is set (needs an etcd binary)', async () => {
    const server = await startEtcd();
    try {
      const store = await openStore(
        { sqlite: './state.db', etcd: { endpoints: [server.endpoint], prefix: '/open-test/' } },
        { baseDir: dir },
      );
      await store.close();
      expect(store.kind).toBe('etcd');
      expect(existsSync(join(dir, 'state.db'))).toBe(false);
    } finally {
      await server.stop();
    }
  });
});
