// First-match routing on host, path prefix and exact header values.
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/schema.ts';

export interface Router {
  /** The first route matching the request, or undefined. */
  match(host: string | undefined, path: string, headers: IncomingHttpHeaders): RouteConfig | undefined;
}

export function compileRoutes(routes: readonly RouteConfig[]): Router {
  return {
    match(host, path, headers) {
      for (const r of routes) {
        const m = r.match;
        if (m.host !== undefined && stripPort(host) !== m.host) continue;
        if (m.pathPrefix !== undefined && !path.startsWith(m.pathPrefix)) continue;
        if (m.headers !== undefined) {
          let ok = true;
          for (const [k, v] of Object.entries(m.headers)) if (headers[k.toLowerCase()] !== v) ok = false;
          if (!ok) continue;
        }
        return r;
      }
      return undefined;
    },
  };
}

function stripPort(host: string | undefined): string | undefined {
  if (host === undefined) return undefined;
  const i = host.lastIndexOf(':');
  return i > 0 && !host.endsWith(']') ? host.slice(0, i) : host;
}
