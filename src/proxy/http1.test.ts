import { METHODS } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChunkedScanner,
  MALFORMED,
  encodeChunk,
  encodeLastChunk,
  NEED_MORE,
  parseRequestHead,
  parseResponseHead,
  encodeHead,
  type ChunkSink,
  type RequestHead,
  type ResponseHead,
} from './http1.ts';

const MAX = 8192;
/** latin1 so that every char is one byte: tests write raw octets (obs-text, NUL) as \xNN. */
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

function parseReq(s: string, max = MAX): ReturnType<typeof parseRequestHead> {
  const buf = bytes(s);
  return parseRequestHead(buf, 0, buf.length, max);
}

function parseRes(s: string, max = MAX): ReturnType<typeof parseResponseHead> {
  const buf = bytes(s);
  return parseResponseHead(buf, 0, buf.length, max);
}

function request(s: string): RequestHead {
  const h = parseReq(s);
  if (typeof h !== 'object') throw new Error(`request refused (${String(h)}): ${JSON.stringify(s)}`);
  return h;
}

function response(s: string): ResponseHead {
  const h = parseRes(s);
  if (typeof h !== 'object') throw new Error(`response refused (${String(h)}): ${JSON.stringify(s)}`);
  return h;
}

/** An HTTP/1.1 request with a Host and the given field lines (each ending in CRLF). */
const get = (fields: string): string => `GET / HTTP/1.1\r\nHost: a.example\r\n${fields}\r\n`;

describe('parseRequestHead: heads', () => {
  it('parses a GET: line, fields in order with their case, framing defaults, headBytes', () => {
    const s = 'GET /a?b=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\nx-MiXeD: v\r\n\r\n';
    const h = request(s);
    expect(h).toMatchObject({
      method: 'GET',
      url: '/a?b=1',
      versionMinor: 1,
      host: 'a.example',
      contentLength: -1,
      chunked: false,
      close: false,
      keepAlive: false,
      connectionUpgrade: false,
      upgrade: undefined,
      expectContinue: false,
      headBytes: s.length,
    });
    expect(h.rawHeaders).toEqual(['Host', 'a.example', 'Accept', '*/*', 'x-MiXeD', 'v']);
  });

  it('parses a POST with a Content-Length; headBytes stops before the body', () => {
    const head = 'POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n';
    const h = request(`${head}hello`);
    expect([h.method, h.contentLength, h.headBytes]).toEqual(['POST', 5, head.length]);
  });

  it('accepts HTTP/1.0 without Host and refuses HTTP/1.1 without Host', () => {
    expect(request('GET / HTTP/1.0\r\n\r\n')).toMatchObject({
      versionMinor: 0,
      host: undefined,
      headBytes: 18,
    });
    expect(parseReq('GET / HTTP/1.1\r\n\r\n')).toBe('bad-request');
    expect(parseReq('GET / HTTP/1.1\r\nX-Host: a\r\n\r\n')).toBe('bad-request');
  });

  it.each([
    ['HTTP/1.1', 'Host: a\r\nHost: a\r\n'],
    ['HTTP/1.1', 'Host: a\r\nhOST: b\r\n'],
    ['HTTP/1.0', 'Host: a\r\nHost: b\r\n'],
  ])('refuses two Host fields (%s %j)', (version, fields) => {
    expect(parseReq(`GET / ${version}\r\n${fields}\r\n`)).toBe('bad-request');
  });

  it('skips leading empty lines and counts them in headBytes', () => {
    const s = 'GET / HTTP/1.0\r\n\r\n';
    expect(request(`\r\n\r\n${s}`).headBytes).toBe(4 + s.length);
    // A lone LF is not an empty line.
    expect(parseReq(`\n${s}`)).toBe('bad-request');
  });

  it('is undefined for every incomplete prefix (split terminator too), then parses the full range', () => {
    const s = get('Content-Length: 0\r\n');
    const full = bytes(s);
    for (let end = 0; end < full.length; end++) {
      // The same buffer with a shorter end (the terminator lies beyond `end`, unread) and a copy.
      expect(parseRequestHead(full, 0, end, MAX)).toBeUndefined();
      expect(parseRequestHead(Buffer.from(full.subarray(0, end)), 0, end, MAX)).toBeUndefined();
    }
    expect(parseRequestHead(full, 0, full.length, MAX)).toMatchObject({ headBytes: s.length });
  });

  it('refuses a head larger than maxBytes, complete or still incomplete', () => {
    const s = get(`X-Pad: ${'a'.repeat(100)}\r\n`);
    expect(parseReq(s, s.length)).toMatchObject({ headBytes: s.length });
    expect(parseReq(s, s.length - 1)).toBe('too-large');
    const partial = s.slice(0, 80);
    expect(parseReq(partial, 79)).toBe('too-large');
    expect(parseReq(partial, 80)).toBeUndefined();
    // The body and pipelined bytes after the head do not count.
    expect(parseReq(s + 'x'.repeat(1000), s.length)).toMatchObject({ headBytes: s.length });
  });

  // Skipped empty lines count against maxBytes, or a client sending nothing but CRLFs would
  // have its bytes buffered until the header timeout.
  it('refuses a flood of empty lines longer than maxBytes', () => {
    expect(parseReq('\r\n'.repeat(100), 64)).toBe('too-large');
  });

  it('parses pipelined requests at start offsets other than 0', () => {
    const first = 'POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n';
    const second = 'GET /b HTTP/1.1\r\nHost: b\r\n\r\n';
    const third = '\r\nGET /c HTTP/1.0\r\n\r\n';
    const buf = bytes(`${first}hello${second}${third}`);
    const h1 = parseRequestHead(buf, 0, buf.length, MAX) as RequestHead;
    const at2 = h1.headBytes + h1.contentLength;
    const h2 = parseRequestHead(buf, at2, buf.length, MAX) as RequestHead;
    expect([h2.method, h2.url, h2.host, h2.headBytes]).toEqual(['GET', '/b', 'b', second.length]);
    const at3 = at2 + h2.headBytes;
    expect(parseRequestHead(buf, at3, buf.length, MAX)).toMatchObject({ url: '/c', headBytes: third.length });
    // maxBytes counts from start, not from the beginning of the buffer.
    expect(parseRequestHead(buf, at2, buf.length, second.length)).toMatchObject({ url: '/b' });
  });
});

