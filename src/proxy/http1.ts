// HTTP/1.1 message framing for the data plane (RFC 9112), on raw bytes: request and response
// heads parsed from a buffer in one pass, and a scanner that follows a chunked body. What the
// proxy forwards is framed by the proxy from what it parsed (headers.ts re-emits the framing
// fields, chunked bodies are re-encoded), never from leftovers of the received bytes.
//
// Strict where ambiguity lets a request be read two ways (request smuggling): one framing per
// message (Content-Length and Transfer-Encoding together are refused), digits-only lengths,
// `chunked` as the only transfer coding of a request, CRLF line ends, no obs-fold, token-only
// header names, no control characters in values, strict chunk-size lines and trailers.
import { METHODS } from 'node:http';

/** What the head of a message says about the connection and the body that follows it. */
export interface MessageHead {
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  /** [name, value, name, value, ...] as sent (names keep their case, values trimmed). */
  rawHeaders: string[];
  /** The Content-Length, or -1 when there is none. */
  contentLength: number;
  /** The same as forwarded: the received digits, canonical (no leading zeros). */
  contentLengthText: string | undefined;
  chunked: boolean;
  /** Connection tokens. */
  close: boolean;
  keepAlive: boolean;
  connectionUpgrade: boolean;
  /** The Upgrade header, when present. */
  upgrade: string | undefined;
  /** Bytes of the head, request or status line through the empty line. */
  headBytes: number;
}

export interface RequestHead extends MessageHead {
  method: string;
  /** The target in origin-form (an absolute-form target is rewritten, RFC 9112 §3.2.2). */
  url: string;
  /** The Host field, or the authority of an absolute-form target (which replaces Host). */
  host: string | undefined;
  expectContinue: boolean;
  /** `TE: trailers`: the client takes trailer fields in a chunked response. */
  teTrailers: boolean;
}

export interface ResponseHead extends MessageHead {
  status: number;
  reason: string;
}

/**
 * Why a head was refused: for a request 400, 431, 501, a bad target (userinfo, a bad
 * authority, `*` for another method than OPTIONS), `CONNECT` (405) or the HTTP/2 preface
 * (`PRI * HTTP/2.0`); any of them means 502 for a response.
 */
export type HeadError =
  'bad-request' | 'too-large' | 'not-implemented' | 'bad-target' | 'connect' | 'preface' | 'unknown-method';

/** The methods llhttp parses (case-sensitive): any other would be refused by a strict backend. */
const KNOWN_METHODS = new Set(METHODS);

