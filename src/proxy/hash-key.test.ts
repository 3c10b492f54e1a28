import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { cookieValue, hashKeyOf } from './hash-key.ts';

function req(url: string, headers: Record<string, string | string[]>, ip = '192.0.2.5'): IncomingMessage {
  return { url, headers, socket: { remoteAddress: ip } } as unknown as IncomingMessage;
}

describe('hashKeyOf', () => {
  const r = req('/cart/42?x=1', {
    'x-user': 'alice',
    cookie: 'theme=dark; sid=abc123',
    'x-multi': ['one', 'two'],
  });

  it('source-ip is the client address', () => expect(hashKeyOf('source-ip', r)).toBe('192.0.2.5'));
  it('path is the URL path without the query', () => expect(hashKeyOf('path', r)).toBe('/cart/42'));
  it('header:NAME is the header value, case-insensitive name, first of a list', () => {
    expect(hashKeyOf('header:X-User', r)).toBe('alice');
    expect(hashKeyOf('header:x-multi', r)).toBe('one');
    expect(hashKeyOf('header:x-none', r)).toBeUndefined();
  });
  it('cookie:NAME is the cookie value', () => {
    expect(hashKeyOf('cookie:sid', r)).toBe('abc123');
    expect(hashKeyOf('cookie:none', r)).toBeUndefined();
  });
});

describe('cookieValue', () => {
  it('finds a cookie by exact name', () => {
    expect(cookieValue('a=1; session=xyz; sess=no', 'session')).toBe('xyz');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