describe('parseRequestHead: request line', () => {
  it.each([
    ['bad method char', 'G(T / HTTP/1.1'],
    ['method with HTAB', 'GET\t/ HTTP/1.1'],
    ['leading space', ' GET / HTTP/1.1'],
    ['two spaces', 'GET  / HTTP/1.1'],
    ['space in target', 'GET /a b HTTP/1.1'],
    ['missing version', 'GET /'],
    ['empty version', 'GET / '],
    ['no target', 'GET'],
    ['HTTP/2.0', 'GET / HTTP/2.0'],
    ['HTTP/1.2', 'GET / HTTP/1.2'],
    ['lower-case http', 'GET / http/1.1'],
    ['trailing space', 'GET / HTTP/1.1 '],
    ['trailing garbage', 'GET / HTTP/1.1x'],
    ['control char in target', 'GET /a\x01b HTTP/1.1'],
    ['DEL in target', 'GET /a\x7f HTTP/1.1'],
    ['HTAB in target', 'GET /a\tb HTTP/1.1'],
    ['NUL in target', 'GET /\x00 HTTP/1.1'],
    ['bare CR in line', 'GET /\r HTTP/1.1'],
    ['bare LF ending the line', 'GET / HTTP/1.1\nX: y'],
  ])('refuses %s', (_what, line) => {
    expect(parseReq(`${line}\r\nHost: a\r\n\r\n`)).toBe('bad-request');
  });

  it.each([
    ['OPTIONS * HTTP/1.1', 'OPTIONS', '*'],
    ['M-SEARCH / HTTP/1.1', 'M-SEARCH', '/'],
  ])('accepts %j', (line, method, url) => {
    expect(request(`${line}\r\nHost: a\r\n\r\n`)).toMatchObject({ method, url, host: 'a' });
  });

  // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host.
  it.each([
    ['GET http://a.example/x?y HTTP/1.1', '/x?y', 'a.example'],
    ['GET HTTP://B.example:8080 HTTP/1.1', '/', 'B.example:8080'],
    ['GET https://c.example?q=1 HTTP/1.1', '/?q=1', 'c.example'],
    ['GET http://[::1]:81/p HTTP/1.1', '/p', '[::1]:81'],
  ])('rewrites %j to origin-form, routed by its authority', (line, url, host) => {
    expect(request(`${line}\r\nHost: other.example\r\n\r\n`)).toMatchObject({ url, host });
  });

  it.each([
    ['userinfo', 'GET http://user:pw@a.example/ HTTP/1.1'],
    ['userinfo without password', 'GET http://u@a.example/ HTTP/1.1'],
    ['an empty authority', 'GET http:///x HTTP/1.1'],
    ['another scheme', 'GET ftp://a.example/ HTTP/1.1'],
    ['a bad authority', 'GET http://a"b/ HTTP/1.1'],
    ['asterisk-form for GET', 'GET * HTTP/1.1'],
    ['authority-form for GET', 'GET a.example:443 HTTP/1.1'],
  ])('refuses %s as a bad target', (_what, line) => {
    expect(parseReq(`${line}\r\nHost: a\r\n\r\n`)).toBe('bad-target');
  });

  it('refuses CONNECT and the HTTP/2 preface with their own reasons', () => {
    expect(parseReq('CONNECT a.example:443 HTTP/1.1\r\nHost: a\r\n\r\n')).toBe('connect');
    expect(parseReq('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')).toBe('preface');
    expect(parseReq('PRI * HTTP/1.1\r\nHost: a\r\n\r\n')).toBe('preface');
  });

  it('keeps identical Content-Length repeats as one length and reads TE: trailers', () => {
    expect(
      request('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n'),
    ).toMatchObject({
      contentLength: 3,
    });
    expect(request('GET / HTTP/1.1\r\nHost: a\r\nTE: gzip, trailers\r\n\r\n').teTrailers).toBe(true);
    expect(request('GET / HTTP/1.1\r\nHost: a\r\n\r\n').teTrailers).toBe(false);
  });
});

