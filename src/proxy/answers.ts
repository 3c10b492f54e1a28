// The short answers fulcrum gives on a backend's behalf: status from the error table, a
// one-line text/plain body naming the code, and `x-fulcrum-error: <code>`. Bodies are built
// once per code.
import { STATUS_CODES } from 'node:http';
import { ERRORS, type ErrorCode } from '../core/errors.ts';

const bodies = new Map<ErrorCode, Buffer>();

export function errorBody(code: ErrorCode): Buffer {
  let b = bodies.get(code);
  if (b === undefined) {
    b = Buffer.from(`${ERRORS[code].status} ${code}: ${ERRORS[code].doc}\n`);
    bodies.set(code, b);
  }
  return b;
}

/** A complete HTTP/1.1 response for a bare socket (client errors, failed upgrades). */
export function rawErrorResponse(code: ErrorCode, requestId?: string): string {
  const status = ERRORS[code].status;
  const body = errorBody(code);
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n` +
    'content-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${body.length}\r\n` +
    `x-fulcrum-error: ${code}\r\n` +
    (requestId === undefined ? '' : `x-request-id: ${requestId}\r\n`) +
    'connection: close\r\n\r\n' +
    body.toString()
  );
}
