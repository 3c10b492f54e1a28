// The access log: one line per finished client request, JSON in pino's line format by default
// (level, time, service, fields, msg) so one log pipeline reads both, or logfmt. Each line is
// formatted when the outcome is emitted and copied into the log writer's buffer
// (src/core/log-writer.ts), which writes per 64 KiB or 50 ms; a slow destination costs dropped
// lines, never latency.
//
// Lines are built by hand instead of through pino: the fields are known, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md). The chosen
// fields are compiled once per config into one function that concatenates them (compileFormat).
import type { EventHub, RequestOutcome } from '../core/events.ts';
import { ACCESS_LOG_FIELDS, type AccessLogField } from '../config/schema.ts';

/**
 * Where lines go: the LogWriter in production, a capture in tests. `writeAscii`, when the sink
 * has it, takes text known to be ASCII (every access line is: see jsonQuote and logfmtQuote), which it can copy
 * one byte per character instead of encoding UTF-8.
 */
export interface LogSink {
  write(text: string): unknown;
  writeAscii?(text: string): unknown;
}

export interface AccessLogFormat {
  format: 'json' | 'logfmt';
  /** Fields in the order they are written. */
  fields: readonly AccessLogField[];
  /** Keep the query string of `path` (it may carry tokens or personal data). */
  query: boolean;
}

export const DEFAULT_ACCESS_FORMAT: AccessLogFormat = {
  format: 'json',
  fields: ACCESS_LOG_FIELDS,
  query: false,
};

export interface AccessLogOptions {
  /** The `service` field of each line. */
  service?: string;
  /** Clock of the `time` field (ms since the epoch). */
  now?: () => number;
  format?: AccessLogFormat;
}

/** A compiled format: one function that writes a whole line. */
export interface CompiledFormat {
  readonly line: (o: RequestOutcome, time: number, service: string) => string;
}

// Whitespace, quote, equals, backslash, a control character or anything not ASCII: such a
// logfmt value is quoted.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NEEDS_QUOTES = /[\s"=\\\x00-\x1f\x7f-\uffff]/;

// What a JSON string of header bytes (parsed as latin1: no lone surrogates) must escape, and
// DEL and what is not ASCII, escaped too so that every line is printable ASCII.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NEEDS_ESCAPE = /["\\\x00-\x1f\x7f-\uffff]/;
const NOT_ASCII = /[\x7f-\uffff]/g;

