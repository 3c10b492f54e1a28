// The front every request handler shares: route a request to its pool and derive its hash key,
// so plain exchanges and upgrade tunnels pick the same way and report the same key (the
// monitor's hot-key tracking reads it from the outcome). The pick itself stays with the
// handler: an exchange picks again on retry, excluding what it tried.
import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../core/errors.ts';
import type { Router } from '../data-plane/router.ts';
import type { DataPlanePool, DataPlaneSnapshot } from '../data-plane/snapshot.ts';
import { hashKeyOf } from './hash-key.ts';
import { headersObject } from './headers.ts';

const NO_HEADERS: IncomingHttpHeaders = Object.freeze({});

/** The pool a request goes to, or the error that answers it. */
export function routeToPool(
  snapshot: DataPlaneSnapshot,
  router: Router,
  host: string | undefined,
  url: string,
  rawHeaders: readonly string[],
): DataPlanePool | ErrorCode {
  // Header matching needs the headers as an object; most routers never look, so skip building it.
  const route = router.match(host, url, router.usesHeaders ? headersObject(rawHeaders) : NO_HEADERS);
  if (route === undefined) return 'FULCRUM_ERR_PROXY_NO_ROUTE';
  return snapshot.pools.get(route.pool) ?? 'FULCRUM_ERR_PROXY_NO_BACKEND';
}

/** The request's hash key when its pool's policy is hash-keyed (the spec is precomputed per pool). */
export function requestHashKey(
  pool: DataPlanePool,
  url: string,
  clientIp: string,
  rawHeaders: readonly string[],
): string | undefined {
  return pool.hashKey === undefined ? undefined : hashKeyOf(pool.hashKey, url, clientIp, rawHeaders);
}
