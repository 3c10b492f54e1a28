// Test support: damage a real SQLite store file the way a bad disk or a stray write would.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';

/** Overwrite the page in the middle of the file with random bytes; returns its number. */
export function corruptMiddlePage(file: string): number {
  const fd = openSync(file, 'r+');
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const pageSize = header.readUInt16BE(16) === 1 ? 65_536 : header.readUInt16BE(16);
    const pages = Math.floor(statSync(file).size / pageSize);
    const page = Math.floor(pages / 2);
    writeSync(fd, randomBytes(pageSize), 0, pageSize, page * pageSize);
    return page;
  } finally {
    closeSync(fd);
  }
}

/** Move everything from the WAL into the main file, as a checkpoint by any connection does. */
export function checkpoint(file: string): void {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.close();
}
