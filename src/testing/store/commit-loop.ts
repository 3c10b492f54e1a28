// Child process for the SQLite crash and multi-process tests:
//   node commit-loop.ts FILE TAG COUNT
// commits COUNT versions (0 = until killed) to the store at FILE, retrying on conflict,
// and prints "<version> <sha256>" on stdout only after each commit has returned.
import { isFulcrumError } from '../../core/errors.ts';
import { openSqliteStore } from '../../store/sqlite-store.ts';

const [file, tag = 'child', countArg = '0'] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: commit-loop.ts FILE TAG COUNT');
const count = Number(countArg);
const store = await openSqliteStore(file);
for (let i = 1; count === 0 || i <= count; i++) {
  // Sizes vary so commits span pages and overflow pages, not just one row in one page.
  const text = `# ${tag} ${i}\nversion: 1\n${'#'.repeat((i * 7919) % 30_000)}\n`;
  for (;;) {
    const latest = await store.latestVersion();
    try {
      const v = await store.commitVersion({
        text,
        author: tag,
        message: `commit ${i}`,
        source: 'api',
        expectedLatest: latest?.version ?? null,
      });
      process.stdout.write(`${v.version} ${v.sha256}\n`);
      break;
    } catch (err) {
      if (!(isFulcrumError(err) && err.code === 'FULCRUM_ERR_CONFIG_CONFLICT')) throw err;
    }
  }
}
await store.close();
