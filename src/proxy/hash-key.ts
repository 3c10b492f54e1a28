// The consistent-hash key of a request, from the pool's `hash.key` spec:
// source-ip | path | header:NAME | cookie:NAME. Computed only for consistent-hash pools.

export function hashKeyOf(
  spec: string,
  url: string,
  remoteAddress: string,
  rawHeaders: readonly string[],
): string | undefined {
  if (spec === 'source-ip') return remoteAddress;
  if (spec === 'path') {
    const q = url.indexOf('?');
    return q < 0 ? url : url.slice(0, q);
  }
  if (spec.startsWith('header:')) return headerValue(rawHeaders, spec.slice(7));
  if (spec.startsWith('cookie:')) return cookieValue(headerValue(rawHeaders, 'cookie'), spec.slice(7));
  return undefined;
}

/** The first value of a header, by case-insensitive name. */
function headerValue(raw: readonly string[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === lower.length && n.toLowerCase() === lower) return raw[i + 1];
  }
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
