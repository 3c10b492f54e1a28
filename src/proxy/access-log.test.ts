import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventHub, type RequestOutcome } from '../core/events.ts';
import { ACCESS_LOG_FIELDS } from '../config/schema.ts';
import { accessLine, attachAccessLog, compileFormat, millis, type LogSink } from './access-log.ts';

function capture(): { logger: LogSink; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = {
    write(text: string) {
      for (const line of text.split('\n'))
        if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  };
  return { logger, lines };
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
  it('writes one JSON line per request until unsubscribed', () => {
    const hub = new EventHub();
    const { logger, lines } = capture();
    const stop = attachAccessLog(hub, logger);
    hub.requests.emit(outcome(1));
    hub.requests.emit(outcome(2));
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
    stop.stop();
    hub.requests.emit(outcome(3));
    expect(lines).toHaveLength(2);
  });

  it('writes the line pino would write for the same fields, escaping a client-chosen request id', () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    });
    const logger = pino(
      { level: 'info', base: { service: 'fulcrum' }, timestamp: () => ',"time":1700000000000' },
      stream,
    );
    for (const o of [
      outcome(1),
      { ...outcome(2), backend: undefined, error: undefined, requestId: 'a "quoted" \\ id\u0001' },
    ]) {
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
      const ours = accessLine(o, 1700000000000, 'fulcrum');
      // pino adds pid and hostname to its base unless told otherwise; compare the rest.
      const theirs = JSON.parse(chunks.pop() as string) as Record<string, unknown>;
      delete theirs['pid'];
      delete theirs['hostname'];
      expect(JSON.parse(ours)).toEqual(theirs);
      expect(ours.endsWith('}\n')).toBe(true);
    }
  });

  it('prints durations as Math.round(ms * 1000) / 1000 would', () => {
    for (const ms of [
      0, 1, 12.34567, 12.3, 12.34, 12.304, 0.0004, 0.0006, 0.05, 999.9999, 1234567.891, 7.0001,
    ]) {
      expect(millis(ms)).toBe(String(Math.round(ms * 1000) / 1000));
    }
    // Property check over many values.
    for (let i = 0; i < 5000; i++) {
      const ms = ((i * 7919.123) % 3000) / 7;
      expect(millis(ms)).toBe(String(Math.round(ms * 1000) / 1000));
    }
  });

  const full = (): RequestOutcome => ({
    ...outcome(9),
    path: '/search?q=secret&x=1',
    clientAddress: '127.0.0.1',
    host: 'api.example.com',
    userAgent: 'curl/8.5 "quoted"',
    bytesIn: 120,
    bytesOut: 4567,
    upstream: '127.0.0.1:9001',
    connectMs: 0.5,
    firstByteMs: 3.25,
  });

  it('writes every field by default, the path without its query', () => {
    const line = JSON.parse(accessLine(full(), 1, 'fulcrum')) as Record<string, unknown>;
    expect(line).toEqual({
      level: 30,
      time: 1,
      service: 'fulcrum',
      listener: 'web',
      pool: 'app',
      backend: 'b1',
      status: 502,
      durationMs: 12.346,
      requestId: 'id-9',
      method: 'GET',
      path: '/search',
      client: '127.0.0.1',
      host: 'api.example.com',
      userAgent: 'curl/8.5 "quoted"',
      bytesIn: 120,
      bytesOut: 4567,
      upstream: '127.0.0.1:9001',
      connectMs: 0.5,
      firstByteMs: 3.25,
      retries: 1,
      error: 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT',
      msg: 'request',
    });
  });

  it('writes exactly the chosen fields, in the chosen order, with the query when asked', () => {
    const f = compileFormat({ format: 'json', fields: ['path', 'status', 'upstream'], query: true });
    const text = accessLine(full(), 1, 'fulcrum', f);
    expect(text).toBe(
      '{"level":30,"time":1,"service":"fulcrum","path":"/search?q=secret&x=1","status":502,"upstream":"127.0.0.1:9001","msg":"request"}\n',
    );
  });

  it('names each field by its config name (the codes are in step with ACCESS_LOG_FIELDS)', () => {
    for (const name of ACCESS_LOG_FIELDS) {
      const f = compileFormat({ format: 'json', fields: [name], query: false });
      const line = JSON.parse(accessLine(full(), 1, 'fulcrum', f)) as Record<string, unknown>;
      expect(Object.keys(line)).toEqual(['level', 'time', 'service', name, 'msg']);
    }
  });

  it('writes logfmt, quoting only values that need it', () => {
    const f = compileFormat({
      format: 'logfmt',
      fields: ['status', 'path', 'userAgent', 'client', 'connectMs'],
      query: false,
    });
    expect(accessLine(full(), 7, 'fulcrum', f)).toBe(
      'level=info time=7 service=fulcrum status=502 path=/search userAgent="curl/8.5 \\"quoted\\"" client=127.0.0.1 connectMs=0.5 msg=request\n',
    );
  });

  it('follows a new format after configure()', () => {
    const hub = new EventHub();
    const { logger, lines } = capture();
    const log = attachAccessLog(hub, logger, { now: () => 5 });
    log.configure({ format: 'json', fields: ['status'], query: false });
    hub.requests.emit(full());
    expect(lines).toEqual([{ level: 30, time: 5, service: 'fulcrum', status: 502, msg: 'request' }]);
    log.stop();
  });

  it('writes any latin1 header value so JSON.parse gives it back (escaping only when needed)', () => {
    const f = compileFormat({ format: 'json', fields: ['host', 'userAgent', 'path'], query: true });
    for (let i = 0; i < 2000; i++) {
      let v = '';
      for (let j = 0; j < 1 + (i % 23); j++) v += String.fromCharCode((i * 131 + j * 977) % 256);
      const line = JSON.parse(
        accessLine({ ...full(), host: v, userAgent: `ua ${v}`, path: `/${v}` }, 1, 'f', f),
      );
      expect([line.host, line.userAgent, line.path]).toEqual([v, `ua ${v}`, `/${v}`]);
    }
  });

  it('writes only ASCII whatever bytes a client sends, in JSON and in logfmt', () => {
    const fields = ['requestId', 'host', 'userAgent', 'path'] as const;
    const json = compileFormat({ format: 'json', fields, query: true });
    const logfmt = compileFormat({ format: 'logfmt', fields, query: true });
    for (let i = 0; i < 2000; i++) {
      let v = '';
      for (let j = 0; j < 1 + (i % 17); j++) v += String.fromCharCode((i * 37 + j * 211) % 256);
      const o = { ...full(), requestId: v, host: v, userAgent: v, path: `/${v}` };
      const a = accessLine(o, 1, 'fulcrum', json);
      const b = accessLine(o, 1, 'fulcrum', logfmt);
      expect(/^[\x20-\x7e]*\n$/.test(a), a).toBe(true);
      expect(/^[\x20-\x7e]*\n$/.test(b), b).toBe(true);
      expect(JSON.parse(a).userAgent).toBe(v);
    }
    // A byte above 0x7f is the same character to a JSON reader, escaped.
    const line = accessLine({ ...full(), userAgent: 'caf\u00e9' }, 1, 'f', json);
    expect(line).toContain('"userAgent":"caf\\u00e9"');
    expect(accessLine({ ...full(), userAgent: 'caf\u00e9' }, 1, 'f', logfmt)).toContain(
      'userAgent="caf\\u00e9"',
    );
  });

  it('leaves out absent fields in every position, and writes logfmt for every field', () => {
    const bare: RequestOutcome = { ...outcome(3), backend: undefined, error: undefined };
    expect(accessLine(bare, 2, 'fulcrum')).toBe(
      '{"level":30,"time":2,"service":"fulcrum","listener":"web","pool":"app","status":502,"durationMs":12.346,"requestId":"id-3","method":"GET","retries":1,"msg":"request"}\n',
    );
    const all = compileFormat({ format: 'logfmt', fields: ACCESS_LOG_FIELDS, query: false });
    expect(accessLine({ ...full(), pool: '' }, 3, 'fulcrum', all)).toBe(
      'level=info time=3 service=fulcrum listener=web pool="" backend=b1 status=502 durationMs=12.346 requestId=id-9 method=GET path=/search client=127.0.0.1 host=api.example.com userAgent="curl/8.5 \\"quoted\\"" bytesIn=120 bytesOut=4567 upstream=127.0.0.1:9001 connectMs=0.5 firstByteMs=3.25 retries=1 error=FULCRUM_ERR_PROXY_UPSTREAM_CONNECT msg=request\n',
    );
  });

  it('hands lines to a sink that takes ASCII through writeAscii', () => {
    const hub = new EventHub();
    const ascii: string[] = [];
    const sink = {
      write: (): never => {
        throw new Error('write() was called');
      },
      writeAscii: (t: string) => ascii.push(t),
    };
    const log = attachAccessLog(hub, sink, { now: () => 4 });
    hub.requests.emit(full());
    log.stop();
    expect(ascii).toHaveLength(1);
    expect(JSON.parse(ascii[0] as string)).toMatchObject({ time: 4, status: 502, path: '/search' });
  });
});
