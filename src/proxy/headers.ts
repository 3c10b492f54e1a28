// Header rewriting between client and backend, on flat raw header lists
// ([name, value, name, value, ...]) so each message's headers are walked once and built once.

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

/** Names listed in a Connection header beyond the usual tokens (rare: parsed only when present). */
function connectionListed(connection: string | undefined): Set<string> | undefined {
  if (connection === undefined) return undefined;
  let extra: Set<string> | undefined;
  for (const part of connection.split(',')) {
    const t = part.trim().toLowerCase();
    if (t === '' || t === 'keep-alive' || t === 'close' || t === 'upgrade') continue;
    (extra ??= new Set()).add(t);
  }
  return extra;
}

function dropped(lower: string, listed: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || (listed !== undefined && listed.has(lower));
}

export interface ForwardInfo {
  /** Client address for X-Forwarded-For. */
  clientIp: string;
  proto: 'http' | 'https';
  /** The request id (the client's, or a new one): replaces any x-request-id sent. */
  requestId: string;
  /** Keep `Connection: upgrade` and `Upgrade` (WebSocket handshake). */
  upgrade: boolean;
  /** The body is chunked on the client side: keep chunked framing towards the backend. */
  chunked: boolean;
  /** Used as Host when the client sent none (HTTP/1.0). */
  fallbackHost: string;
}

/**
 * The header list sent to the backend: hop-by-hop headers removed, X-Forwarded-For appended,
 * X-Forwarded-Proto and X-Forwarded-Host set, x-request-id set to `info.requestId`, Host kept.
 */
export function forwardRequestHeaders(
  raw: readonly string[],
  connection: string | undefined,
  info: ForwardInfo,
): string[] {
  const listed = connectionListed(connection);
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (dropped(lower, listed)) {
      if (info.upgrade && lower === 'upgrade') out.push(name, value);
      continue;
    }
    switch (lower) {
      case 'x-forwarded-for':
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      case 'x-forwarded-proto':
      case 'x-forwarded-host':
      case 'x-request-id':
        continue;
      case 'host':
        host = value;
        break;
    }
    out.push(name, value);
  }
  if (host === undefined) {
    host = info.fallbackHost;
    out.push('host', host);
  }
  out.push(
    'x-request-id',
    info.requestId,
    'x-forwarded-for',
    xff === undefined ? info.clientIp : `${xff}, ${info.clientIp}`,
    'x-forwarded-proto',
    info.proto,
    'x-forwarded-host',
    host,
  );
  if (info.upgrade) out.push('connection', 'upgrade');
  else if (info.chunked) out.push('transfer-encoding', 'chunked');
  return out;
}

/**
 * The header list sent to the client: hop-by-hop headers removed (node frames the body
 * itself), the backend's own x-request-id dropped, `extra` pairs appended (they carry ours).
 */
export function forwardResponseHeaders(raw: readonly string[], extra: readonly string[]): string[] {
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') {
      connection = raw[i + 1];
      break;
    }
  }
  const listed = connectionListed(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (dropped(lower, listed) || lower === 'x-request-id') continue;
    out.push(name, raw[i + 1] as string);
  }
  for (let i = 0; i < extra.length; i++) out.push(extra[i] as string);
  return out;
}
