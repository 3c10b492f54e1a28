// The consistent-hash key of a request, from the pool's `hash.key` spec:
// source-ip | path | header:NAME | cookie:NAME. Computed only for consistent-hash pools.
import type { IncomingMessage } from 'node:http';

export function hashKeyOf(spec: string, req: IncomingMessage): string | undefined {
  if (spec === 'source-ip') return req.socket.remoteAddress;
  if (spec === 'path') {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }
  if (spec.startsWith('header:')) {
    const v = req.headers[spec.slice(7).toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }
  if (spec.startsWith('cookie:')) return cookieValue(req.headers.cookie, spec.slice(7));
  return undefined;
}

export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
