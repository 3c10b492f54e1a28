import { describe, expect, it } from 'vitest';
import type { RouteConfig } from '../config/schema.ts';
import { compileRoutes } from './router.ts';

const routes: RouteConfig[] = [
  { match: { headers: { 'X-Canary': '1' } }, pool: 'canary' },
  { match: { host: 'api.example.com', pathPrefix: '/v1' }, pool: 'api-v1' },
  { match: { host: 'api.example.com' }, pool: 'api' },
  { match: { host: '*.cdn.example.com' }, pool: 'cdn' },
  { match: { pathPrefix: '/static/' }, pool: 'static' },
  { match: {}, pool: 'app' },
];

describe('router', () => {
  const r = compileRoutes(routes);
  const pool = (host: string | undefined, path: string, headers: Record<string, string> = {}) =>
    r.match(host, path, headers)?.pool;

  it('first match wins', () => {
    expect(pool('api.example.com', '/v1/x')).toBe('api-v1');
    expect(pool('api.example.com', '/v2/x')).toBe('api');
    expect(pool('api.example.com', '/v1/x', { 'x-canary': '1' })).toBe('canary');
    expect(pool('other', '/static/a.css')).toBe('static');
    expect(pool(undefined, '/')).toBe('app');
  });

  it('matches hosts case-insensitively, ignoring the port, with "*." wildcards', () => {
    expect(pool('API.Example.COM:8443', '/v1')).toBe('api-v1');
    expect(pool('img.cdn.example.com', '/')).toBe('cdn');
    expect(pool('a.b.cdn.example.com:80', '/')).toBe('cdn');
    expect(pool('cdn.example.com', '/')).toBe('app');
    expect(pool('[::1]:8080', '/')).toBe('app');
  });

  it('header values must match exactly', () => {
    expect(pool('x', '/', { 'x-canary': '0' })).toBe('app');
  });

  it('no route when nothing matches', () => {
    expect(compileRoutes([{ match: { pathPrefix: '/a' }, pool: 'a' }]).match('h', '/b', {})).toBeUndefined();
  });
});
