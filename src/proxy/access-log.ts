// The access log: one JSON line per finished client request, in pino's line format (level,
// time, service, fields, msg) so one log pipeline reads both. Each line is formatted when the
// outcome is emitted and copied into the log writer's buffer; the writer writes asynchronously,
// at most once per event-loop turn, so a slow destination costs dropped lines, never latency.
//
// Lines are built by hand instead of through pino: the fields are fixed, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md). Nothing is
// queued per request either: outcomes held until a later turn survived into V8's old generation
// often enough to make its mark-compact pauses the proxy's p99.
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
  line += `,"status":${o.status},"durationMs":${Math.round(o.durationMs * 1000) / 1000},"requestId":${JSON.stringify(o.requestId)},"method":"${o.method}","retries":${o.retries}`;
  if (o.error !== undefined) line += `,"error":"${o.error}"`;
  return `${line},"msg":"request"}\n`;
}

/** Subscribe the access log to request outcomes; returns the unsubscribe function. */
export function attachAccessLog(hub: EventHub, sink: LogSink, options: AccessLogOptions = {}): () => void {
  const service = options.service ?? 'fulcrum';
  const now = options.now ?? Date.now;
  return hub.requests.subscribe((o) => {
    sink.write(accessLine(o, now(), service));
  });
}