/** tchar (RFC 9110 §5.6.2) by byte, for loops over a head's text. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;
// A head's name and value checks are loops over its text, not regular expressions: ten regex
// tests were a fifth of a head's parse (each has a fixed cost well above a short loop's).

/** text[a, b) is a token (non-empty, tchar only); the text is latin1, every code below 256. */
function isToken(text: string, a: number, b: number): boolean {
  if (a >= b) return false;
  for (let i = a; i < b; i++) if (TCHAR[text.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * text[a, b) is non-empty visible ASCII, as a target must be: llhttp refuses obs-text in a
 * target, so a forwarded one would not parse.
 */
function visibleAscii(text: string, a: number, b: number): boolean {
  if (a >= b) return false;
  for (let i = a; i < b; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** text[a, b) is a reason phrase (HTAB, SP, visible ASCII, obs-text): the status line fulcrum writes carries it. */
function isReason(text: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** text[a, b) holds a control character a field value may not (visible ASCII, SP, HTAB and obs-text pass). */
function badValue(text: string, a: number, b: number): boolean {
  for (let i = a; i < b; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127) return true;
  }
  return false;
}
/** uri-host [":" port] (RFC 9112 §3.2, RFC 3986 §3.2.2); empty is allowed. */
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;
const DIGITS = /^[0-9]{1,15}$/;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** Skip the empty lines a client may send between requests (RFC 9112 §2.2). */
function skipEmptyLines(buf: Buffer, start: number, end: number): number {
  while (start + 1 < end && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  return start;
}

/**
 * The end of the head (index just past CRLFCRLF) in buf[start, end), undefined when more bytes
 * are needed, or 'too-large' when the head exceeds maxBytes.
 */
function headEnd(
  buf: Buffer,
  from: number,
  start: number,
  end: number,
  maxBytes: number,
): number | 'too-large' | undefined {
  const i = buf.indexOf(HEAD_END, from);
  if (i < 0 || i + 4 > end) {
    // The terminator may straddle the next read: only the bytes seen so far count.
    return end - start > maxBytes ? 'too-large' : undefined;
  }
  // Skipped empty lines count too, or a flood of them would be buffered forever.
  return i + 4 - start > maxBytes ? 'too-large' : i + 4;
}

function isOws(c: number): boolean {
  return c === 32 || c === 9;
}

/** Whether `name` is `lower` (a lower-case name) in any case, without a lower-cased copy. */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    // ASCII letters differ from their lower case by 0x20; nothing else is folded.
    if (c !== lower.charCodeAt(i) && (c < 65 || c > 90 || c + 32 !== lower.charCodeAt(i))) return false;
  }
  return true;
}

/** The lower-case name of a field the head parser acts on, or '' for any other field. */
function fieldName(name: string): string {
  switch (name.length) {
    case 2:
      return sameName(name, 'te') ? 'te' : '';
    case 4:
      return sameName(name, 'host') ? 'host' : '';
    case 6:
      return sameName(name, 'expect') ? 'expect' : '';
    case 7:
      return sameName(name, 'upgrade') ? 'upgrade' : '';
    case 10:
      return sameName(name, 'connection') ? 'connection' : '';
    case 14:
      return sameName(name, 'content-length') ? 'content-length' : '';
    case 17:
      return sameName(name, 'transfer-encoding') ? 'transfer-encoding' : '';
    default:
      return '';
  }
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** Comma-separated tokens, lower-cased (Connection, Transfer-Encoding). */
function tokens(value: string): string[] {
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = trimOws(part).toLowerCase();
    if (t !== '') out.push(t);
  }
  return out;
}

/** Header fields of `text` from `pos` (just past the start line) into `head`; false on a bad field. */
function parseFields(
  text: string,
  pos: number,
  head: MessageHead & { host?: string | undefined },
  isRequest: boolean,
): HeadError | undefined {
  const raw = head.rawHeaders;
  let te: string | undefined;
  let sawHost = false;
  let sawLength = false;
  // The text ends with CRLFCRLF: every field line ends with CRLF and the last line is empty.
  while (pos < text.length - 2) {
    const eol = text.indexOf('\r\n', pos);
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > eol) return 'bad-request';
    if (!isToken(text, pos, colon)) return 'bad-request'; // also refuses obs-fold (a leading SP/HTAB)
    const name = text.slice(pos, colon);
    // The value's bounds without its surrounding whitespace, then one slice.
    let a = colon + 1;
    let b = eol;
    while (a < b && isOws(text.charCodeAt(a))) a++;
    while (b > a && isOws(text.charCodeAt(b - 1))) b--;
    if (badValue(text, a, b)) return 'bad-request';
    const value = text.slice(a, b);
    raw.push(name, value);
    pos = eol + 2;
    // Only the names below matter to framing; the rest pass with no lower-cased copy.
    switch (fieldName(name)) {
      case 'content-length': {
        // Identical repeats are one length (forwarded once, re-emitted by fulcrum).
        if (!DIGITS.test(value)) return 'bad-request';
        const len = Number(value);
        if (sawLength && head.contentLength !== len) return 'bad-request';
        sawLength = true;
        head.contentLength = len;
        // The received string, not String(len): no number-to-string cache entry per length.
        head.contentLengthText = value.length > 1 && value.charCodeAt(0) === 48 ? String(len) : value;
        break;
      }
      case 'te':
        if (isRequest && tokens(value).includes('trailers')) (head as RequestHead).teTrailers = true;
        break;
      case 'transfer-encoding':
        // Several Transfer-Encoding fields are one comma-joined list.
        te = te === undefined ? value : `${te}, ${value}`;
        break;
      case 'connection':
        // The usual single token without a list to split.
        if (sameName(value, 'keep-alive')) head.keepAlive = true;
        else if (sameName(value, 'close')) head.close = true;
        else
          for (const t of tokens(value)) {
            if (t === 'close') head.close = true;
            else if (t === 'keep-alive') head.keepAlive = true;
            else if (t === 'upgrade') head.connectionUpgrade = true;
          }
        break;
      case 'upgrade':
        head.upgrade = value;
        break;
      case 'host':
        if (isRequest) {
          if (sawHost || !HOST.test(value)) return 'bad-request';
          sawHost = true;
          head.host = value;
        }
        break;
      case 'expect':
        if (isRequest && value.toLowerCase() === '100-continue') (head as RequestHead).expectContinue = true;
        break;
    }
  }
  if (te !== undefined) {
    const codings = tokens(te);
    if (isRequest) {
      // HTTP/1.0 has no chunked framing (RFC 9112 §6.1: treat it as faulty).
      if (head.versionMinor === 0) return 'bad-request';
      // Only `chunked` can be forwarded byte for byte; a length alongside it is a smuggling attempt.
      if (codings.length !== 1 || codings[0] !== 'chunked') return 'not-implemented';
      if (head.contentLength >= 0) return 'bad-request';
      head.chunked = true;
    } else {
      if (codings[codings.length - 1] !== 'chunked' || codings.length !== 1) return 'not-implemented';
      if (head.contentLength >= 0) return 'bad-request';
      head.chunked = true;
      // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; read it,
      // then close the connection (never reused, whatever Keep-Alive said).
      if (head.versionMinor === 0) head.close = true;
    }
  }
  if (isRequest && head.versionMinor === 1 && !sawHost) return 'bad-request';
  return undefined;
}

/** text[9, 12) is a status code, 100-999 (three digits, the first not 0). */
function statusDigits(text: string): boolean {
  const a = text.charCodeAt(9);
  const b = text.charCodeAt(10);
  const c = text.charCodeAt(11);
  return a >= 49 && a <= 57 && b >= 48 && b <= 57 && c >= 48 && c <= 57;
}

function versionOf(s: string): number {
  if (s === 'HTTP/1.1') return 1;
  if (s === 'HTTP/1.0') return 0;
  return -1;
}

/**
 * Parse a request head from buf[start, end). Returns the head, undefined when more bytes are
 * needed, or why it is refused. `headBytes` counts from `start` (empty lines skipped included).
 */
export function parseRequestHead(
  buf: Buffer,
  start: number,
  end: number,
  maxBytes: number,
): RequestHead | HeadError | undefined {
  const from = skipEmptyLines(buf, start, end);
  const stop = headEnd(buf, from, start, end, maxBytes);
  if (typeof stop !== 'number') return stop;
  const text = buf.toString('latin1', from, stop);
  const lineEnd = text.indexOf('\r\n');
  const sp1 = text.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : text.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 > lineEnd) return 'bad-request';
  const method = text.slice(0, sp1);
  let url = text.slice(sp1 + 1, sp2);
  // An HTTP/2 client's preface (`PRI * HTTP/2.0`), whatever version it claims.
  if (method === 'PRI') return 'preface';
  const versionMinor = versionOf(text.slice(sp2 + 1, lineEnd));
  if (versionMinor < 0 || !isToken(text, 0, sp1) || !visibleAscii(text, sp1 + 1, sp2)) return 'bad-request';
  if (method === 'CONNECT') return 'connect';
  if (!KNOWN_METHODS.has(method)) return 'unknown-method';
  let authority: string | undefined;
  if (url.charCodeAt(0) !== 47 /* / */) {
    if (url === '*') {
      if (method !== 'OPTIONS') return 'bad-target';
    } else {
      // absolute-form: the authority replaces Host, the rest is the origin-form target.
      const scheme = url.startsWith('http://') ? 7 : url.startsWith('https://') ? 8 : absoluteScheme(url);
      if (scheme < 0) return 'bad-target';
      let end = scheme;
      while (end < url.length && url[end] !== '/' && url[end] !== '?') end++;
      authority = url.slice(scheme, end);
      if (authority === '' || authority.includes('@') || !HOST.test(authority)) return 'bad-target';
      url = end === url.length ? '/' : url[end] === '?' ? `/${url.slice(end)}` : url.slice(end);
    }
  }
  // Literals, not a spread of a shared base: one object per head, built at once.
  const head: RequestHead = {
    versionMinor,
    rawHeaders: [],
    contentLength: -1,
    contentLengthText: undefined,
    chunked: false,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: undefined,
    headBytes: stop - start,
    method,
    url,
    host: undefined,
    expectContinue: false,
    teTrailers: false,
  };
  const bad = parseFields(text, lineEnd + 2, head, true);
  if (bad !== undefined) return bad;
  if (authority !== undefined) head.host = authority;
  return head;
}

/** Where the authority starts in an `http://` or `https://` target of any case, or -1. */
function absoluteScheme(url: string): number {
  const lower = url.slice(0, 8).toLowerCase();
  return lower.startsWith('http://') ? 7 : lower === 'https://' ? 8 : -1;
}

/** Parse a response head from buf[start, end); as parseRequestHead. */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  maxBytes: number,
): ResponseHead | HeadError | undefined {
  // Empty lines before a status line are skipped as before a request line (RFC 9112 §2.2).
  const from = skipEmptyLines(buf, start, end);
  const stop = headEnd(buf, from, start, end, maxBytes);
  if (typeof stop !== 'number') return stop;
  const text = buf.toString('latin1', from, stop);
  const lineEnd = text.indexOf('\r\n');
  // HTTP/1.x SP 3DIGIT [SP reason]
  const versionMinor = versionOf(text.slice(0, 8));
  if (versionMinor < 0 || text.charCodeAt(8) !== 32 || !statusDigits(text)) return 'bad-request';
  const digits = text.slice(9, 12);
  if (lineEnd > 12 && text.charCodeAt(12) !== 32) return 'bad-request';
  // The reason goes into the status line fulcrum writes: no CR, LF or other controls.
  if (lineEnd > 13 && !isReason(text, 13, lineEnd)) return 'bad-request';
  const reason = lineEnd > 13 ? text.slice(13, lineEnd) : '';
  const head: ResponseHead = {
    versionMinor,
    rawHeaders: [],
    contentLength: -1,
    contentLengthText: undefined,
    chunked: false,
    close: false,
    keepAlive: false,
    connectionUpgrade: false,
    upgrade: undefined,
    headBytes: stop - start,
    status: Number(digits),
    reason,
  };
  return parseFields(text, lineEnd + 2, head, false) ?? head;
}

/**
 * `s` written at `at` one byte per character; returns the offset past it. Short strings (most
 * names and values) are copied by a loop: a Buffer write is a call into C++ whose fixed cost
 * is above a short loop's, and a head has a dozen or more pieces (two heads a request cost
 * 1.55-1.72 µs with a write per piece, 0.94-1.08 with this; bench/RESULTS.md).
 */
function putLatin1(out: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n > 64) return at + out.write(s, at, 'latin1');
  for (let k = 0; k < n; k++) out[at + k] = s.charCodeAt(k);
  return at + n;
}