describe('parseRequestHead: fields', () => {
  it.each([
    ['obs-fold with SP', 'X-A: 1\r\n folded\r\n'],
    ['obs-fold with HTAB', 'X-A: 1\r\n\tfolded\r\n'],
    ['bare LF between fields', 'X-A: 1\nX-B: 2\r\n'],
    ['bare LF in a name', 'X\n-A: 1\r\n'],
    ['bare CR in a value', 'X-A: 1\r2\r\n'],
    ['bare CR ending a value', 'X-A: 1\r\r\n'],
    ['NUL in a value', 'X-A: a\x00b\r\n'],
    ['control char in a value', 'X-A: a\x01b\r\n'],
    ['DEL in a value', 'X-A: a\x7f\r\n'],
    ['no colon', 'X-A 1\r\n'],
    ['space before colon', 'X-A : 1\r\n'],
    ['HTAB before colon', 'Content-Length\t: 0\r\n'],
    ['empty name', ': 1\r\n'],
    ['non-token name', 'X(A): 1\r\n'],
    ['space in name', 'X A: 1\r\n'],
  ])('refuses %s', (_what, fields) => {
    expect(parseReq(get(fields))).toBe('bad-request');
  });

  it('trims OWS around values, keeps inner SP/HTAB and empty values', () => {
    const h = request(get('X-A: \t 1 \t2 \t\r\nX-E:\r\nX-F:   \r\n'));
    expect(h.rawHeaders.slice(2)).toEqual(['X-A', '1 \t2', 'X-E', '', 'X-F', '']);
  });

  it('keeps obs-text (0x80-0xff) in values byte-exact as latin1', () => {
    const h = request(get('X-T: caf\xe9 \x80\xff\r\n'));
    expect(bytes(h.rawHeaders[3] as string)).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80, 0xff]));
  });

  // RFC 9112 §3.2 requires 400 for an invalid Host field value; a host with SP, '/' or
  // userinfo could mislead host-based routing and logs.
  it.each(['a b', 'a/b', 'user@a.example'])('refuses the invalid Host value %j', (host) => {
    expect(parseReq(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).toBe('bad-request');
  });
});

