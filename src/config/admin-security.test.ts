import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { assertAdminSecure } from './admin-security.ts';
import { loadOrThrow } from '../testing/config-kit.ts';

const config = (admin: string) =>
  loadOrThrow(`version: 1
listeners:
  web: { address: 127.0.0.1:8080, routes: [{ pool: app }] }
pools:
  app:
    backends:
      - { name: a, address: 127.0.0.1:9001 }
      - { name: b, address: 127.0.0.1:9002 }
admin: ${admin}
`).config;

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isFulcrumError(e) ? e.code : String(e);
  }
}

describe('assertAdminSecure', () => {
  it('accepts loopback without a token and any address with one', () => {
    expect(codeOf(() => assertAdminSecure(config('{ address: 127.0.0.1:9901 }')))).toBeUndefined();
    expect(codeOf(() => assertAdminSecure(config('{ address: "[::1]:9901" }')))).toBeUndefined();
    expect(codeOf(() => assertAdminSecure(config('{ address: 0.0.0.0:9901, token: t }')))).toBeUndefined();
    expect(
      codeOf(() => assertAdminSecure(config('{ address: 127.0.0.1:9901, token: t }'), '0.0.0.0:9901')),
    ).toBeUndefined();
  });

  it('refuses a non-loopback admin without a token, in the config or where it is bound', () => {
    expect(codeOf(() => assertAdminSecure(config('{ address: 0.0.0.0:9901 }')))).toBe(
      'FULCRUM_ERR_ADMIN_INSECURE',
    );
    expect(codeOf(() => assertAdminSecure(config('{ address: 10.1.2.3:9901 }'), '127.0.0.1:0'))).toBe(
      'FULCRUM_ERR_ADMIN_INSECURE',
    );
    expect(codeOf(() => assertAdminSecure(config('{ address: 127.0.0.1:9901 }'), '0.0.0.0:0'))).toBe(
      'FULCRUM_ERR_ADMIN_INSECURE',
    );
  });
});
