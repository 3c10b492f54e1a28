import { describe, expect, it } from 'vitest';
import { cookieValue, hashKeyOf } from './hash-key.ts';

describe('hashKeyOf', () => {
  const raw = ['X-User', 'alice', 'Cookie', 'theme=dark; sid=abc123', 'x-multi', 'one', 'X-Multi', 'two'];
  const key = (spec: string): string | undefined => hashKeyOf(spec, '/cart/42?x=1', '192.0.2.5', raw);

  it('source-ip is the client address', () => expect(key('source-ip')).toBe('192.0.2.5'));
  it('path is the URL path without the query', () => expect(key('path')).toBe('/cart/42'));
  it('header:NAME is the header value, case-insensitive name, first of several', () => {
    expect(key('header:x-user')).toBe('alice');
    expect(key('header:x-multi')).toBe('one');
    expect(key('header:x-none')).toBeUndefined();
  });
  it('cookie:NAME is the cookie value', () => {
    expect(key('cookie:sid')).toBe('abc123');
    expect(key('cookie:none')).toBeUndefined();
  });
});

describe('cookieValue', () => {
  it('finds a cookie by exact name', () => {
    expect(cookieValue('a=1; session=xyz; sess=no', 'session')).toBe('xyz');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
