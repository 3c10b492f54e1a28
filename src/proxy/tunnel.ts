// Upgrade requests (WebSocket): the handshake is forwarded on a fresh connection (upgraded
// sockets never go back to a pool), then bytes are piped both ways until either side closes.
// The backend counts the request as finished once the handshake is answered, so in-flight
// figures stay about requests, not long-lived tunnels.
import http from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EventHub } from '../core/events.ts';
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import type { DataPlaneHost, OutcomeKind } from '../data-plane/host-state.ts';
import type { DataPlaneSnapshot } from '../data-plane/snapshot.ts';
import { rawErrorResponse } from './answers.ts';
import { requestHashKey, routeToPool } from './front.ts';
import { forwardRequestHeaders, forwardResponseHeaders, type RequestFacts } from './headers.ts';
import type { RequestHead } from './http1.ts';
import type { Router } from '../data-plane/router.ts';

export interface TunnelContext {
  hub: EventHub;
  listener: string;
  proto: 'http' | 'https';
  snapshot: DataPlaneSnapshot;
  router: Router;
  /** Open tunnels (client sockets), destroyed at shutdown. */
  tunnels: Set<Socket>;
  requestId: string;
  logger: Logger;
}

function head(status: number, message: string | undefined, raw: readonly string[], extra: string[]): string {
  const h = forwardResponseHeaders(raw, extra);
  let text = `HTTP/1.1 ${status} ${message ?? http.STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
  return `${text}\r\n`;
}

export function tunnel(
  ctx: TunnelContext,
  req: RequestHead,
  clientIp: string,
  socket: Socket,
  bodyHead: Buffer,
): void {
  const started = performance.now();
  const facts: RequestFacts = {
    hostHeader: undefined,
    clientRequestId: undefined,
    explainHeader: undefined,
    auditHeader: undefined,
  };
  const headers = forwardRequestHeaders(req, facts, {
    clientIp,
    proto: ctx.proto,
    upgrade: true,
  });
  const requestId =
    facts.clientRequestId !== undefined && facts.clientRequestId !== ''
      ? facts.clientRequestId
      : ctx.requestId;
  headers.push('x-request-id', requestId);
  let poolName = '';
  let hashKey: string | undefined = undefined;
  // The try, filled once a backend is picked (read by the shared callbacks below).
  const picked: { host: DataPlaneHost | undefined; open: boolean } = { host: undefined, open: false };
  let reported = false;

  const report = (status: number, error: ErrorCode | undefined): void => {
    if (reported) return;
    reported = true;
    ctx.hub.requests.emit({
      listener: ctx.listener,
      pool: poolName,
      backend: picked.host?.name,
      status,
      durationMs: performance.now() - started,
      error,
      retries: 0,
      requestId,
      method: req.method,
      hashKey,
      noBackend: error === 'FULCRUM_ERR_PROXY_NO_BACKEND',
    });
  };
  const finishTry = (kind: OutcomeKind): void => {
    if (!picked.open || picked.host === undefined) return;
    picked.open = false;
    picked.host.requestFinished(kind, performance.now() - started);
  };
  const fail = (code: ErrorCode): void => {
    finishTry(code === 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT' ? 'connect-failure' : 'local-failure');
    report(ERRORS[code].status, code);
    if (socket.writable) socket.end(rawErrorResponse(code, requestId));
    else socket.destroy();
  };

  socket.on('error', () => socket.destroy());
  const pool = routeToPool(ctx.snapshot, ctx.router, req.host, req.url, req.rawHeaders);
  if (typeof pool === 'string') return fail(pool);
  poolName = pool.name;
  hashKey = requestHashKey(pool, req.url, clientIp, req.rawHeaders);
  const host = pool.state.pick(hashKey);
  if (host === undefined) return fail('FULCRUM_ERR_PROXY_NO_BACKEND');
  if (facts.hostHeader === undefined) headers.push('host', host.address);
  host.requestStarted();
  picked.host = host;
  picked.open = true;

  const upReq = http.request({
    host: host.hostname,
    port: host.port,
    method: req.method,
    path: req.url,
    agent: false,
    setHost: false,
    headers,
  });
  const timeouts = pool.config.timeouts;
  const timer = setTimeout(() => {
    upReq.destroy();
    fail('FULCRUM_ERR_PROXY_UPSTREAM_TIMEOUT');
  }, timeouts.connect + timeouts.response);
  socket.once('close', () => {
    clearTimeout(timer);
    upReq.destroy();
    finishTry('success');
    report(499, undefined);
  });

  upReq.on('error', (err: Error & { code?: string }) => {
    clearTimeout(timer);
    fail(
      err.code === 'ECONNREFUSED' ? 'FULCRUM_ERR_PROXY_UPSTREAM_CONNECT' : 'FULCRUM_ERR_PROXY_UPSTREAM_RESET',
    );
  });

  // The backend declined the upgrade: relay its answer and close (the body is close-delimited).
  upReq.on('response', (res: http.IncomingMessage) => {
    clearTimeout(timer);
    const status = res.statusCode ?? 502;
    finishTry(status >= 500 ? 'http-5xx' : 'success');
    report(status, undefined);
    socket.write(
      head(status, res.statusMessage, res.rawHeaders, ['x-request-id', requestId, 'connection', 'close']),
    );
    res.pipe(socket);
    res.on('error', () => socket.destroy());
  });

  upReq.on('upgrade', (res: http.IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    clearTimeout(timer);
    // A switch to a protocol the client did not offer (h2c for a websocket request) is no tunnel.
    const chosen = res.headers.upgrade;
    if (chosen === undefined || !offered(req.upgrade ?? '', chosen)) {
      upSocket.destroy();
      return fail('FULCRUM_ERR_PROXY_UPSTREAM_RESET');
    }
    finishTry('success');
    report(101, undefined);
    // forwardResponseHeaders drops Connection/Upgrade as hop-by-hop; a 101 needs them back.
    socket.write(
      head(101, res.statusMessage, res.rawHeaders, [
        'connection',
        'upgrade',
        'upgrade',
        chosen,
        'x-request-id',
        requestId,
      ]),
    );
    if (upHead.length > 0) socket.write(upHead);
    if (bodyHead.length > 0) upSocket.write(bodyHead);
    ctx.tunnels.add(socket);
    upSocket.on('error', () => socket.destroy());
    upSocket.on('close', () => socket.destroy());
    socket.on('close', () => {
      ctx.tunnels.delete(socket);
      upSocket.destroy();
    });
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });
  upReq.end();
}

/** The protocol a 101 switched to is one the request offered (`websocket/13` offers `websocket/13`). */
function offered(offer: string, chosen: string): boolean {
  const c = chosen.trim().toLowerCase();
  for (const part of offer.split(',')) if (part.trim().toLowerCase() === c) return true;
  return false;
}
