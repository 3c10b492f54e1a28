import { describe, expect, it } from 'vitest';
import { forwardRequestHeaders, forwardResponseHeaders } from './headers.ts';
import { cookieValue } from './hash-key.ts';

const info = {
  clientIp: '10.0.0.7',
  proto: 'https' as const,
  requestId: 'rid-1',
  upgrade: false,
  chunked: false,
  fallbackHost: '127.0.0.1:9001',
};

function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i] as string, list[i + 1] as string]);
  return out;
}

describe('forwardRequestHeaders', () => {
  it('drops hop-by-hop and Connection-listed headers, keeps the rest in order with their case', () => {
    const raw = [
      'Host',
      'a.example',
      'Connection',
      'close, X-Hop',
      'X-Hop',
      '1',
      'Proxy-Connection',
      'x',
      'TE',
      'trailers',
      'Accept',
      '*/*',
      'Set-Thing',
      'a',
      'Set-Thing',
      'b',
    ];
    const out = pairs(forwardRequestHeaders(raw, 'close, X-Hop', info));
    expect(out).toEqual([
      ['Host', 'a.example'],
      ['Accept', '*/*'],
      ['Set-Thing', 'a'],
      ['Set-Thing', 'b'],
      ['x-request-id', 'rid-1'],
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'a.example'],
    ]);
  });

  it('appends to every X-Forwarded-For sent and replaces a client request id with the given one', () => {
    const raw = [
      'host',
      'h',
      'X-Forwarded-For',
      '1.1.1.1',
      'x-forwarded-for',
      '2.2.2.2',
      'X-Request-Id',
      'client',
      'X-Forwarded-Proto',
      'http',
    ];
    const out = new Map(pairs(forwardRequestHeaders(raw, undefined, { ...info, requestId: 'client' })));
    expect(out.get('x-forwarded-for')).toBe('1.1.1.1, 2.2.2.2, 10.0.0.7');
    expect(out.get('x-request-id')).toBe('client');
    expect(out.get('x-forwarded-proto')).toBe('https');
    expect(out.has('X-Request-Id')).toBe(false);
  });

  it('adds Host for HTTP/1.0 clients, chunked framing for chunked bodies, and upgrade headers for upgrades', () => {
    const noHost = new Map(pairs(forwardRequestHeaders([], undefined, { ...info, chunked: true })));
    expect(noHost.get('host')).toBe('127.0.0.1:9001');
    expect(noHost.get('transfer-encoding')).toBe('chunked');
    const up = pairs(
      forwardRequestHeaders(['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], 'Upgrade', {
        ...info,
        upgrade: true,
      }),
    );
    expect(up).toContainEqual(['Upgrade', 'websocket']);
    expect(up).toContainEqual(['connection', 'upgrade']);
  });

  it('never forwards the explain token or the audit secret', () => {
    const out = forwardRequestHeaders(
      ['Host', 'h', 'X-Fulcrum-Explain', 'tok', 'x-fulcrum-audit', 'sec'],
      undefined,
      info,
    );
    expect(out.map((s) => s.toLowerCase())).not.toContain('x-fulcrum-explain');
    expect(out.map((s) => s.toLowerCase())).not.toContain('x-fulcrum-audit');
  });
});

describe('forwardResponseHeaders', () => {
  it('drops hop-by-hop headers and the backend request id, appends extras', () => {
    const raw = [
      'Content-Type',
      'text/plain',
      'Transfer-Encoding',
      'chunked',
      'Connection',
      'keep-alive, X-Internal',
      'X-Internal',
      's',
      'Keep-Alive',
      'timeout=5',
      'X-Request-Id',
      'theirs',
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
    ];
    expect(pairs(forwardResponseHeaders(raw, ['x-request-id', 'ours']))).toEqual([
      ['Content-Type', 'text/plain'],
      ['Set-Cookie', 'a=1'],
      ['Set-Cookie', 'b=2'],
      ['x-request-id', 'ours'],
    ]);
  });
});

describe('cookieValue', () => {
  it('finds a cookie by exact name', () => {
    expect(cookieValue('a=1; session=xyz; sess=no', 'session')).toBe('xyz');
    expect(cookieValue('a=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});
