// The destination of every log line (pino's and the access log's): lines are copied into one of
// two fixed buffers, one filling while the other is written. A write starts when 64 KiB are
// waiting or 50 ms after the first waiting line. One writer per destination keeps lines whole
// (two writers of one pipe could interleave large writes), and fixed buffers mean log volume
// makes no garbage that outlives a request (bench/RESULTS.md: through pino's destination, which
// accumulates strings and starts a thread-pool write per loop turn, the access log cost 6-9 µs
// per request).
//
// Files and character devices (/dev/null) are written synchronously, as nginx writes its access
// log: a 64 KiB write to the page cache takes microseconds, and an asynchronous write is a
// thread-pool hand-off on the proxy's one core. Pipes and sockets, which a slow reader can fill,
// are written asynchronously, so a stalled log shipper never blocks requests.
import { closeSync, fstatSync, openSync, write, writeSync } from 'node:fs';

const RETRY_MS = 10;
const FLUSH_MS = 50;

export class LogWriter {
  #fd: number;
  /** The path this writer opened (reopen() opens it again), undefined for a given fd. */
  readonly #path: string | undefined;
  /** The descriptor the write in progress goes to (the old file across a reopen). */
  #writeFd = -1;
  /** A descriptor replaced by reopen(), closed once the write in progress on it ends. */
  #retired = -1;
  #fill: Buffer;
  #spare: Buffer;
  #len = 0;
  #writing: Buffer | undefined;
  #writeEnd = 0;
  #writeAt = 0;
  #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #threshold: number;
  /** Write with writeSync (files, /dev/null); pipes and sockets are written asynchronously. */
  #sync: boolean;
  /** Lines dropped because both buffers were full (a destination slower than the log). */
  dropped = 0;

  /** `dest`: a file descriptor, or a path opened for appending. */
  constructor(dest: number | string, bufferBytes = 1 << 20) {
    this.#path = typeof dest === 'string' ? dest : undefined;
    this.#fd = typeof dest === 'string' ? openSync(dest, 'a') : dest;
    this.#fill = Buffer.allocUnsafe(bufferBytes);
    this.#spare = Buffer.allocUnsafe(bufferBytes);
    this.#threshold = Math.min(65_536, bufferBytes >> 1);
    this.#sync = syncKind(this.#fd);
  }

  get fd(): number {
    return this.#fd;
  }

  /**
   * Open the path again (after logrotate renamed the file): what is queued so far goes to the
   * old file, later lines to the new one. A no-op for a descriptor given by the caller (stdout).
   * Throws when the path cannot be opened; the old file then stays in use.
   */
  reopen(): void {
    if (this.#path === undefined) return;
    const fd = openSync(this.#path, 'a');
    if (this.#writing === undefined && this.#len > 0) this.#start();
    const old = this.#fd;
    this.#fd = fd;
    this.#sync = syncKind(fd);
    if (this.#writing !== undefined && this.#writeFd === old) this.#retired = old;
    else closeSync(old);
  }

  /** Queue whole lines. False when they were dropped. */
  write(text: string): boolean {
    const room = this.#fill.length - this.#len;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: measure exactly only when it may not fit.
    if (text.length * 3 > room && Buffer.byteLength(text) > room) {
      this.dropped++;
      return false;
    }
    this.#len += this.#fill.write(text, this.#len);
    if (this.#writing === undefined) this.#schedule();
    return true;
  }

  /**
   * Queue whole lines of ASCII text (the access log's: access-log.ts escapes what is not), copied
   * one byte per character: no UTF-8 encoding pass. False when they were dropped.
   */
  writeAscii(text: string): boolean {
    if (text.length > this.#fill.length - this.#len) {
      this.dropped++;
      return false;
    }
    this.#len += this.#fill.write(text, this.#len, 'latin1');
    if (this.#writing === undefined) this.#schedule();
    return true;
  }

  /** Calls back once everything queued so far is written (pino calls this on shutdown). */
  flush(cb?: (err?: Error) => void): void {
    if (this.#writing === undefined && this.#len > 0) this.#start();
    if (this.#writing === undefined) {
      cb?.();
      return;
    }
    if (cb !== undefined) this.#waiters.push(cb);
  }

  /** Flush, then close a file this writer opened. */
  end(): Promise<void> {
    return new Promise((resolve) => {
      this.flush(() => {
        if (this.#path !== undefined) closeSync(this.#fd);
        resolve();
      });
    });
  }

  /** Start a write now if enough is waiting, else make sure one starts soon. */
  #schedule(): void {
    if (this.#len >= this.#threshold) this.#start();
    else if (this.#timer === undefined && this.#len > 0) {
      this.#timer = setTimeout(this.#begin, FLUSH_MS);
      this.#timer.unref();
    }
  }

  readonly #begin = (): void => {
    this.#timer = undefined;
    if (this.#writing === undefined && this.#len > 0) this.#start();
  };

  #start(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const buf = this.#fill;
    this.#fill = this.#spare;
    this.#spare = buf;
    this.#writing = buf;
    this.#writeFd = this.#fd;
    this.#writeAt = 0;
    this.#writeEnd = this.#len;
    this.#len = 0;
    this.#continue();
  }

  #continue(): void {
    const buf = this.#writing as Buffer;
    if (this.#sync) {
      let n: number;
      try {
        n = writeSync(this.#writeFd, buf, this.#writeAt, this.#writeEnd - this.#writeAt);
      } catch (err) {
        // A terminal in non-blocking mode, say: from now on, write as for a pipe.
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') this.#sync = false;
        this.#written(err as NodeJS.ErrnoException, 0);
        return;
      }
      this.#written(null, n);
      return;
    }
    write(this.#writeFd, buf, this.#writeAt, this.#writeEnd - this.#writeAt, null, this.#written);
  }

  readonly #written = (err: NodeJS.ErrnoException | null, n: number): void => {
    if (err !== null) {
      // A non-blocking pipe that is full: try again shortly. Anything else loses this buffer.
      if (err.code === 'EAGAIN') {
        setTimeout(() => this.#continue(), RETRY_MS);
        return;
      }
      n = this.#writeEnd - this.#writeAt;
    }
    this.#writeAt += n;
    if (this.#writeAt < this.#writeEnd) {
      this.#continue();
      return;
    }
    this.#writing = undefined;
    if (this.#retired !== -1) {
      closeSync(this.#retired);
      this.#retired = -1;
    }
    if (this.#len > 0 && this.#waiters.length > 0) {
      this.#start();
      return;
    }
    if (this.#len > 0) {
      this.#schedule();
      return;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const cb of waiters) cb();
  };
}

/** Files and character devices are written synchronously, pipes and sockets not (see the top). */
function syncKind(fd: number): boolean {
  const st = fstatSync(fd);
  return st.isFile() || st.isCharacterDevice();
}