/**
 * `a b c d CRLF (name: value CRLF)* CRLF`, then `body` when given, written piece by piece into
 * one buffer: no string is built and flattened per message (that was a tenth of the proxy's
 * allocations). The start line comes in four pieces (`GET`, ` `, `/path`, ` HTTP/1.1`, or
 * `HTTP/1.1 `, `200`, ` `, `OK`). Every string is latin1: values come from parsed messages or
 * from fulcrum.
 */
export function encodeHead(
  a: string,
  b: string,
  c: string,
  d: string,
  headers: readonly string[],
  body?: Buffer,
): Buffer {
  let n = a.length + b.length + c.length + d.length + 4;
  for (let i = 0; i < headers.length; i++) n += (headers[i] as string).length;
  n += headers.length * 2;
  const out = Buffer.allocUnsafe(n + (body === undefined ? 0 : body.length));
  let at = putLatin1(out, a, 0);
  at = putLatin1(out, b, at);
  at = putLatin1(out, c, at);
  at = putLatin1(out, d, at);
  out[at++] = 13;
  out[at++] = 10;
  for (let i = 0; i < headers.length; i += 2) {
    at = putLatin1(out, headers[i] as string, at);
    out[at++] = 58;
    out[at++] = 32;
    at = putLatin1(out, headers[i + 1] as string, at);
    out[at++] = 13;
    out[at++] = 10;
  }
  out[at++] = 13;
  out[at++] = 10;
  if (body !== undefined) body.copy(out, at);
  return out;
}