/** JSON.stringify with DEL and what is not ASCII as \uXXXX (the same string to any JSON reader). */
function asciiJson(s: string): string {
  return JSON.stringify(s).replace(NOT_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A client-chosen string, JSON-quoted. Most need no escaping: quoting them by hand is cheaper
 * than JSON.stringify. Header bytes from 0x7f up come out as \u00XX escapes, so a line is ASCII
 * whatever a client sends and goes to the log one byte per character.
 */
function jsonQuote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? asciiJson(s) : `"${s}"`;
}

/** A client-chosen string in logfmt: bare when it is safe to leave bare, else JSON-quoted. */
function logfmtQuote(s: string): string {
  if (s === '' || NEEDS_QUOTES.test(s)) return asciiJson(s);
  return s;
}

function pathNoQuery(p: string): string {
  const q = p.indexOf('?');
  return q === -1 ? p : p.slice(0, q);
}

/**
 * Each field as a JavaScript expression over the outcome `o`, for JSON and for logfmt. Names
 * match the config's name pattern, methods are HTTP tokens, error codes are ours, addresses
 * are validated host:port: none needs escaping. Client-chosen strings go through `q`.
 */
function fieldCode(name: AccessLogField, json: boolean, query: boolean): string {
  const key = json ? `,"${name}":` : ` ${name}=`;
  const lit = JSON.stringify(key);
  // A string field written as is: quoted in JSON, bare in logfmt.
  const raw = (expr: string): string =>
    json ? `${JSON.stringify(`${key}"`)} + ${expr} + '"'` : `${lit} + ${expr}`;
  const optional = (prop: string, expr: string): string => `(o.${prop} === undefined ? '' : ${expr})`;
  switch (name) {
    case 'listener':
      return raw('o.listener');
    case 'pool':
      return json ? raw('o.pool') : `${lit} + (o.pool === '' ? '""' : o.pool)`;
    case 'backend':
      return optional('backend', raw('o.backend'));
    case 'status':
      return `${lit} + o.status`;
    case 'durationMs':
      return `${lit} + millis(o.durationMs)`;
    case 'requestId':
      return `${lit} + q(o.requestId)`;
    case 'method':
      return raw('o.method');
    case 'path':
      return optional('path', `${lit} + q(${query ? 'o.path' : 'pathNoQuery(o.path)'})`);
    case 'client':
      return optional('clientAddress', raw('o.clientAddress'));
    case 'host':
      return optional('host', `${lit} + q(o.host)`);
    case 'userAgent':
      return optional('userAgent', `${lit} + q(o.userAgent)`);
    case 'bytesIn':
      return optional('bytesIn', `${lit} + o.bytesIn`);
    case 'bytesOut':
      return optional('bytesOut', `${lit} + o.bytesOut`);
    case 'upstream':
      return optional('upstream', raw('o.upstream'));
    case 'connectMs':
      return optional('connectMs', `${lit} + millis(o.connectMs)`);
    case 'firstByteMs':
      return optional('firstByteMs', `${lit} + millis(o.firstByteMs)`);
    case 'retries':
      return `${lit} + o.retries`;
    case 'error':
      return optional('error', raw('o.error'));
  }
}

/**
 * Compile a format into one function whose body is a single concatenation of its fields, in
 * order. A generic loop over the fields (a switch per field, a string per value and another per
 * `,"name":value`) cost 1.0 µs a line against 0.6 for this, and half again the garbage
 * (bench/RESULTS.md). The generated source is built only from the constants above, never from
 * config or request text: names come from ACCESS_LOG_FIELDS, values are read at run time.
 */
export function compileFormat(f: AccessLogFormat): CompiledFormat {
  const json = f.format === 'json';
  const head = json
    ? `'{"level":30,"time":' + time + ',"service":"' + service + '"'`
    : `'level=info time=' + time + ' service=' + service`;
  const tail = json ? `',"msg":"request"}\\n'` : `' msg=request\\n'`;
  const body = [head, ...f.fields.map((name) => fieldCode(name, json, f.query)), tail].join(' +\n    ');
  const make = new Function(
    'millis',
    'q',
    'pathNoQuery',
    `return function accessLine(o, time, service) {\n  return ${body};\n};`,
  ) as (m: typeof millis, q: (s: string) => string, p: typeof pathNoQuery) => CompiledFormat['line'];
  return { line: make(millis, json ? jsonQuote : logfmtQuote, pathNoQuery) };
}

const DEFAULT_COMPILED = compileFormat(DEFAULT_ACCESS_FORMAT);

/**
 * One line. Absent fields are left out, as pino leaves out undefined ones. JSON lines keep
 * pino's frame (level, time, service first, msg last) whatever fields are chosen.
 */
export function accessLine(
  o: RequestOutcome,
  time: number,
  service: string,
  format: CompiledFormat = DEFAULT_COMPILED,
): string {
  return format.line(o, time, service);
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

/** The access log's subscription; `configure` swaps the format (a config apply). */
export interface AccessLog {
  configure(format: AccessLogFormat): void;
  stop(): void;
}

/** Subscribe the access log to request outcomes. */
export function attachAccessLog(hub: EventHub, sink: LogSink, options: AccessLogOptions = {}): AccessLog {
  const service = options.service ?? 'fulcrum';
  const now = options.now ?? Date.now;
  let compiled = options.format === undefined ? DEFAULT_COMPILED : compileFormat(options.format);
  // Lines are ASCII by construction: a sink that can take them as such copies bytes.
  const put = sink.writeAscii !== undefined ? sink.writeAscii.bind(sink) : sink.write.bind(sink);
  const stop = hub.requests.subscribe((o) => {
    put(compiled.line(o, now(), service));
  });
  return {
    configure(format) {
      compiled = compileFormat(format);
    },
    stop,
  };
}
