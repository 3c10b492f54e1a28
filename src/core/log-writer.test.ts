import { execFileSync } from 'node:child_process';
import {
  closeSync,
  constants,
  createReadStream,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LogWriter } from './log-writer.ts';

function tempFile(content = ''): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-log-')), 'out.log');
  writeFileSync(file, content);
  return file;
}

describe('LogWriter', () => {
  it('appends whole lines in order to a path, keeping what the file had', async () => {
    const file = tempFile('before\n');
    const w = new LogWriter(file, 1 << 16);
    for (let i = 0; i < 1000; i++) w.write(`line ${i} ${'é'.repeat(i % 7)}\n`);
    await w.end();
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines[0]).toBe('before');
    expect(lines.slice(1, -1)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `line ${i} ${'é'.repeat(i % 7)}`),
    );
    expect(w.dropped).toBe(0);
  });

  it('takes ASCII lines byte for byte beside UTF-8 ones, and drops an ASCII line that does not fit', async () => {
    const file = tempFile();
    const w = new LogWriter(file, 1 << 10);
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) w.write(`utf8 ${i} é\n`);
      else expect(w.writeAscii(`ascii ${i} {"k":"\\u00e9"}\n`)).toBe(true);
    }
    await w.end();
    const expected = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? `utf8 ${i} é` : `ascii ${i} {"k":"\\u00e9"}`,
    );
    expect(readFileSync(file, 'utf8').split('\n').slice(0, -1)).toEqual(expected);
    expect(w.dropped).toBe(0);
    const small = new LogWriter(tempFile(), 64);
    expect(small.writeAscii('x'.repeat(65))).toBe(false);
    expect(small.dropped).toBe(1);
    await small.end();
  });

  it('writes a little on its own within the flush delay, without end()', async () => {
    const file = tempFile();
    const w = new LogWriter(file);
    w.write('one\n');
    // Nothing is written inside write(): the request path only copies into a buffer.
    expect(readFileSync(file, 'utf8')).toBe('');
    const deadline = Date.now() + 2000;
    while (readFileSync(file, 'utf8') === '' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(readFileSync(file, 'utf8')).toBe('one\n');
    await w.end();
  });

  it('drops what does not fit in its buffers and counts it, keeping what did', async () => {
    const file = tempFile();
    const w = new LogWriter(file, 64);
    expect(w.write(`${'x'.repeat(100)}\n`)).toBe(false);
    expect(w.write('fits\n')).toBe(true);
    await w.end();
    expect(readFileSync(file, 'utf8')).toBe('fits\n');
    expect(w.dropped).toBe(1);
  });

  it('flush calls back once everything written so far is on disk', async () => {
    const file = tempFile();
    const w = new LogWriter(file, 1 << 16);
    for (let i = 0; i < 5000; i++) w.write(`${i}\n`);
    await new Promise<void>((r) => w.flush(() => r()));
    expect(readFileSync(file, 'utf8').split('\n')).toHaveLength(5001);
    await w.end();
  });

  it('writes to a pipe asynchronously, every line whole and in order', async () => {
    const fifo = join(mkdtempSync(join(tmpdir(), 'fulcrum-log-')), 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Read-write: opening a FIFO on Linux so does not wait for a reader.
    const fd = openSync(fifo, constants.O_RDWR);
    const chunks: Buffer[] = [];
    const reader = createReadStream(fifo);
    reader.on('data', (c) => chunks.push(c as Buffer));
    const done = new Promise<void>((r) => reader.on('end', () => r()));
    const w = new LogWriter(fd, 1 << 16);
    for (let i = 0; i < 20_000; i++) w.write(`pipe line ${i}\n`);
    await w.end();
    closeSync(fd);
    await done;
    const lines = Buffer.concat(chunks).toString().split('\n');
    expect(lines.slice(0, -1)).toEqual(
      Array.from({ length: 20_000 }, (_, i) => `pipe line ${i}`).slice(0, lines.length - 1),
    );
    // 20,000 lines of ~16 bytes overflow two 64 KiB buffers written in one turn: the rest is dropped and counted.
    expect(lines.length - 1 + w.dropped).toBe(20_000);
  });

  it('reopen() after a rename: queued lines go to the renamed file, later ones to a new file at the path', async () => {
    const file = tempFile();
    const w = new LogWriter(file);
    w.write('old 1\n');
    renameSync(file, `${file}.1`);
    // Until reopen, lines still go to the renamed file (the open descriptor), as with nginx.
    w.write('old 2\n');
    w.reopen();
    w.write('new 1\n');
    await w.end();
    expect(readFileSync(`${file}.1`, 'utf8')).toBe('old 1\nold 2\n');
    expect(readFileSync(file, 'utf8')).toBe('new 1\n');
  });

  it('reopen() is a no-op on a descriptor it did not open, and keeps the old file when the path cannot be opened', async () => {
    const file = tempFile();
    const fd = openSync(file, 'a');
    const w = new LogWriter(fd);
    w.reopen();
    expect(w.fd).toBe(fd);
    w.write('kept\n');
    await w.end();
    closeSync(fd);
    expect(readFileSync(file, 'utf8')).toBe('kept\n');

    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-log-'));
    // A path whose directory vanished: reopen throws, the writer keeps its descriptor.
    writeFileSync(join(dir, 'x'), '');
    const gone = new LogWriter(join(dir, 'x'));
    renameSync(dir, `${dir}-moved`);
    const fdBefore = gone.fd;
    expect(() => gone.reopen()).toThrow(/ENOENT/);
    expect(gone.fd).toBe(fdBefore);
    gone.write('still\n');
    await gone.end();
    expect(readFileSync(join(`${dir}-moved`, 'x'), 'utf8')).toBe('still\n');
  });
});
