import type { RouteConfig } from '../../schema.ts';
import { defineRule } from '../types.ts';

/** True when every request `later` matches is already taken by `earlier` (routes are first-match). */
function covers(earlier: RouteConfig['match'], later: RouteConfig['match']): boolean {
  return (
    hostCovers(earlier.host, later.host) &&
    pathCovers(earlier.pathPrefix, later.pathPrefix) &&
    headersCover(earlier.headers, later.headers)
  );
}

function hostCovers(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined) return true;
  if (b === undefined) return false;
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  if (x === y) return true;
  // "*.example.com" takes "api.example.com" and "*.eu.example.com".
  return x.startsWith('*.') && y.endsWith(x.slice(1));
}

function pathCovers(a: string | undefined, b: string | undefined): boolean {
  return a === undefined || (b !== undefined && b.startsWith(a));
}

function headersCover(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  if (a === undefined) return true;
  const later = new Map(Object.entries(b ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return Object.entries(a).every(([k, v]) => later.get(k.toLowerCase()) === v);
}

function describe(route: RouteConfig, index: number): string {
  const m = route.match;
  const parts = [
    m.host === undefined ? undefined : `host ${m.host}`,
    m.pathPrefix === undefined ? undefined : `path ${m.pathPrefix}`,
    ...Object.entries(m.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ].filter((p) => p !== undefined);
  return `routes[${index}] (${parts.length === 0 ? 'catch-all' : parts.join(', ')} → pool ${route.pool})`;
}

export const shadowedRoute = defineRule({
  id: 'shadowed-route',
  severity: 'error',
  title: 'A route can never match because an earlier route takes all its requests',
  rationale:
    'Routes are first-match: a route after a catch-all, or after a broader host or path prefix, never sees a request, ' +
    'so the traffic meant for its pool silently goes to another pool.',
  remediation: 'Move the more specific route above the broader one (catch-all last), or delete it.',
  parameters: {},
  parameterDocs: {},
  check({ config }) {
    const hits = [];
    for (const [name, listener] of Object.entries(config.listeners)) {
      const routes = listener.routes;
      for (let j = 1; j < routes.length; j++) {
        const later = routes[j]!;
        const i = routes.slice(0, j).findIndex((earlier) => covers(earlier.match, later.match));
        if (i < 0) continue;
        hits.push({
          path: ['listeners', name, 'routes', j],
          message: `${describe(later, j)} can never match on listener ${name}: ${describe(routes[i]!, i)} takes every request it would`,
        });
      }
    }
    return hits;
  },
});
