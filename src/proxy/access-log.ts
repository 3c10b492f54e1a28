// The access log: one JSON line per finished client request, in pino's line format (level,
// time, service, fields, msg) so one log pipeline reads both. The hub listener only queues the
// outcome; lines are formatted on a later turn of the event loop and written as one string
// per batch, so a slow log destination never adds latency to a request.
//
// Lines are built by hand instead of through pino: the fields are fixed, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md).
import type { EventHub, RequestOutcome } from '../core/events.ts';

/** Where lines go: pino's destination (sonic-boom) in production, a capture in tests. */
export interface LogSink {
  write(text: string): unknown;
}

export interface AccessLogOptions {
  /** Outcomes queued beyond this are dropped (and counted) rather than growing memory. */
  maxQueue?: number;
  /** The `service` field of each line. */
  service?: string;
  /** Clock of the `time` field (ms since the epoch). */
  now?: () => number;
}

export interface AccessLog {
  /** Lines dropped because the queue was full. */
  readonly dropped: number;
  /** Write what is queued now (tests, shutdown). */
  flush(): void;
  /** Unsubscribe and flush. */
  close(): void;
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

export function attachAccessLog(hub: EventHub, sink: LogSink, options: AccessLogOptions = {}): AccessLog {
  const maxQueue = options.maxQueue ?? 10_000;
  const service = options.service ?? 'fulcrum';
  const now = options.now ?? Date.now;
  let queue: RequestOutcome[] = [];
  let scheduled = false;
  let dropped = 0;

  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    if (batch.length === 0) return;
    queue = [];
    const time = now();
    let text = '';
    for (let i = 0; i < batch.length; i++) text += accessLine(batch[i] as RequestOutcome, time, service);
    sink.write(text);
  };

  const unsubscribe = hub.requests.subscribe((o) => {
    if (queue.length >= maxQueue) {
      dropped++;
      return;
    }
    queue.push(o);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  });

  return {
    get dropped() {
      return dropped;
    },
    flush,
    close() {
      unsubscribe();
      flush();
    },
  };
}
