// One active health check against one backend: an HTTP request (status ranges, optional body
// substring) or a bare TCP connect, each under a hard timeout that covers connect, headers
// and body. A probe never rejects: every failure is a result with a detail. It lives with the
// proxy (it speaks node:http); the composition root hands it to the health manager.
import http from 'node:http';
import net from 'node:net';
import type { Probe, ProbeOptions, ProbeResult, ProbeTarget } from '../data-plane/pool-health-options.ts';

/** Body bytes read when matching `expectBody`; a health page bigger than this fails. */
const MAX_BODY = 64 * 1024;

function statusMatches(status: number, ranges: ProbeOptions['expectStatus']): boolean {
  for (const [lo, hi] of ranges) if (status >= lo && status <= hi) return true;
  return false;
}

export const probe: Probe = (target, options) =>
  options.type === 'tcp' ? tcpProbe(target, options) : httpProbe(target, options);

export function tcpProbe(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const socket = net.connect({ host: target.hostname, port: target.port });
    const done = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, detail, lameDuck: false });
    };
    const timer = setTimeout(() => done(false, `timeout after ${options.timeout}ms`), options.timeout);
    socket.once('connect', () => done(true, 'connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  });
}

export function httpProbe(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let settled = false;
    let lameDuck = false;
    const done = (ok: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, detail, lameDuck });
    };
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        method: options.method,
        path: options.path,
        // A fresh connection per check: a pooled socket would hide a backend that stopped accepting.
        agent: false,
        headers: { host: target.address, 'user-agent': 'fulcrum-health-check', ...options.headers },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        lameDuck = options.lameDuckHeader !== undefined && res.headers[options.lameDuckHeader] !== undefined;
        if (!statusMatches(status, options.expectStatus)) {
          done(false, `status ${status}`);
          return;
        }
        const want = options.expectBody;
        if (want === undefined) {
          res.resume();
          res.once('end', () => done(true, `status ${status}`));
          res.once('error', (err) => done(false, `body: ${err.message}`));
          return;
        }
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          if (body.includes(want)) done(true, `status ${status}, body matched`);
          else if (body.length > MAX_BODY) done(false, `body over ${MAX_BODY} bytes without "${want}"`);
        });
        res.once('end', () =>
          done(
            body.includes(want),
            `status ${status}, body ${body.includes(want) ? 'matched' : `lacks "${want}"`}`,
          ),
        );
        res.once('error', (err) => done(false, `body: ${err.message}`));
      },
    );
    const timer = setTimeout(() => done(false, `timeout after ${options.timeout}ms`), options.timeout);
    req.once('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
    req.end();
  });
}
