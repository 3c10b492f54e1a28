// The access log: one line per finished client request, JSON in pino's line format by default
// (level, time, service, fields, msg) so one log pipeline reads both, or logfmt. Each line is
// formatted when the outcome is emitted and copied into the log writer's buffer
// (src/core/log-writer.ts), which writes per 64 KiB or 50 ms; a slow destination costs dropped
// lines, never latency.
//
// Lines are built by hand instead of through pino: the fields are known, and pino's generic
// serialisation was the largest single cost of a proxied request (bench/RESULTS.md). The chosen
// fields are compiled once per config into small integer codes; a line is one pass over them.
import type { EventHub, RequestOutcome } from '../core/events.ts';
import { ACCESS_LOG_FIELDS, type AccessLogField } from '../config/schema.ts';

/** Where lines go: the LogWriter in production, a capture in tests. */
export interface LogSink {
  write(text: string): unknown;
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

/** A compiled format: field codes (indexes into ACCESS_LOG_FIELDS) and the line style. */
export interface CompiledFormat {
  readonly json: boolean;
  readonly codes: Int8Array;
  readonly query: boolean;
}

export function compileFormat(f: AccessLogFormat): CompiledFormat {
  return {
    json: f.format === 'json',
    codes: Int8Array.from(f.fields, (name) => ACCESS_LOG_FIELDS.indexOf(name)),
    query: f.query,
  };
}

const DEFAULT_COMPILED = compileFormat(DEFAULT_ACCESS_FORMAT);

// Codes, in ACCESS_LOG_FIELDS order (a test keeps the two in step).
const LISTENER = 0;
const POOL = 1;
const BACKEND = 2;
const STATUS = 3;
const DURATION = 4;
const REQUEST_ID = 5;
const METHOD = 6;
const PATH = 7;
const CLIENT = 8;
const HOST = 9;
const USER_AGENT = 10;
const BYTES_IN = 11;
const BYTES_OUT = 12;
const UPSTREAM = 13;
const CONNECT = 14;
const FIRST_BYTE = 15;
const RETRIES = 16;
const ERROR = 17;

/** The field's value as written (JSON or logfmt), or undefined to leave the field out. */
function value(o: RequestOutcome, code: number, json: boolean, query: boolean): string | undefined {
  switch (code) {
    // Names match the config's name pattern, methods are HTTP tokens, error codes are ours:
    // none needs escaping.
    case LISTENER:
      return json ? `"${o.listener}"` : o.listener;
    case POOL:
      return json ? `"${o.pool}"` : o.pool === '' ? '""' : o.pool;
    case BACKEND:
      return o.backend === undefined ? undefined : json ? `"${o.backend}"` : o.backend;
    case STATUS:
      return `${o.status}`;
    case DURATION:
      return millis(o.durationMs);
    case REQUEST_ID:
      return quote(o.requestId, json);
    case METHOD:
      return json ? `"${o.method}"` : o.method;
    case PATH: {
      const p = o.path;
      if (p === undefined) return undefined;
      const q = query ? -1 : p.indexOf('?');
      return quote(q === -1 ? p : p.slice(0, q), json);
    }
    // Socket and config addresses: nothing to escape.
    case CLIENT:
      return o.clientAddress === undefined ? undefined : json ? `"${o.clientAddress}"` : o.clientAddress;
    case HOST:
      return o.host === undefined ? undefined : quote(o.host, json);
    case USER_AGENT:
      return o.userAgent === undefined ? undefined : quote(o.userAgent, json);
    case BYTES_IN:
      return o.bytesIn === undefined ? undefined : `${o.bytesIn}`;
    case BYTES_OUT:
      return o.bytesOut === undefined ? undefined : `${o.bytesOut}`;
    case UPSTREAM:
      return o.upstream === undefined ? undefined : json ? `"${o.upstream}"` : o.upstream;
    case CONNECT:
      return o.connectMs === undefined ? undefined : millis(o.connectMs);
    case FIRST_BYTE:
      return o.firstByteMs === undefined ? undefined : millis(o.firstByteMs);
    case RETRIES:
      return `${o.retries}`;
    case ERROR:
      return o.error === undefined ? undefined : json ? `"${o.error}"` : o.error;
    default:
      return undefined;
  }
}

// Whitespace, quote, equals, backslash or a control character: such a value is quoted.
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NEEDS_QUOTES = /[\s"=\\\x00-\x1f\x7f]/;

// What JSON must escape in a string of header bytes (parsed as latin1: no lone surrogates).
// eslint-disable-next-line no-control-regex -- control characters are what this looks for
const NEEDS_ESCAPE = /["\\\x00-\x1f]/;

/** A client-chosen string: JSON-escaped, or in logfmt bare when it is safe to leave bare. */
function quote(s: string, json: boolean): string {
  // Most values need no escaping: quoting them by hand is cheaper than JSON.stringify.
  if (json) return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
  if (s === '' || NEEDS_QUOTES.test(s)) return JSON.stringify(s);
  return s;
}

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
  const { json, codes, query } = format;
  let line = json
    ? `{"level":30,"time":${time},"service":"${service}"`
    : `level=info time=${time} service=${service}`;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i] as number;
    const v = value(o, code, json, query);
    if (v === undefined) continue;
    const name = ACCESS_LOG_FIELDS[code] as string;
    line += json ? `,"${name}":${v}` : ` ${name}=${v}`;
  }
  return json ? `${line},"msg":"request"}\n` : `${line} msg=request\n`;
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
  const stop = hub.requests.subscribe((o) => {
    sink.write(accessLine(o, now(), service, compiled));
  });
  return {
    configure(format) {
      compiled = compileFormat(format);
    },
    stop,
  };
}
