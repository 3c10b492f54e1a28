// The access log: one JSON line per finished client request, in pino's line format (level,
// time, service, fields, msg) so one log pipeline reads both. Each line is formatted when the
// outcome is emitted and copied into the log writer's buffer (src/core/log-writer.ts), which
// writes per 64 KiB or 50 ms; a slow destination costs dropped lines, never latency.
//
// Lines are built by hand instead of through pino: the fields are fixed, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md).
import type { EventHub, RequestOutcome } from '../core/events.ts';

/** Where lines go: the LogWriter in production, a capture in tests. */
export interface LogSink {
  write(text: string): unknown;
}

export interface AccessLogOptions {
  /** The `service` field of each line. */
  service?: string;
  /** Clock of the `time` field (ms since the epoch). */
  now?: () => number;
}

/**
 * One line. Names (listener, pool, backend) match the config's name pattern and methods are
 * HTTP tokens, so neither needs escaping; the request id may come from the client and is
 * escaped. Absent fields are left out, as pino leaves out undefined ones.
 */
export function accessLine(o: RequestOutcome, time: number, service: string): string {
  let line = `{"level":30,"time":${time},"service":"${service}","listener":"${o.listener}","pool":"${o.pool}"`;
  if (o.backend !== undefined) line += `,"backend":"${o.backend}"`;
  line += `,"status":${o.status},"durationMs":${millis(o.durationMs)},"requestId":${JSON.stringify(o.requestId)},"method":"${o.method}","retries":${o.retries}`;
  if (o.error !== undefined) line += `,"error":"${o.error}"`;
  return `${line},"msg":"request"}\n`;
}

/**
 * A duration in ms with at most three decimals, as `Math.round(ms * 1000) / 1000` prints it,
 * built from small integers: V8 caches the strings of numbers it prints, and a cache entry per
 * distinct duration kept lines' garbage alive into the old generation (bench/RESULTS.md).
 */
export function millis(ms: number): string {
  const us = Math.round(ms * 1000);
  const whole = Math.trunc(us / 1000);
  const frac = Math.abs(us - whole * 1000);
  const sign = us < 0 && whole === 0 ? '-' : '';
  if (frac === 0) return `${sign}${whole}`;
  if (frac % 100 === 0) return `${sign}${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${sign}${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${sign}${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** Subscribe the access log to request outcomes; returns the unsubscribe function. */
export function attachAccessLog(hub: EventHub, sink: LogSink, options: AccessLogOptions = {}): () => void {
  const service = options.service ?? 'fulcrum';
  const now = options.now ?? Date.now;
  return hub.requests.subscribe((o) => {
    sink.write(accessLine(o, now(), service));
  });
}
