// Small helpers for the admin server: JSON answers, the one error shape, bounded bodies.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FulcrumError, isFulcrumError } from '../core/errors.ts';

export const MAX_ADMIN_BODY = 4 * 1024 * 1024;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown): void {
  const fe = isFulcrumError(err)
    ? err
    : new FulcrumError('FULCRUM_ERR_CONFIG_APPLY', err instanceof Error ? err.message : String(err));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, fe.status, fe.toJSON());
}

/**
 * Read a request body up to MAX_ADMIN_BODY bytes. A larger body is drained and discarded
 * (so the client can read our 413 instead of a reset), unless it declares a size far beyond
 * the limit, in which case the connection is cut.
 */
export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): FulcrumError =>
      new FulcrumError(
        'FULCRUM_ERR_ADMIN_BODY_TOO_LARGE',
        `admin request body exceeds ${MAX_ADMIN_BODY} bytes`,
      );
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > 16 * MAX_ADMIN_BODY) {
      reject(tooLarge());
      req.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_ADMIN_BODY) chunks.push(c);
      else if (size > 16 * MAX_ADMIN_BODY) req.destroy();
    });
    req.on('end', () =>
      size > MAX_ADMIN_BODY ? reject(tooLarge()) : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

/** Parse a JSON body, or answer FULCRUM_ERR_ADMIN_BAD_REQUEST. Empty body → {}. */
export function parseJsonBody(text: string): Record<string, unknown> {
  if (text.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(text);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'body must be a JSON object');
}

/** Constant-time comparison of a presented bearer token. */
export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header);
  if (!m) return false;
  // Digests of equal length compared in constant time: neither the bytes nor the length of the
  // token can be learnt from how long a refusal takes.
  const a = createHash('sha256')
    .update(m[1] as string)
    .digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b);
}
