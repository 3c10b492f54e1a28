// Header rewriting between client and backend, on flat raw header lists
// ([name, value, name, value, ...]) so each message's headers are walked once and built once.
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHead } from './http1.ts';

// Hop-by-hop headers (RFC 9110 §7.6.1) plus the proxy's own control headers, which carry
// secrets and must never reach a backend. `proxy-*` is matched by prefix.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'x-fulcrum-explain',
  'x-fulcrum-audit',
]);

/**
 * End-to-end fields a Connection option may never remove: `Connection: content-length` would
 * otherwise strip the framing of a body that still goes out (request smuggling). nginx ignores
 * Connection options altogether; fulcrum honours them for other names and ignores these.
 */
const NEVER_LISTED = new Set(['content-length', 'transfer-encoding', 'host']);

/**
 * Names with `_` that read as a framing, routing, hop-by-hop or fulcrum header once `_` is
 * taken for `-` (as CGI-style servers do): `Transfer_Encoding: chunked` is dropped, not
 * forwarded beside the real framing.
 */
const UNDERSCORE_ALIASES = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-request-id',
  'x-fulcrum-explain',
  'x-fulcrum-audit',
]);

/** A name with `_` that must not pass (checked only for names that contain `_`). */
function underscoreAlias(lower: string): boolean {
  const dashed = lower.replaceAll('_', '-');
  return UNDERSCORE_ALIASES.has(dashed) || dashed.startsWith('proxy-');
}

/** Names listed in a Connection header beyond the usual tokens (rare: parsed only when present). */
function connectionListed(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  let extra: Set<string> | undefined;
  for (const part of connection.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '' || t === 'keep-alive' || t === 'close' || t === 'upgrade' || NEVER_LISTED.has(t)) continue;
    (extra ??= new Set()).add(t);
  }
  return extra;
}

/** The few request headers the proxy decides on, captured while the list is rewritten. */
export interface RequestFacts {
  hostHeader: string | undefined;
  /** The client's x-request-id (first one). */
  clientRequestId: string | undefined;
  explainHeader: string | undefined;
  auditHeader: string | undefined;
  /** For the access log (optional: the tunnel does not log it). */
  userAgent?: string | undefined;
}

export interface ForwardInfo {
  /** Client address for X-Forwarded-For. */
  clientIp: string;
  proto: 'http' | 'https';
  /** Keep `Connection: upgrade` and `Upgrade` (WebSocket handshake). */
  upgrade: boolean;
}

/**
 * The header list sent to the backend, in one pass over the client's raw list (the proxy never
 * builds node's `req.headers` object on its common path): hop-by-hop headers removed,
 * X-Forwarded-For appended, X-Forwarded-Proto and X-Forwarded-Host set, Host kept (with the
 * authority of an absolute-form target as its value). The framing fields are fulcrum's, from
 * the parsed head: one Content-Length or `transfer-encoding: chunked`, whatever was received.
 * The client's x-request-id, explain and audit headers are captured into `facts`, not copied:
 * the caller appends `x-request-id` (and `host` for an HTTP/1.0 client that sent none).
 */
export function forwardRequestHeaders(head: RequestHead, facts: RequestFacts, info: ForwardInfo): string[] {
  const raw = head.rawHeaders;
  const out: string[] = [];
  let xff: string | undefined;
  let connection: string | undefined;
  let sawHost = false;
  facts.hostHeader = head.host;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        sawHost = true;
        out.push(name, head.host as string);
        continue;
      case 'user-agent':
        facts.userAgent = value;
        break;
      case 'content-length':
      case 'transfer-encoding':
        continue;
      case 'connection':
        connection = value;
        continue;
      case 'x-request-id':
        facts.clientRequestId ??= value;
        continue;
      case 'x-fulcrum-explain':
        facts.explainHeader = value;
        continue;
      case 'x-fulcrum-audit':
        facts.auditHeader = value;
        continue;
      case 'x-forwarded-for':
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      // Expect: node already answered `100 Continue` to the client; the backend gets the body at once.
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'expect':
        continue;
      case 'upgrade':
        if (info.upgrade) out.push(name, value);
        continue;
      default:
        if (HOP_BY_HOP.has(lower) || lower.startsWith('proxy-')) continue;
        if (lower.includes('_') && underscoreAlias(lower)) continue;
    }
    out.push(name, value);
  }
  // An HTTP/1.0 absolute-form request without Host still names its authority.
  if (!sawHost && head.host !== undefined) out.push('host', head.host);
  const listed = connectionListed(connection);
  const kept = listed === undefined ? out : dropListed(out, listed);
  kept.push(
    'x-forwarded-for',
    xff === undefined ? info.clientIp : `${xff}, ${info.clientIp}`,
    'x-forwarded-proto',
    info.proto,
  );
  if (facts.hostHeader !== undefined) kept.push('x-forwarded-host', facts.hostHeader);
  if (info.upgrade) {
    kept.push('connection', 'upgrade');
    return kept;
  }
  // Explicit for HTTP/1.0 backends; the connection is the proxy's, not the client's.
  kept.push('connection', 'keep-alive');
  // The body is re-encoded in canonical chunks (client-connection.ts).
  if (head.chunked) kept.push('transfer-encoding', 'chunked');
  else if (head.contentLengthText !== undefined) kept.push('content-length', head.contentLengthText);
  return kept;
}

/** Remove the headers a Connection header named (rare, so done as a second pass). */
function dropListed(list: string[], listed: Set<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    if (!listed.has((list[i] as string).toLowerCase())) out.push(list[i] as string, list[i + 1] as string);
  }
  return out;
}

/**
 * The header list sent to the client: hop-by-hop headers removed, the backend's own
 * x-request-id dropped, `extra` pairs appended (they carry ours). Content-Length is fulcrum's:
 * `contentLength` (the parsed one, canonical) is emitted once when given; Transfer-Encoding and
 * Connection are added by the client connection from the framing it writes.
 */
export function forwardResponseHeaders(
  raw: readonly string[],
  extra: readonly string[],
  contentLength?: string,
): string[] {
  let connection: string | undefined;
  let out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (lower === 'connection') connection = raw[i + 1];
    if (HOP_BY_HOP.has(lower) || lower === 'x-request-id' || lower === 'content-length') continue;
    if (lower.startsWith('proxy-') || (lower.includes('_') && underscoreAlias(lower))) continue;
    out.push(name, raw[i + 1] as string);
  }
  const listed = connectionListed(connection);
  if (listed !== undefined) out = dropListed(out, listed);
  if (contentLength !== undefined) out.push('content-length', contentLength);
  for (let i = 0; i < extra.length; i++) out.push(extra[i] as string);
  return out;
}

/**
 * node's `req.headers` shape from a raw list (lower-case names, repeats joined), built only
 * where a caller needs lookups by name: header routes, the upgrade path.
 */
export function headersObject(raw: readonly string[]): IncomingHttpHeaders {
  const out: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const seen = out[name];
    out[name] = seen === undefined ? value : `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}
