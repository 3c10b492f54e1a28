import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventHub, type RequestOutcome } from '../core/events.ts';
import { attachAccessLog } from './access-log.ts';

function capture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

const outcome = (i: number): RequestOutcome => ({
  listener: 'web',
  pool: 'app',
  backend: 'b1',
  status: 502,
  durationMs: 12.34567,
  error: 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT',
  retries: 1,
  requestId: `id-${i}`,
  method: 'GET',
  hashKey: undefined,
});

describe('access log', () => {
  it('writes one JSON line per request, off the emitting call', async () => {
    const hub = new EventHub();
    const { logger, lines } = capture();
    const log = attachAccessLog(hub, logger);
    hub.requests.emit(outcome(1));
    hub.requests.emit(outcome(2));
    // Nothing is written inside emit: the request path only queues.
    expect(lines).toHaveLength(0);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      msg: 'request',
      listener: 'web',
      pool: 'app',
      backend: 'b1',
      status: 502,
      durationMs: 12.346,
      requestId: 'id-1',
      method: 'GET',
      retries: 1,
      error: 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT',
    });
    log.close();
    hub.requests.emit(outcome(3));
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(2);
  });

  it('drops beyond maxQueue instead of growing, and counts the drops', async () => {
    const hub = new EventHub();
    const { logger, lines } = capture();
    const log = attachAccessLog(hub, logger, { maxQueue: 3 });
    for (let i = 0; i < 5; i++) hub.requests.emit(outcome(i));
    log.flush();
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(3);
    expect(log.dropped).toBe(2);
    log.close();
  });
});
