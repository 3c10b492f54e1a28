// The access log: one pino JSON line per finished client request, built off the request
// path. The hub listener only queues the outcome; lines are written on a later turn of the
// event loop, in batches, so a slow log destination never adds latency to a request.
import type { Logger } from 'pino';
import type { EventHub, RequestOutcome } from '../core/events.ts';

export interface AccessLogOptions {
  /** Outcomes queued beyond this are dropped (and counted) rather than growing memory. */
  maxQueue?: number;
}

export interface AccessLog {
  /** Lines dropped because the queue was full. */
  readonly dropped: number;
  /** Write what is queued now (tests, shutdown). */
  flush(): void;
  /** Unsubscribe and flush. */
  close(): void;
}

export function attachAccessLog(hub: EventHub, logger: Logger, options: AccessLogOptions = {}): AccessLog {
  const maxQueue = options.maxQueue ?? 10_000;
  let queue: RequestOutcome[] = [];
  let scheduled = false;
  let dropped = 0;

  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    for (let i = 0; i < batch.length; i++) {
      const o = batch[i] as RequestOutcome;
      logger.info(
        {
          listener: o.listener,
          pool: o.pool,
          backend: o.backend,
          status: o.status,
          durationMs: Math.round(o.durationMs * 1000) / 1000,
          requestId: o.requestId,
          method: o.method,
          retries: o.retries,
          error: o.error,
        },
        'request',
      );
    }
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
