// First-match routing on host (exact or "*.example.com", case-insensitive, port ignored),
// path prefix and exact header values. Routes are compiled once per snapshot.
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/schema.ts';

export interface Router {
  /** Some route matches on headers: callers must pass the real header object. */
  readonly usesHeaders: boolean;
  /** The first route matching the request, or undefined. */
  match(host: string | undefined, path: string, headers: IncomingHttpHeaders): RouteConfig | undefined;
}

interface CompiledRoute {
  route: RouteConfig;
  /** Exact host, lower case. */
  host: string | undefined;
  /** ".example.com" for "*.example.com". */
  hostSuffix: string | undefined;
  pathPrefix: string | undefined;
  /** [lower-case name, value, ...] */
  headers: string[] | undefined;
}

function compile(route: RouteConfig): CompiledRoute {
  const h = route.match.host?.toLowerCase();
  const wildcard = h !== undefined && h.startsWith('*.');
  const headers = route.match.headers
    ? Object.entries(route.match.headers).flatMap(([k, v]) => [k.toLowerCase(), v])
    : undefined;
  return {
    route,
    host: wildcard ? undefined : h,
    hostSuffix: wildcard ? h.slice(1) : undefined,
    pathPrefix: route.match.pathPrefix,
    headers,
  };
}

export function compileRoutes(routes: readonly RouteConfig[]): Router {
  const compiled = routes.map(compile);
  const needsHost = compiled.some((c) => c.host !== undefined || c.hostSuffix !== undefined);
  return {
    usesHeaders: compiled.some((c) => c.headers !== undefined),
    match(host, path, headers) {
      const name = needsHost ? hostName(host) : undefined;
      for (let i = 0; i < compiled.length; i++) {
        const c = compiled[i] as CompiledRoute;
        if (c.host !== undefined && name !== c.host) continue;
        if (c.hostSuffix !== undefined && (name === undefined || !name.endsWith(c.hostSuffix))) continue;
        if (c.pathPrefix !== undefined && !path.startsWith(c.pathPrefix)) continue;
        if (c.headers !== undefined && !headersMatch(c.headers, headers)) continue;
        return c.route;
      }
      return undefined;
    },
  };
}

function headersMatch(want: string[], headers: IncomingHttpHeaders): boolean {
  for (let j = 0; j < want.length; j += 2) {
    if (headers[want[j] as string] !== want[j + 1]) return false;
  }
  return true;
}

/** Host header without port, lower case. */
function hostName(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const i = host.lastIndexOf(':');
  const name = i > 0 && !host.endsWith(']') ? host.slice(0, i) : host;
  return name.toLowerCase();
}