describe('parseRequestHead: framing', () => {
  it.each(['+5', '-1', '0x5', '5 5', '5,5', '5, 5', '', '1e3', '5.0', '1234567890123456'])(
    'refuses Content-Length %j',
    (value) => {
      expect(parseReq(get(`Content-Length: ${value}\r\n`))).toBe('bad-request');
    },
  );

  it.each([
    [' 5 ', 5],
    ['\t5', 5],
    ['007', 7],
    ['0', 0],
    ['999999999999999', 999999999999999],
  ])('accepts Content-Length %j as %d', (value, len) => {
    expect(request(get(`Content-Length: ${value}\r\n`)).contentLength).toBe(len);
  });

  it('accepts repeated equal Content-Lengths and refuses different ones', () => {
    expect(request(get('Content-Length: 5\r\ncontent-length: 5\r\n')).contentLength).toBe(5);
    expect(parseReq(get('Content-Length: 5\r\nContent-Length: 6\r\n'))).toBe('bad-request');
    expect(parseReq(get('Content-Length: 0\r\nContent-Length: 5\r\n'))).toBe('bad-request');
  });

  it.each(['chunked', 'Chunked', 'CHUNKED', ' chunked ', ', chunked ,'])(
    'Transfer-Encoding %j is chunked',
    (te) => {
      const h = request(get(`Transfer-Encoding: ${te}\r\n`));
      expect([h.chunked, h.contentLength]).toEqual([true, -1]);
    },
  );

  it('refuses Transfer-Encoding with Content-Length in either order', () => {
    expect(parseReq(get('Transfer-Encoding: chunked\r\nContent-Length: 5\r\n'))).toBe('bad-request');
    expect(parseReq(get('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n'))).toBe('bad-request');
  });

  it.each([
    ['gzip, chunked'],
    ['chunked, chunked'],
    ['identity'],
    ['gzip'],
    ['chunked;q=1'],
    ['gzip', 'chunked'],
    ['chunked', 'chunked'],
  ])('answers not-implemented to request Transfer-Encoding %j (fields joined)', (...values) => {
    const fields = values.map((v) => `Transfer-Encoding: ${v}\r\n`).join('');
    expect(parseReq(get(fields))).toBe('not-implemented');
  });

  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must be treated as having
  // faulty framing (a 1.0 hop in front may have forwarded it without understanding chunked).
  it('refuses Transfer-Encoding on an HTTP/1.0 request', () => {
    expect(parseReq('POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n')).toBe('bad-request');
  });

  it.each([
    [['close'], { close: true, keepAlive: false, connectionUpgrade: false }],
    [['Keep-Alive'], { close: false, keepAlive: true, connectionUpgrade: false }],
    [['keep-alive, Upgrade'], { close: false, keepAlive: true, connectionUpgrade: true }],
    [['x-hop , CLOSE'], { close: true, keepAlive: false, connectionUpgrade: false }],
    [['close', 'upgrade'], { close: true, keepAlive: false, connectionUpgrade: true }],
    [['closed, keepalive'], { close: false, keepAlive: false, connectionUpgrade: false }],
  ])('Connection %j', (values, expected) => {
    const h = request(get(values.map((v) => `Connection: ${v}\r\n`).join('')));
    expect({ close: h.close, keepAlive: h.keepAlive, connectionUpgrade: h.connectionUpgrade }).toEqual(
      expected,
    );
  });

  it('reads Upgrade with or without Connection: upgrade', () => {
    expect(request(get('Connection: Upgrade\r\nUpgrade: websocket\r\n'))).toMatchObject({
      connectionUpgrade: true,
      upgrade: 'websocket',
    });
    expect(request(get('Upgrade: h2c\r\n'))).toMatchObject({ connectionUpgrade: false, upgrade: 'h2c' });
  });

  it.each([
    ['100-continue', true],
    ['100-Continue', true],
    [' 100-continue ', true],
    ['100-continue-please', false],
  ])('Expect: %j -> expectContinue %s', (value, expected) => {
    expect(request(get(`Expect: ${value}\r\n`)).expectContinue).toBe(expected);
  });
});

