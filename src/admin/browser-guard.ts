// What keeps a web page from driving the admin API through a browser (docs/security.md):
// - every /api/ call must name the admin in `Host` (an IP, a loopback name or the admin.address
//   host; or an admin.allowedHosts entry), which defeats DNS rebinding: a rebound page sends
//   its own host name. Any port: a name no attacker's DNS controls stays safe behind a relay,
//   an `ssh -L` tunnel or a container port mapping, which all change the port;
// - a mutating call must carry a content type or header that a cross-origin page cannot send
//   without a CORS preflight (which the admin never grants), and its `Origin`, when present,
//   must be the admin itself or an admin.allowedOrigins entry; one marked
//   `Sec-Fetch-Site: cross-site` needs a listed Origin.
// Both hold with or without a token.
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { FulcrumError } from '../core/errors.ts';
import { isLoopbackHost, parseAddress } from '../core/units.ts';

export interface GuardPolicy {
  /** admin.address of the running config (its host is an accepted name). */
  readonly address: string | undefined;
  readonly allowedHosts: readonly string[];
  readonly allowedOrigins: readonly string[];
}

/** Media types only a same-origin (or preflighted) request can carry; JSON is YAML too. */
const BODY_TYPES = new Set(['application/json', 'application/yaml', 'application/x-yaml']);
/** A custom header also forces a preflight, for calls whose body is not JSON or YAML. */
export const REQUEST_HEADER = 'x-fulcrum-request';

interface HostName {
  /** Lowercased, without brackets or a trailing dot. */
  readonly name: string;
  readonly port: number | undefined;
}

/** `name`, `name:port`, `[v6]`, `[v6]:port` → parts; undefined when malformed. */
export function parseHostHeader(value: string): HostName | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]/@]+))(?::(\d{1,5}))?$/.exec(value.trim());
  if (!m) return undefined;
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && port > 65535) return undefined;
  const name = (m[1] ?? (m[2] as string)).toLowerCase().replace(/\.$/, '');
  return { name, port };
}

function loopbackName(name: string): boolean {
  // Browsers resolve *.localhost to loopback themselves, so no DNS answer can rebind it.
  return isLoopbackHost(name) || name.endsWith('.localhost');
}

/** True when `host` (the Host header) names this admin. */
export function hostAllowed(host: string | undefined, p: GuardPolicy): boolean {
  if (host === undefined) return false;
  const h = parseHostHeader(host);
  if (!h) return false;
  for (const entry of p.allowedHosts) {
    const e = parseHostHeader(entry);
    if (e && e.name === h.name && (e.port === undefined || e.port === (h.port ?? 80))) return true;
  }
  // An IP literal cannot be rebound: a page at that address is the admin's own origin.
  if (isIP(h.name) !== 0 || loopbackName(h.name)) return true;
  const own = p.address === undefined ? undefined : parseAddress(p.address)?.host.toLowerCase();
  return own !== undefined && own === h.name;
}

/** Throw FULCRUM_ERR_ADMIN_HOST unless the call names the admin in Host. */
export function checkHost(req: IncomingMessage, p: GuardPolicy): void {
  // node keeps only the first of two Host fields; an absolute-form target's authority wins
  // over Host (RFC 9112 §3.2.2), so both must name the admin.
  const hosts = req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]?.toLowerCase() === 'host');
  const target = (req.url ?? '/').startsWith('/') ? undefined : authorityOf(req.url ?? '');
  const names = target === undefined ? [req.headers.host] : [req.headers.host, target];
  if (hosts.length <= 1 && names.every((h) => hostAllowed(h, p))) return;
  throw new FulcrumError(
    'FULCRUM_ERR_ADMIN_HOST',
    `Host "${names.filter((h) => !hostAllowed(h, p))[0] ?? req.headers.host ?? ''}" does not name this admin (or Host was sent twice); call it by IP, localhost or its admin.address, or add the name to admin.allowedHosts`,
  );
}

/** The host[:port] of an absolute-form target; '' (never allowed) when it has none or userinfo. */
function authorityOf(target: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target);
  return m?.[1] ?? '';
}

function originOf(text: string): string | undefined {
  try {
    const u = new URL(text);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Throw unless a mutating call could only come from the admin's own pages or a non-browser client. */
export function checkMutation(req: IncomingMessage, p: GuardPolicy): void {
  const origin = req.headers.origin;
  const o = origin === undefined ? undefined : originOf(origin);
  const listed = o !== undefined && p.allowedOrigins.some((a) => originOf(a) === o);
  if (origin !== undefined) {
    const same = o !== undefined && new URL(o).host === (req.headers.host ?? '').toLowerCase();
    if (!same && !listed) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_ORIGIN',
        `a page from origin ${origin} may not change this admin; add it to admin.allowedOrigins if it should`,
      );
    }
  }
  // Fetch Metadata: a browser marks a request from another site, whatever its type.
  if (req.headers['sec-fetch-site'] === 'cross-site' && !listed) {
    throw new FulcrumError(
      'FULCRUM_ERR_ADMIN_ORIGIN',
      'a cross-site page (Sec-Fetch-Site: cross-site) may not change this admin; add its origin to admin.allowedOrigins if it should',
    );
  }
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (BODY_TYPES.has(type) || req.headers[REQUEST_HEADER] !== undefined) return;
  throw new FulcrumError(
    'FULCRUM_ERR_ADMIN_CONTENT_TYPE',
    `mutating admin calls need Content-Type application/json or application/yaml, or the header X-Fulcrum-Request: 1 (got ${type === '' ? 'no content type' : type})`,
  );
}
