import { describe, expect, it } from 'vitest';
import { forwardRequestHeaders, forwardResponseHeaders, type RequestFacts } from './headers.ts';
import { parseRequestHead, type RequestHead } from './http1.ts';

const info = { clientIp: '10.0.0.7', proto: 'https' as const, upgrade: false };

function facts(): RequestFacts {
  return {
    hostHeader: undefined,
    clientRequestId: undefined,
    explainHeader: undefined,
    auditHeader: undefined,
  };
}

/** The head the codec parses from a request with these fields (a parse failure throws). */
function req(raw: string[], line = 'GET / HTTP/1.1'): RequestHead {
  let text = `${line}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  const buf = Buffer.from(`${text}\r\n`, 'latin1');
  const head = parseRequestHead(buf, 0, buf.length, 65_536);
  if (typeof head !== 'object') throw new Error(`unparsed: ${String(head)}`);
  return head;
}

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
      'Keep-Alive',
      'timeout=5',
      'Trailer',
      'x',
      'Accept',
      '*/*',
      'Set-Thing',
      'a',
      'Set-Thing',
      'b',
    ];
    const f = facts();
    expect(pairs(forwardRequestHeaders(req(raw), f, info))).toEqual([
      ['Host', 'a.example'],
      ['Accept', '*/*'],
      ['Set-Thing', 'a'],
      ['Set-Thing', 'b'],
      ['x-forwarded-for', '10.0.0.7'],
      ['x-forwarded-proto', 'https'],
      ['x-forwarded-host', 'a.example'],
      ['connection', 'keep-alive'],
    ]);
    expect(f.hostHeader).toBe('a.example');
  });

  it('appends to every X-Forwarded-For sent; captures the request id, explain and audit headers without copying them', () => {
    const raw = [
      'host',
      'h',
      'X-Forwarded-For',
      '1.1.1.1',
      'x-forwarded-for',
      '2.2.2.2',
      'X-Request-Id',
      'client',
      'x-request-id',
      'second',
      'X-Forwarded-Proto',
      'http',
      'X-Fulcrum-Explain',
      'tok',
      'x-fulcrum-audit',
      'sec',
      'Content-Length',
      '12',
    ];
    const f = facts();
    const list = forwardRequestHeaders(req(raw), f, info);
    const out = new Map(pairs(list));
    expect(out.get('x-forwarded-for')).toBe('1.1.1.1, 2.2.2.2, 10.0.0.7');
    expect(out.get('x-forwarded-proto')).toBe('https');
    expect(out.get('content-length')).toBe('12');
    expect(f).toMatchObject({ clientRequestId: 'client', explainHeader: 'tok', auditHeader: 'sec' });
    const names = list.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    for (const gone of ['x-request-id', 'x-fulcrum-explain', 'x-fulcrum-audit'])
      expect(names).not.toContain(gone);
  });

  it('keeps chunked framing for a chunked body, and upgrade headers for upgrades', () => {
    const f = facts();
    const chunked = new Map(
      pairs(
        forwardRequestHeaders(req(['Host', 'h', 'Transfer-Encoding', 'chunked'], 'POST / HTTP/1.1'), f, info),
      ),
    );
    expect(chunked.get('transfer-encoding')).toBe('chunked');
    expect(chunked.has('content-length')).toBe(false);
    const up = pairs(
      forwardRequestHeaders(req(['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket']), facts(), {
        ...info,
        upgrade: true,
      }),
    );
    expect(up).toContainEqual(['Upgrade', 'websocket']);
    expect(up).toContainEqual(['connection', 'upgrade']);
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