/** Receives the payload of a chunked body (the data of each chunk, framing stripped). */
export interface ChunkSink {
  onChunkData(buf: Buffer, start: number, end: number): void;
}

// Scanner states.
const SIZE = 0;
const SIZE_LF = 1;
const DATA = 2;
const DATA_CR = 3;
const DATA_LF = 4;
const TRAILER_START = 5;
const TRAILER = 6;
const TRAILER_LF = 7;
const END_LF = 8;
const EXT_NAME_START = 9;
const EXT_NAME = 10;
const EXT_VALUE_START = 11;
const EXT_TOKEN = 12;
const EXT_QUOTED = 13;
const EXT_QUOTED_PAIR = 14;
const EXT_AFTER_QUOTE = 15;

/** Limits on the bytes that are not payload: the extensions of a chunk-size line, the trailers. */
const MAX_EXTENSIONS = 1024;
const MAX_TRAILERS = 16_384;

/** tchar (RFC 9110 §5.6.2), indexed by byte. */

/**
 * Fields a trailer may not carry (RFC 9110 §6.5.1): framing, routing, connection control, what
 * decides how the content is read, and the forwarding and fulcrum fields a backend that merges
 * trailers into headers would trust. A trailer section naming one is refused.
 */
const FORBIDDEN_TRAILERS = new Set([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'x-fulcrum-explain',
  'x-fulcrum-audit',
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'content-type',
  'content-encoding',
  'content-range',
  'authorization',
  'cookie',
  'set-cookie',
]);

