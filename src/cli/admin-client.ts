// The CLI's live verbs talk to a running balancer through its admin API, like `caddy reload`.
import { ERRORS, FulcrumError, type ErrorCode } from '../core/errors.ts';

/** Where the live verbs look without --admin: the default `admin.address` of the config. */
export const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

export interface AdminTarget {
  admin: string;
  token?: string | undefined;
}

export interface AdminCall {
  method?: string;
  body?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** Call the admin API; resolves with the JSON body of a 2xx answer, throws FulcrumError otherwise. */
export async function adminCall<T = unknown>(
  target: AdminTarget,
  path: string,
  call: AdminCall = {},
): Promise<T> {
  const url = new URL(path, adminBase(target.admin));
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  if (target.token) headers['authorization'] = `Bearer ${target.token}`;
  // The admin refuses mutating calls a browser page could forge; this header says we are not one.
  if ((call.method ?? 'GET') !== 'GET') headers['x-fulcrum-request'] = '1';
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: call.method ?? 'GET',
      headers,
      ...(call.body === undefined ? {} : { body: call.body }),
      signal: AbortSignal.timeout(call.timeoutMs ?? 30_000),
    });
    text = await res.text();
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new FulcrumError(
      'FULCRUM_ERR_ADMIN_UNREACHABLE',
      `cannot reach the admin API at ${target.admin} (${cause})`,
    );
  }
  // The admin API answers JSON, errors as {"error": {"code": "FULCRUM_ERR_…"}}; anything else
  // is another server (or a fulcrum listener) at that address.
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const isJson = (res.headers.get('content-type') ?? '').startsWith('application/json');
  const e = (
    body as { error?: { code?: unknown; message?: string; details?: Record<string, unknown> } } | undefined
  )?.error;
  const code =
    typeof e?.code === 'string' && Object.hasOwn(ERRORS, e.code) ? (e.code as ErrorCode) : undefined;
  if (!isJson || body === undefined || (!res.ok && code === undefined)) {
    throw new FulcrumError(
      'FULCRUM_ERR_ADMIN_NOT_FULCRUM',
      `${target.admin} is not a fulcrum admin API: ${url.pathname} answered HTTP ${res.status} ${res.headers.get('content-type') ?? 'without a content type'} (is --admin the balancer's admin.address?)`,
      { status: res.status },
    );
  }
  if (!res.ok) {
    throw new FulcrumError(code as ErrorCode, e?.message ?? `admin answered HTTP ${res.status}`, e?.details);
  }
  return body as T;
}

/** The --admin URL as a base for API paths; anything but an http(s) URL is a usage error. */
export function adminBase(admin: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(admin.endsWith('/') ? admin : `${admin}/`);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new FulcrumError(
      'FULCRUM_ERR_CLI_USAGE',
      `--admin must be an http:// or https:// URL like ${DEFAULT_ADMIN} (got "${admin}")`,
    );
  }
  return url;
}
