// A small HTTP client for tests: one call, the whole answer (or the error) back.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export interface RequestOptions {
  port: number;
  path?: string;
  method?: string;
  headers?: http.OutgoingHttpHeaders;
  body?: Buffer | string | Readable;
  agent?: http.Agent | false;
  tls?: boolean;
  timeoutMs?: number;
  /** Count body bytes without keeping them (large downloads). */
  discardBody?: boolean;
}

export interface StreamedReply extends Reply {
  bytes: number;
}

export function httpRequest(o: RequestOptions): Promise<StreamedReply> {
  return new Promise((resolve, reject) => {
    const mod = o.tls ? https : http;
    const req = mod.request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path ?? '/',
        method: o.method ?? 'GET',
        headers: o.headers,
        agent: o.agent ?? false,
        ...(o.tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (!o.discardBody) chunks.push(c);
        });
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString(), bytes });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 10_000, () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    const body = o.body;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else body.pipe(req);
  });
}
