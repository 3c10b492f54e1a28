// The CLI's live verbs talk to a running balancer through its admin API, like `caddy reload`.
import { FulcrumError, type ErrorCode } from '../core/errors.ts';

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
  const url = new URL(path, target.admin.endsWith('/') ? target.admin : `${target.admin}/`);
  const headers: Record<string, string> = { accept: 'application/json', ...call.headers };
  if (target.token) headers['authorization'] = `Bearer ${target.token}`;
  // The admin refuses mutating calls a browser page could forge; this header says we are not one.
  if ((call.method ?? 'GET') !== 'GET') headers['x-fulcrum-request'] = '1';
  let res: Response;
  try {
    res = await fetch(url, {
      method: call.method ?? 'GET',
      headers,
      ...(call.body === undefined ? {} : { body: call.body }),
      signal: AbortSignal.timeout(call.timeoutMs ?? 30_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new FulcrumError(
      'FULCRUM_ERR_ADMIN_UNREACHABLE',
      `cannot reach the admin API at ${target.admin} (${cause})`,
    );
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = { raw: text };
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string; details?: Record<string, unknown> } })
      .error;
    throw new FulcrumError(
      (e?.code as ErrorCode | undefined) ?? 'FULCRUM_ERR_ADMIN_BAD_REQUEST',
      e?.message ?? `admin answered HTTP ${res.status}`,
      e?.details,
    );
  }
  return body as T;
}