describe('parseResponseHead', () => {
  it.each([
    ['HTTP/1.1 200 OK', 1, 200, 'OK'],
    ['HTTP/1.1 404 Not  Found', 1, 404, 'Not  Found'],
    ['HTTP/1.1 204 ', 1, 204, ''],
    ['HTTP/1.1 204', 1, 204, ''],
    ['HTTP/1.1 200 \xc7a\tva', 1, 200, '\xc7a\tva'],
    ['HTTP/1.1 100 Continue', 1, 100, 'Continue'],
    ['HTTP/1.0 200 OK', 0, 200, 'OK'],
  ])('parses %j', (line, versionMinor, status, reason) => {
    const s = `${line}\r\nContent-Length: 0\r\n\r\n`;
    expect(response(s)).toMatchObject({
      versionMinor,
      status,
      reason,
      contentLength: 0,
      headBytes: s.length,
    });
  });

  it('parses a 103 with fields and the final answer after it at a later offset', () => {
    const early = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n';
    const final = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n';
    const buf = bytes(early + final);
    const h1 = parseResponseHead(buf, 0, buf.length, MAX) as ResponseHead;
    expect([h1.status, h1.rawHeaders, h1.headBytes]).toEqual([
      103,
      ['Link', '</a.css>; rel=preload'],
      early.length,
    ]);
    const h2 = parseResponseHead(buf, h1.headBytes, buf.length, MAX);
    expect(h2).toMatchObject({ status: 200, chunked: true, keepAlive: true, headBytes: final.length });
  });

  it.each([
    ['2-digit status', 'HTTP/1.1 20 OK'],
    ['4-digit status', 'HTTP/1.1 2000 OK'],
    ['letters', 'HTTP/1.1 abc OK'],
    ['letter inside', 'HTTP/1.1 2x0 OK'],
    ['leading zero', 'HTTP/1.1 099 Odd'],
    ['no space after status', 'HTTP/1.1 200OK'],
    ['two spaces', 'HTTP/1.1  200 OK'],
    ['HTAB separator', 'HTTP/1.1\t200 OK'],
    ['HTTP/2', 'HTTP/2 200 OK'],
    ['HTTP/1.2', 'HTTP/1.2 200 OK'],
    ['lower-case http', 'http/1.1 200 OK'],
    ['not HTTP', 'ICY 200 OK'],
  ])('refuses a status line with %s', (_what, line) => {
    expect(parseRes(`${line}\r\n\r\n`)).toBe('bad-request');
  });

  // The reason phrase allows HTAB / SP / VCHAR / obs-text only (RFC 9112 §4): the proxy writes
  // it back to the client in its own status line, where a bare LF or CR would split the response
  // (header injection).
  it.each([
    ['bare LF', 'OK\nSet-Cookie: a=b'],
    ['bare CR', 'OK\rSet-Cookie: a=b'],
    ['NUL', 'O\x00K'],
    ['DEL', 'OK\x7f'],
  ])('refuses a reason phrase with %s', (_what, reason) => {
    expect(parseRes(`HTTP/1.1 200 ${reason}\r\nContent-Length: 0\r\n\r\n`)).toBe('bad-request');
  });

  it('applies the field and framing rules to responses', () => {
    expect(response('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n').chunked).toBe(true);
    expect(parseRes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n')).toBe(
      'bad-request',
    );
    expect(parseRes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n')).toBe('bad-request');
    expect(parseRes('HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n')).toBe('bad-request');
    expect(parseRes('HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n')).toBe('bad-request');
    expect(parseRes('HTTP/1.1 200 OK\r\nX-A: 1\nX-B: 2\r\n\r\n')).toBe('bad-request');
    // Host means nothing in a response: neither required nor limited to one.
    expect(response('HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n').status).toBe(200);
  });

  it('returns undefined when incomplete and too-large beyond maxBytes', () => {
    const s = 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
    for (let end = 0; end < s.length; end++) expect(parseRes(s.slice(0, end))).toBeUndefined();
    expect(parseRes(s, s.length)).toMatchObject({ status: 200 });
    expect(parseRes(s, s.length - 1)).toBe('too-large');
    expect(parseRes(s.slice(0, 30), 29)).toBe('too-large');
  });
});

describe('head checks by byte (loops that stand for the grammar)', () => {
  // The parser checks names, values, targets, status codes and reasons with loops over the
  // head's text; these are the grammar's sets, each byte tried in each place.
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  // eslint-disable-next-line no-control-regex -- control characters are what values may not hold
  const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
  const VISIBLE = /^[\x21-\x7e]+$/;
  const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
  const ok = (h: unknown): boolean => typeof h === 'object';
  // CR and LF end lines, so they are tried where they end nothing (below, by other tests).
  const all = Array.from({ length: 256 }, (_, c) => c).filter((c) => c !== 13 && c !== 10);

  it('takes a field name byte exactly when it is a tchar', () => {
    for (const c of all.filter((c) => c !== 58 /* : ends the name */)) {
      const name = `X${String.fromCharCode(c)}Y`;
      expect(ok(parseReq(get(`${name}: v\r\n`))), `byte ${c}`).toBe(TOKEN.test(name));
      expect(ok(parseRes(`HTTP/1.1 200 OK\r\n${name}: v\r\nContent-Length: 0\r\n\r\n`)), `byte ${c}`).toBe(
        TOKEN.test(name),
      );
    }
  });

  it('takes a field value byte exactly when it is no control character (HTAB is one it takes)', () => {
    for (const c of all) {
      const value = `a${String.fromCharCode(c)}b`;
      expect(ok(parseReq(get(`X-V: ${value}\r\n`))), `byte ${c}`).toBe(!BAD_VALUE.test(value));
    }
  });

  it('takes a target byte exactly when it is visible ASCII', () => {
    for (const c of all) {
      const target = `/a${String.fromCharCode(c)}`;
      const h = parseReq(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect(ok(h), `byte ${c}`).toBe(VISIBLE.test(target));
    }
  });

  it('takes a method byte exactly when it is a tchar, before asking whether it is a known method', () => {
    for (const c of all.filter((c) => c !== 32)) {
      const method = `GE${String.fromCharCode(c)}`;
      const h = parseReq(`${method} / HTTP/1.1\r\nHost: a\r\n\r\n`);
      if (METHODS.includes(method)) expect(ok(h), method).toBe(true);
      else expect(h, `byte ${c}`).toBe(TOKEN.test(method) ? 'unknown-method' : 'bad-request');
    }
  });

  it('takes a reason byte exactly as the reason grammar does, and three-digit codes from 100', () => {
    for (const c of all) {
      const reason = `O${String.fromCharCode(c)}K`;
      expect(ok(parseRes(`HTTP/1.1 200 ${reason}\r\nContent-Length: 0\r\n\r\n`)), `byte ${c}`).toBe(
        REASON.test(reason),
      );
    }
    for (const code of ['099', '100', '200', '599', '999', '20x', '2 0', '1000'])
      expect(ok(parseRes(`HTTP/1.1 ${code} X\r\nContent-Length: 0\r\n\r\n`)), code).toBe(
        /^[1-9][0-9][0-9]$/.test(code),
      );
  });

  it('matches framing names in any case without lower-cased copies, and nothing near them', () => {
    expect(request(get('cOnTeNt-LeNgTh: 5\r\n')).contentLength).toBe(5);
    expect(request(get('TRANSFER-ENCODING: chunked\r\n')).chunked).toBe(true);
    expect(request(get('Connection: CLOSE\r\n')).close).toBe(true);
    expect(request(get('connection: Keep-Alive\r\n')).keepAlive).toBe(true);
    // One character off is another field, passed on, never framing; only letters fold ('^' and
    // '~' are tchars 0x20 apart, and stay apart).
    expect(request(get('Content-Lengtx: 5\r\n')).contentLength).toBe(-1);
    expect(request(get('Connection: ^lose\r\n')).close).toBe(false);
    expect(request(get('Connection: ~lose\r\n')).close).toBe(false);
    expect(request(get('Content_Length: 5\r\n')).contentLength).toBe(-1);
    expect(request(get('Connection: clos\u00e5\r\n')).close).toBe(false);
  });
});

describe('encodeHead', () => {
  it('writes the start line, fields, the empty line and an optional body', () => {
    expect(encodeHead('HTTP/1.1 ', '204', ' ', 'No Content', []).toString('latin1')).toBe(
      'HTTP/1.1 204 No Content\r\n\r\n',
    );
    expect(encodeHead('GET', ' ', '/', ' HTTP/1.1', ['Host', 'a', 'X-B', '']).toString('latin1')).toBe(
      'GET / HTTP/1.1\r\nHost: a\r\nX-B: \r\n\r\n',
    );
    const withBody = encodeHead('HTTP/1.1 ', '200', ' ', 'OK', ['content-length', '2'], Buffer.from('hi'));
    expect(withBody.toString('latin1')).toBe('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi');
  });

  it('round-trips a request and a response through the parsers byte for byte', () => {
    const req =
      'PUT /x?y=%20 HTTP/1.1\r\nhost: a.example\r\nContent-Length: 3\r\nX-T: caf\xe9\r\nX-E: \r\n\r\n';
    const h = request(req);
    const again = encodeHead(h.method, ' ', h.url, ` HTTP/1.${h.versionMinor}`, h.rawHeaders).toString(
      'latin1',
    );
    expect(again).toBe(req);
    expect(request(again)).toEqual(h);

    const res = 'HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n';
    const r = response(res);
    const back = encodeHead(
      `HTTP/1.${r.versionMinor} `,
      String(r.status),
      ' ',
      r.reason,
      r.rawHeaders,
    ).toString('latin1');
    expect(back).toBe(res);
    expect(response(back)).toEqual(r);
  });

  it('writes every latin1 byte of short and long pieces alike (loop and Buffer write)', () => {
    for (const len of [0, 1, 63, 64, 65, 200]) {
      const value = Array.from({ length: len }, (_, i) => String.fromCharCode((i * 97 + len) % 256)).join('');
      const name = `X-${'n'.repeat(len)}`;
      const out = encodeHead('HTTP/1.1 ', '200', ' ', value, [name, value, 'a', 'b'], Buffer.from([0, 255]));
      expect(out.toString('latin1')).toBe(
        `HTTP/1.1 200 ${value}\r\n${name}: ${value}\r\na: b\r\n\r\n\x00\xff`,
      );
    }
  });
});

class Collect implements ChunkSink {
  parts: Buffer[] = [];
  onChunkData(buf: Buffer, start: number, end: number): void {
    // Copied: the caller may reuse the buffer.
    this.parts.push(Buffer.from(buf.subarray(start, end)));
  }
  text(): string {
    return Buffer.concat(this.parts).toString('latin1');
  }
}

/** ~60 bytes: lower/upper-case hex, an extension, a CRLF inside the data, a trailer. */
const BODY = '4\r\nWiki\r\n7;ext="a b"\r\npedia i\r\nB\r\nn chunks.\r\n\r\n0\r\nX-Sum: 9\r\n\r\n';
const PAYLOAD = 'Wikipedia in chunks.\r\n';

function scan(s: string): { end: number; payload: number; text: string } {
  const sink = new Collect();
  const sc = new ChunkedScanner();
  const buf = bytes(s);
  const end = sc.feed(buf, 0, buf.length, sink);
  return { end, payload: sc.payload, text: sink.text() };
}

describe('ChunkedScanner', () => {
  it('returns the index just past the final CRLF of a body in one buffer', () => {
    expect(scan(BODY)).toEqual({ end: BODY.length, payload: PAYLOAD.length, text: PAYLOAD });
    expect(scan('0\r\n\r\n')).toEqual({ end: 5, payload: 0, text: '' });
  });

  it('leaves the bytes after the end (the next pipelined message) unconsumed', () => {
    const next = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n';
    expect(scan(BODY + next).end).toBe(BODY.length);
    const buf = bytes(`junk${BODY}${next}`);
    expect(new ChunkedScanner().feed(buf, 4, buf.length)).toBe(4 + BODY.length);
  });

  it('returns NEED_MORE for each byte fed alone until the last one', () => {
    const buf = bytes(BODY);
    const sc = new ChunkedScanner();
    const sink = new Collect();
    for (let i = 0; i < buf.length - 1; i++) expect(sc.feed(buf, i, i + 1, sink)).toBe(NEED_MORE);
    expect(sc.feed(buf, buf.length - 1, buf.length, sink)).toBe(buf.length);
    expect([sink.text(), sc.payload]).toEqual([PAYLOAD, PAYLOAD.length]);
  });

  it('gives the same end and payload when split in two at every position', () => {
    const buf = bytes(BODY);
    for (let k = 1; k < buf.length; k++) {
      const sc = new ChunkedScanner();
      const sink = new Collect();
      expect(sc.feed(buf, 0, k, sink)).toBe(NEED_MORE);
      expect(sc.feed(buf, k, buf.length, sink)).toBe(buf.length);
      expect(sink.text()).toBe(PAYLOAD);
    }
  });

  it.each([
    ['extensions', '5;a=b;c\r\nhello\r\n0;last="x;y"\r\n\r\n', 'hello'],
    ['quoted extension values with escapes', '5;a="x\\"y";b=1\r\nhello\r\n0\r\n\r\n', 'hello'],
    ['trailers', '5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: caf\xe9\r\n\r\n', 'hello'],
    [
      'upper-case hex',
      `1F\r\n${'a'.repeat(31)}\r\nA\r\n${'b'.repeat(10)}\r\n0\r\n\r\n`,
      'a'.repeat(31) + 'b'.repeat(10),
    ],
    ['a zero-payload body', '0\r\n\r\n', ''],
    ['a chunk of CRLFs', '4\r\n\r\n\r\n\r\n0\r\n\r\n', '\r\n\r\n'],
  ])('accepts %s', (_what, s, payload) => {
    expect(scan(s)).toEqual({ end: s.length, payload: payload.length, text: payload });
  });

  it('keeps the trailer fields it read', () => {
    const sc = new ChunkedScanner();
    const buf = bytes('2\r\nhi\r\n0\r\nX-Sum: 9\r\nx-b:\t caf\xe9 \r\n\r\n');
    expect(sc.feed(buf, 0, buf.length)).toBe(buf.length);
    expect(sc.trailers).toEqual(['X-Sum', '9', 'x-b', 'caf\xe9']);
    expect(encodeLastChunk(sc.trailers).toString('latin1')).toBe('0\r\nX-Sum: 9\r\nx-b: caf\xe9\r\n\r\n');
    expect(encodeLastChunk(undefined).toString('latin1')).toBe('0\r\n\r\n');
  });

  it('encodes chunks canonically: lower-case hex size, no extension', () => {
    const data = Buffer.from(`xx${'a'.repeat(300)}yy`, 'latin1');
    expect(encodeChunk(data, 2, 302).toString('latin1')).toBe(`12c\r\n${'a'.repeat(300)}\r\n`);
  });

  it('counts declared payload and size lines as they are read', () => {
    const sc = new ChunkedScanner();
    const buf = bytes('a\r\n01234');
    expect(sc.feed(buf, 0, 2)).toBe(NEED_MORE);
    expect([sc.sizeLines, sc.declared]).toEqual([0, 0]);
    expect(sc.feed(buf, 2, buf.length)).toBe(NEED_MORE);
    expect([sc.sizeLines, sc.declared, sc.payload]).toEqual([1, 10, 5]);
  });

  it('counts payload bytes as they arrive', () => {
    const buf = bytes('5\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n');
    const sc = new ChunkedScanner();
    expect(sc.feed(buf, 0, 6)).toBe(NEED_MORE);
    expect(sc.payload).toBe(3);
    expect(sc.feed(buf, 6, 14)).toBe(NEED_MORE);
    expect(sc.payload).toBe(6);
    expect(sc.feed(buf, 14, buf.length)).toBe(buf.length);
    expect(sc.payload).toBe(8);
  });

  const bigTrailer = `0\r\n${`X-Pad: ${'a'.repeat(1000)}\r\n`.repeat(17)}\r\n`;
  it.each([
    ['data longer than its size', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n'],
    ['CR only after data', '5\r\nhello\r0\r\n\r\n'],
    ['non-hex size', 'g\r\nhello\r\n0\r\n\r\n'],
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['negative size', '-5\r\nhello\r\n0\r\n\r\n'],
    ['leading space', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['empty size line', '\r\nhello\r\n0\r\n\r\n'],
    ['bare LF after size', '5\nhello\r\n0\r\n\r\n'],
    ['CR without LF after size', '5\r\rhello\r\n0\r\n\r\n'],
    ['bare LF in an extension', '5;a\nhello\r\n0\r\n\r\n'],
    ['NUL in an extension', '5;a\x00\r\nhello\r\n0\r\n\r\n'],
    ['an extension over 1 KiB', `5;${'e'.repeat(1100)}\r\nhello\r\n0\r\n\r\n`],
    ['13 hex digits', '1000000000000\r\nhello\r\n0\r\n\r\n'],
    // What strict parsers disagree on (issue 11): each is refused, never forwarded.
    ['leading zeros', '05\r\nhello\r\n0\r\n\r\n'],
    ['a last chunk of zeros', '5\r\nhello\r\n00\r\n\r\n'],
    ['whitespace after the size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['BWS before an extension', '5 ;a=b\r\nhello\r\n0\r\n\r\n'],
    ['an empty extension', '2;\r\nhi\r\n0\r\n\r\n'],
    ['an extension with no name', '2;=x\r\nhi\r\n0\r\n\r\n'],
    ['an extension with an empty value', '2;a=\r\nhi\r\n0\r\n\r\n'],
    ['a control byte in an extension', '2;a\x01\r\nhi\r\n0\r\n\r\n'],
    ['a request line as an extension', '0;GET /x HTTP/1.1\r\n\r\n'],
    ['an unterminated quoted extension', '2;a="x\r\nhi\r\n0\r\n\r\n'],
    ['a request line as a trailer', '0\r\nGET /x HTTP/1.1\r\n\r\n'],
    ['a trailer with no colon', '0\r\nX-A 1\r\n\r\n'],
    ['a trailer with an empty name', '0\r\n: 1\r\n\r\n'],
    ['Content-Length as a trailer', '0\r\nContent-Length: 5\r\n\r\n'],
    ['Transfer-Encoding as a trailer', '0\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['Host as a trailer', '0\r\nhost: evil\r\n\r\n'],
    ['Content_Length as a trailer', '0\r\nContent_Length: 5\r\n\r\n'],
    ['X-Forwarded-For as a trailer', '0\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'],
    ['Proxy-Authorization as a trailer', '0\r\nProxy-Authorization: x\r\n\r\n'],
    ['an obs-folded trailer', '0\r\nX-A: 1\r\n b\r\n\r\n'],
    ['a control byte in a trailer value', '0\r\nX-A: a\x01b\r\n\r\n'],
    ['bare LF ending the body', '0\r\n\n'],
    ['CR CR ending the body', '0\r\n\r\r'],
    ['bare LF as a trailer line', '0\r\nX-A: 1\r\n\n'],
    ['bare LF in a trailer', '0\r\nX-A: 1\nX-B: 2\r\n\r\n'],
    ['NUL in a trailer', '0\r\nX-A: a\x00\r\n\r\n'],
    ['an oversized trailer section', bigTrailer],
  ])('is MALFORMED on %s', (_what, s) => {
    expect(scan(s).end).toBe(MALFORMED);
  });

  // NUL is refused anywhere in a trailer line, its first byte included.
  it('is MALFORMED on NUL starting a trailer line', () => {
    expect(scan('0\r\n\x00X: 1\r\n\r\n').end).toBe(MALFORMED);
  });

  // RFC 9112 §7.1.1 allows only BWS before `;` after the size: `5 x` must not be read as size 5
  // (a peer reading the line differently would see other framing).
  it('is MALFORMED on garbage after the size that is not an extension', () => {
    expect(scan('5 x\r\nhello\r\n0\r\n\r\n').end).toBe(MALFORMED);
  });

  it('hands out the payload unchanged for random chunkings and random reads (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        fc.boolean(),
        (chunks, cutSeeds, upper, trailer) => {
          const parts: Buffer[] = [];
          for (const c of chunks) {
            const size = c.length.toString(16);
            parts.push(bytes(`${upper ? size.toUpperCase() : size}\r\n`), Buffer.from(c), bytes('\r\n'));
          }
          parts.push(bytes(trailer ? '0\r\nX-T: 1\r\n\r\n' : '0\r\n\r\n'));
          const body = Buffer.concat(parts);
          const wire = Buffer.concat([body, bytes('NEXT')]);
          const cuts = [...new Set(cutSeeds.map((n) => n % (wire.length + 1)))].sort((a, b) => a - b);
          cuts.push(wire.length);
          const sc = new ChunkedScanner();
          const sink = new Collect();
          let from = 0;
          let end = NEED_MORE;
          for (const cut of cuts) {
            if (cut <= from) continue;
            end = sc.feed(wire, from, cut, sink);
            if (end !== NEED_MORE) break;
            from = cut;
          }
          expect(end).toBe(body.length);
          const payload = Buffer.concat(chunks);
          expect(Buffer.concat(sink.parts).equals(payload)).toBe(true);
          expect(sc.payload).toBe(payload.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
