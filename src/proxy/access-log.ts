// The access log: one JSON line per finished client request, in pino's line format (level,
// time, service, fields, msg) so one log pipeline reads both. Each line is written into the
// log writer's buffer when the outcome is emitted; the writer flushes per 64 KiB or 50 ms, and
// a destination slower than the log costs dropped lines, never latency.
//
// Lines are built by hand instead of through pino: the fields are fixed, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md). Nothing is
// queued per request either: outcomes held until a later turn survived into V8's old generation
// often enough to make its mark-compact pauses the proxy's p99.
import type { EventHub, RequestOutcome } from '../core/events.ts';

/** Where lines go: the LogWriter in production, a capture in tests. */
export interface LineSink {
  /** Room for up to `max` bytes, written from `offset`; undefined drops the line. */
  claim(max: number): Buffer | undefined;
  readonly offset: number;
  /** The line ends at `end`. */
  commit(end: number): void;
}

export interface AccessLogOptions {
  /** The `service` field of each line. */
  service?: string;
  /** Clock of the `time` field (ms since the epoch). */
  now?: () => number;
}

/** Subscribe the access log to request outcomes; returns the unsubscribe function. */
export function attachAccessLog(hub: EventHub, sink: LineSink, options: AccessLogOptions = {}): () => void {
  const service = options.service ?? 'fulcrum';
  const now = options.now ?? Date.now;
  return hub.requests.subscribe((o) => {
    const buf = sink.claim(maxLineBytes(o, service));
    if (buf !== undefined) sink.commit(writeAccessLine(buf, sink.offset, o, now(), service));
  });
}

function maxLineBytes(o: RequestOutcome, service: string): number {
  const names = service.length + o.listener.length + o.pool.length + (o.backend?.length ?? 0);
  return 200 + names + o.method.length + (o.error?.length ?? 0) + o.requestId.length * 6;
}

/**
 * One line, written straight into the log buffer: no string per line to build, flatten and
 * copy (it was a tenth of the proxy's allocations). Names (listener, pool, backend) match the
 * config's name pattern and methods are HTTP tokens, so neither needs escaping; the request id
 * may come from the client and is escaped when needed. Absent fields are left out, as pino
 * leaves out undefined ones. Returns the end offset.
 */
export function writeAccessLine(
  buf: Buffer,
  at: number,
  o: RequestOutcome,
  time: number,
  service: string,
): number {
  at += buf.write('{"level":30,"time":', at, 'latin1');
  at = putInt(buf, at, time);
  at += buf.write(',"service":"', at, 'latin1');
  at += buf.write(service, at, 'latin1');
  at += buf.write('","listener":"', at, 'latin1');
  at += buf.write(o.listener, at, 'latin1');
  at += buf.write('","pool":"', at, 'latin1');
  at += buf.write(o.pool, at, 'latin1');
  if (o.backend !== undefined) {
    at += buf.write('","backend":"', at, 'latin1');
    at += buf.write(o.backend, at, 'latin1');
  }
  at += buf.write('","status":', at, 'latin1');
  at = putInt(buf, at, o.status);
  at += buf.write(',"durationMs":', at, 'latin1');
  at = putMillis(buf, at, o.durationMs);
  at += buf.write(',"requestId":', at, 'latin1');
  const id = o.requestId;
  if (plainJsonString(id)) {
    buf[at++] = 34;
    at += buf.write(id, at, 'latin1');
    buf[at++] = 34;
  } else {
    at += buf.write(JSON.stringify(id), at, 'utf8');
  }
  at += buf.write(',"method":"', at, 'latin1');
  at += buf.write(o.method, at, 'latin1');
  at += buf.write('","retries":', at, 'latin1');
  at = putInt(buf, at, o.retries);
  if (o.error !== undefined) {
    at += buf.write(',"error":"', at, 'latin1');
    at += buf.write(o.error, at, 'latin1');
    buf[at++] = 34;
  }
  at += buf.write(',"msg":"request"}\n', at, 'latin1');
  return at;
}

/** Printable ASCII without `"` or `\`: a JSON string as it stands. */
function plainJsonString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 34 || c === 92) return false;
  }
  return true;
}

/** A non-negative integer in decimal digits. */
function putInt(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    buf[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + digits;
}

/** A duration in ms with at most three decimals, as `Math.round(ms * 1000) / 1000` prints it. */
function putMillis(buf: Buffer, at: number, ms: number): number {
  let us = Math.round(ms * 1000);
  if (us < 0) {
    buf[at++] = 45;
    us = -us;
  }
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  at = putInt(buf, at, whole);
  if (frac === 0) return at;
  buf[at++] = 46;
  const d1 = Math.floor(frac / 100);
  const d2 = Math.floor(frac / 10) % 10;
  const d3 = frac % 10;
  buf[at++] = 48 + d1;
  if (d2 !== 0 || d3 !== 0) buf[at++] = 48 + d2;
  if (d3 !== 0) buf[at++] = 48 + d3;
  return at;
}