/** `ChunkedScanner.feed` results besides an end index. */
export const NEED_MORE = -1;
export const MALFORMED = -2;

/**
 * Follows a chunked body byte by byte across reads, to find where it ends and (with a sink) to
 * hand out its payload. Strict where parsers disagree: no leading zeros in a size, nothing but
 * `;` extensions after it (no whitespace), extensions as `name[=token|quoted-string]` within
 * 1 KiB, and every trailer line a valid field that is not a framing or routing one. The
 * trailers it read are in `trailers` once the body ended; fulcrum re-encodes what it forwards
 * (`encodeChunk`, `encodeLastChunk`), so no received framing byte ever reaches a peer.
 */
export class ChunkedScanner {
  #state = SIZE;
  #size = 0;
  #digits = 0;
  #ext = 0;
  #trailerBytes = 0;
  #line = '';
  /** Payload bytes seen so far. */
  payload = 0;
  /** Payload bytes announced by the size lines read so far. */
  declared = 0;
  /** Size lines read in full. */
  sizeLines = 0;
  /** The trailer fields, [name, value, ...], once read (undefined when there were none). */
  trailers: string[] | undefined;

  /**
   * Consume buf[start, end). Returns the index just past the end of the body when it ends in
   * this range, NEED_MORE when every byte was consumed without reaching the end, or MALFORMED.
   */
  feed(buf: Buffer, start: number, end: number, sink?: ChunkSink): number {
    let i = start;
    while (i < end) {
      const state = this.#state;
      if (state === DATA) {
        const n = Math.min(this.#size, end - i);
        sink?.onChunkData(buf, i, i + n);
        this.#size -= n;
        this.payload += n;
        i += n;
        if (this.#size === 0) this.#state = DATA_CR;
        continue;
      }
      const c = buf[i++] as number;
      switch (state) {
        case SIZE: {
          const d = hexValue(c);
          if (d >= 0) {
            // A leading zero: `0` alone is the last chunk, `05` is refused.
            if (this.#digits === 1 && this.#size === 0) return MALFORMED;
            if (++this.#digits > 12) return MALFORMED;
            this.#size = this.#size * 16 + d;
          } else if (this.#digits === 0) {
            return MALFORMED;
          } else if (c === 59 /* ; */) {
            this.#state = EXT_NAME_START;
            this.#ext = 0;
          } else if (c === 13) {
            this.#state = SIZE_LF;
          } else {
            return MALFORMED;
          }
          break;
        }
        case EXT_NAME_START:
          if (TCHAR[c] !== 1 || ++this.#ext > MAX_EXTENSIONS) return MALFORMED;
          this.#state = EXT_NAME;
          break;
        case EXT_NAME:
        case EXT_TOKEN:
          if (++this.#ext > MAX_EXTENSIONS) return MALFORMED;
          if (TCHAR[c] === 1) break;
          if (c === 59) this.#state = EXT_NAME_START;
          else if (c === 61 /* = */ && state === EXT_NAME) this.#state = EXT_VALUE_START;
          else if (c === 13) this.#state = SIZE_LF;
          else return MALFORMED;
          break;
        case EXT_VALUE_START:
          if (++this.#ext > MAX_EXTENSIONS) return MALFORMED;
          if (c === 34 /* " */) this.#state = EXT_QUOTED;
          else if (TCHAR[c] === 1) this.#state = EXT_TOKEN;
          else return MALFORMED;
          break;
        case EXT_QUOTED:
          if (++this.#ext > MAX_EXTENSIONS) return MALFORMED;
          if (c === 34) this.#state = EXT_AFTER_QUOTE;
          else if (c === 92 /* \ */) this.#state = EXT_QUOTED_PAIR;
          else if (!isFieldChar(c)) return MALFORMED;
          break;
        case EXT_QUOTED_PAIR:
          if (++this.#ext > MAX_EXTENSIONS || !isFieldChar(c)) return MALFORMED;
          this.#state = EXT_QUOTED;
          break;
        case EXT_AFTER_QUOTE:
          if (c === 59) this.#state = EXT_NAME_START;
          else if (c === 13) this.#state = SIZE_LF;
          else return MALFORMED;
          break;
        case SIZE_LF:
          if (c !== 10) return MALFORMED;
          this.#digits = 0;
          this.sizeLines++;
          this.declared += this.#size;
          if (this.#size === 0) this.#state = TRAILER_START;
          else this.#state = DATA;
          break;
        case DATA_CR:
          if (c !== 13) return MALFORMED;
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          if (c !== 10) return MALFORMED;
          this.#state = SIZE;
          break;
        case TRAILER_START:
          if (c === 13) {
            this.#state = END_LF;
            break;
          }
          this.#state = TRAILER;
          this.#line = '';
          if (!this.#trailerByte(c)) return MALFORMED;
          break;
        case TRAILER:
          if (!this.#trailerByte(c)) return MALFORMED;
          break;
        case TRAILER_LF:
          if (c !== 10 || !this.#trailerLine(this.#line)) return MALFORMED;
          this.#state = TRAILER_START;
          break;
        case END_LF:
          if (c !== 10) return MALFORMED;
          this.#state = SIZE;
          this.#size = 0;
          this.#trailerBytes = 0;
          return i;
      }
    }
    return NEED_MORE;
  }

  /** A byte of a trailer line (CR ends it); false when it cannot be one. */
  #trailerByte(c: number): boolean {
    if (c === 13) this.#state = TRAILER_LF;
    else if (c === 10 || ++this.#trailerBytes > MAX_TRAILERS) return false;
    // Trailers are rare: a string per line is cheap enough here.
    else this.#line += String.fromCharCode(c);
    return true;
  }

  /** One trailer line as a header field; false when it is not one or may not be a trailer. */
  #trailerLine(line: string): boolean {
    const colon = line.indexOf(':');
    if (colon <= 0) return false;
    const name = line.slice(0, colon);
    if (!isToken(line, 0, colon)) return false;
    const lower = name.toLowerCase();
    const dashed = lower.replaceAll('_', '-');
    if (FORBIDDEN_TRAILERS.has(dashed) || dashed.startsWith('proxy-')) return false;
    const value = trimOws(line.slice(colon + 1));
    if (badValue(value, 0, value.length)) return false;
    (this.trailers ??= []).push(name, value);
    return true;
  }
}

/** HTAB, SP, visible ASCII and obs-text: what a quoted string or field value may hold. */
function isFieldChar(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * One chunk of canonical framing around buf[start, end) (lower-case hex, no extension), in a
 * new buffer or at the start of `into` (which must hold the payload plus 16 bytes).
 */
export function encodeChunk(buf: Buffer, start: number, end: number, into?: Buffer): Buffer {
  const n = end - start;
  const size = n.toString(16);
  const total = size.length + n + 4;
  const out = into === undefined ? Buffer.allocUnsafe(total) : into;
  let at = out.write(size, 0, 'latin1');
  out[at++] = 13;
  out[at++] = 10;
  at += buf.copy(out, at, start, end);
  CRLF.copy(out, at);
  return into === undefined ? out : out.subarray(0, total);
}

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** `0 CRLF`, the trailer fields (when given), `CRLF`. */
export function encodeLastChunk(trailers: readonly string[] | undefined): Buffer {
  if (trailers === undefined || trailers.length === 0) return LAST_CHUNK;
  let text = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) text += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}
