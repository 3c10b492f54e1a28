import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isFulcrumError } from '../core/errors.ts';
import { checkMutation, hostAllowed, parseHostHeader, type GuardPolicy } from './browser-guard.ts';

const policy = (extra: Partial<GuardPolicy> = {}): GuardPolicy => ({
  address: '127.0.0.1:9901',
  allowedHosts: [],
  allowedOrigins: [],
  ...extra,
});

function request(headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

function refusal(headers: Record<string, string>, p = policy()): string | undefined {
  try {
    checkMutation(request(headers), p);
    return undefined;
  } catch (e) {
    return isFulcrumError(e) ? e.code : String(e);
  }
}

describe('parseHostHeader', () => {
  it('splits names, IPv6 literals and ports; refuses junk', () => {
    expect(parseHostHeader('Example.COM.:8080')).toEqual({ name: 'example.com', port: 8080 });
    expect(parseHostHeader('[::1]:9901')).toEqual({ name: '::1', port: 9901 });
    expect(parseHostHeader('localhost')).toEqual({ name: 'localhost', port: undefined });
    for (const bad of ['', 'a b', 'user@host', 'h:99999', '[::1', 'h/x'])
      expect(parseHostHeader(bad)).toBeUndefined();
  });
});

describe('hostAllowed', () => {
  it('takes IPs, loopback names and the admin.address host; refuses other names', () => {
    for (const h of [
      '127.0.0.1:9901',
      '[::1]:1',
      '192.0.2.7',
      'localhost:9901',
      'x.localhost',
      '127.0.0.1:19901',
    ])
      expect(hostAllowed(h, policy()), h).toBe(true);
    expect(hostAllowed('fulcrum.internal:9901', policy({ address: 'fulcrum.internal:9901' }))).toBe(true);
    for (const h of ['evil.example:9901', 'localhost.evil.example', '127.0.0.1.nip.io:9901', undefined])
      expect(hostAllowed(h, policy()), String(h)).toBe(false);
  });

  it('takes admin.allowedHosts entries, with or without a port', () => {
    const p = policy({ allowedHosts: ['ops.example', 'tunnel.example:8443'] });
    expect(hostAllowed('ops.example:1234', p)).toBe(true);
    expect(hostAllowed('tunnel.example:8443', p)).toBe(true);
    expect(hostAllowed('tunnel.example:8444', p)).toBe(false);
    expect(hostAllowed('tunnel.example', p)).toBe(false);
  });
});

describe('checkMutation', () => {
  const host = '127.0.0.1:9901';
  it('needs a JSON or YAML type, or X-Fulcrum-Request', () => {
    expect(refusal({ host, 'content-type': 'application/json; charset=utf-8' })).toBeUndefined();
    expect(refusal({ host, 'content-type': 'Application/YAML' })).toBeUndefined();
    expect(refusal({ host, 'content-type': 'text/plain', 'x-fulcrum-request': '1' })).toBeUndefined();
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])
      expect(refusal({ host, 'content-type': type }), type).toBe('FULCRUM_ERR_ADMIN_CONTENT_TYPE');
    expect(refusal({ host })).toBe('FULCRUM_ERR_ADMIN_CONTENT_TYPE');
  });

  it('takes its own origin and listed ones; refuses others and null', () => {
    const json = { host, 'content-type': 'application/json' };
    expect(refusal({ ...json, origin: 'http://127.0.0.1:9901' })).toBeUndefined();
    expect(
      refusal(
        { ...json, origin: 'https://ops.example' },
        policy({ allowedOrigins: ['https://ops.example/'] }),
      ),
    ).toBeUndefined();
    for (const origin of [
      'http://evil.example',
      'http://127.0.0.1:9902',
      'null',
      'file://',
      'https://ops.example',
    ])
      expect(refusal({ ...json, origin }), origin).toBe('FULCRUM_ERR_ADMIN_ORIGIN');
  });
});
