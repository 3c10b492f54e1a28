// Crash safety: a child process commits versions in a loop and is killed with SIGKILL at
// random points; afterwards the file must be intact, versions contiguous, every text
// matching its sha256, and no version the child saw committed may be missing.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, expect, it } from 'vitest';
import { sha256 } from './store.ts';

const NODE = join(process.cwd(), 'node_modules/.bin/node');
const COMMIT_LOOP = join(import.meta.dirname, '../testing/store/commit-loop.ts');
const KILLS = 5;

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Start the loop, wait for its first commit, let it run 50-200 ms more, kill -9 it. */
function commitUntilKilled(
  file: string,
  tag: string,
): Promise<{ reported: Map<number, string>; delayMs: number }> {
  const delayMs = 50 + Math.floor(Math.random() * 151);
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [COMMIT_LOOP, file, tag, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let armed = false;
    const giveUp = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no commit within 15 s: ${stderr}`));
    }, 15_000);
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!armed) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(giveUp);
      if (signal !== 'SIGKILL') return reject(new Error(`child exited by itself (${code}): ${stderr}`));
      // Only complete lines: a line cut by the kill was never fully reported.
      const reported = new Map<number, string>();
      for (const line of stdout.split('\n').slice(0, -1)) {
        const [version, digest] = line.split(' ');
        reported.set(Number(version), digest ?? '');
      }
      resolve({ reported, delayMs });
    });
  });
}

it(`loses no committed version across ${KILLS} kill -9s mid-write`, async () => {
  const file = join(dir, 'state.db');
  const reported = new Map<number, string>();
  const delays: number[] = [];
  for (let i = 0; i < KILLS; i++) {
    const round = await commitUntilKilled(file, `round-${i}`);
    delays.push(round.delayMs);
    for (const [v, d] of round.reported) reported.set(v, d);
  }
  const context = `kill delays ${delays.join(', ')} ms`;

  const db = new DatabaseSync(file);
  try {
    expect(db.prepare('PRAGMA integrity_check').all(), context).toEqual([{ integrity_check: 'ok' }]);
    const rows = db.prepare('SELECT version, sha256, text FROM config_versions ORDER BY version').all() as {
      version: number;
      sha256: string;
      text: string;
    }[];
    expect(rows.length, context).toBeGreaterThanOrEqual(KILLS);
    rows.forEach((row, i) => {
      expect(row.version, context).toBe(i + 1);
      expect(sha256(row.text), `version ${row.version}; ${context}`).toBe(row.sha256);
    });
    for (const [version, digest] of reported) {
      expect(rows[version - 1]?.sha256, `reported version ${version}; ${context}`).toBe(digest);
    }
  } finally {
    db.close();
  }
});
