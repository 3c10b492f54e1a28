// `fulcrum store check FILE [--export OUT]`: run the SQLite store's integrity check offline and
// find the newest version whose text still reads back intact (its sha256 matches), to start
// again from it on a new store (docs/store.md, "Integrity and recovery").
// Exit 0 intact, 1 could not run, 2 damage found.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { errorMessage } from '../../core/errors.ts';
import { openSqliteStore } from '../../store/sqlite-store.ts';
import { sha256, type ConfigVersion, type Store } from '../../store/store.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface StoreCheckOptions {
  export?: string;
}

export async function storeCheckCommand(file: string, opts: StoreCheckOptions, io: CliIo): Promise<number> {
  const path = resolve(io.cwd, file);
  let store: Store;
  try {
    store = await openSqliteStore(path, { skipIntegrityCheck: true });
  } catch (err) {
    return reportError(err, io);
  }
  try {
    const report = (await store.checkIntegrity?.()) ?? { ok: true, problems: [] };
    if (report.ok) io.out(`${file}: integrity check ok`);
    else {
      io.out(`${file}: integrity check found ${report.problems.length} problem(s):`);
      for (const p of report.problems) io.out(`  ${p}`);
    }
    const good = await latestGoodVersion(store, io);
    if (good === undefined) io.out('no version reads back intact');
    else
      io.out(
        `latest intact version: ${good.version} (${good.author}, ${new Date(good.createdAt).toISOString()})`,
      );
    if (opts.export !== undefined && good !== undefined) {
      writeFileSync(resolve(io.cwd, opts.export), good.text);
      io.out(`wrote version ${good.version} to ${opts.export}`);
    }
    return report.ok ? EXIT.OK : EXIT.PROBLEMS;
  } finally {
    await store.close();
  }
}

/** Newest first: the first version whose row reads and whose text matches its digest. */
async function latestGoodVersion(store: Store, io: CliIo): Promise<ConfigVersion | undefined> {
  let numbers: number[];
  try {
    numbers = (await store.listVersions({ limit: 1000 })).map((v) => v.version);
  } catch (err) {
    // A damaged page in the table breaks a scan, not necessarily a lookup by number.
    io.out(`version list unreadable (${errorMessage(err)}); looking versions up one by one`);
    numbers = await probeVersionNumbers(store);
  }
  for (const n of numbers) {
    try {
      const v = await store.getVersion(n);
      if (v !== undefined && sha256(v.text) === v.sha256) return v;
      io.out(`version ${n}: text does not match its sha256`);
    } catch (err) {
      io.out(`version ${n}: unreadable (${errorMessage(err)})`);
    }
  }
  return undefined;
}

/** Version numbers that answer a lookup, newest first; stops after 10 numbers in a row are missing. */
async function probeVersionNumbers(store: Store): Promise<number[]> {
  const found: number[] = [];
  for (let n = 1, missing = 0; missing < 10 && n < 1_000_000; n++) {
    const v = await store.getVersion(n).catch(() => null);
    if (v === undefined) missing++;
    else {
      missing = 0;
      found.push(n);
    }
  }
  return found.reverse();
}
