// Adversarial review of the HTTP/1.1 data plane (issue 11): inputs not in the other smuggling
// suites, over raw sockets through fulcrum in front of a strict origin (node:http, llhttp
// without lenient flags) or a raw backend that answers with exactly the bytes a case needs.
import { afterEach, describe, expect, it } from 'vitest';
import { startProxy, type Harness } from '../helpers/proxy-harness.ts';
import {
  answerEachHead,
  eventually,
  rawBackend,
  RawClient,
  strictOrigin,
  type RawBackend,
  type StrictOrigin,
} from '../helpers/raw-http.ts';

let harness: Harness | undefined;
const closers: (() => Promise<void>)[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.destroy();
  await harness?.close();
  harness = undefined;
  await Promise.all(closers.splice(0).map((f) => f()));
});

async function origin(): Promise<StrictOrigin> {
  const o = await strictOrigin();
  closers.push(o.close);
  return o;
}

async function raw(onBytes: Parameters<typeof rawBackend>[0]): Promise<RawBackend> {
  const b = await rawBackend(onBytes);
  closers.push(b.close);
  return b;
}

async function proxyTo(
  address: string,
  routes: Record<string, unknown>[] = [{ pool: 'app' }],
): Promise<number> {
  harness = await startProxy({
    version: 1,
    listeners: { web: { address: '127.0.0.1:0', routes } },
    pools: {
      app: {
        backends: [{ name: 'o', address }],
        retries: { attempts: 0 },
        timeouts: { response: '3s' },
      },
    },
  });
  return harness.port();
}

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  clients.push(c);
  return c;
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';
const GET = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n\r\n`;

describe('review: request heads fulcrum must refuse before forwarding anything', () => {
  it.each([
    ['TE: chunked, identity', 'Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'],
    [
      'TE: identity then a second TE: chunked',
      'Transfer-Encoding: identity\r\nTransfer-Encoding: chunked\r\n',
      '0\r\n\r\n',
    ],
    [
      'TE: chunked twice (two fields)',
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
      '0\r\n\r\n',
    ],
    ['space before the colon', 'Transfer-Encoding : chunked\r\n', '0\r\n\r\n'],
    ['TE: xchunked', 'Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'],
    ['TE: "chunked" quoted', 'Transfer-Encoding: "chunked"\r\n', '0\r\n\r\n'],
    ['TE: chunked;q=1', 'Transfer-Encoding: chunked;q=1\r\n', '0\r\n\r\n'],
    ['TE with a vertical tab', 'Transfer-Encoding:\x0bchunked\r\n', '0\r\n\r\n'],
    ['TE obs-folded', 'Transfer-Encoding:\r\n chunked\r\n', '0\r\n\r\n'],
    ['TE and CL (CL.TE)', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'],
    ['CL: +35', 'Content-Length: +35\r\n', SMUGGLED],
    ['CL: 35, 35', 'Content-Length: 35, 35\r\n', SMUGGLED],
    ['CL: 0x23', 'Content-Length: 0x23\r\n', SMUGGLED],
    ['CL: -1', 'Content-Length: -1\r\n', SMUGGLED],
    ['CL: 35.0', 'Content-Length: 35.0\r\n', SMUGGLED],
    ['CL: 3 5', 'Content-Length: 3 5\r\n', SMUGGLED],
    ['CL: 20 digits', 'Content-Length: 00000000000000000035\r\n', SMUGGLED],
    ['CL: 1e1', 'Content-Length: 1e1\r\n', SMUGGLED],
    ['CL: 35 then CL: 0', 'Content-Length: 35\r\nContent-Length: 0\r\n', SMUGGLED],
    ['CL empty', 'Content-Length:\r\n', SMUGGLED],
    ['NUL in a value', 'X-A: a\x00b\r\n', ''],
    ['bare CR in a value', 'X-A: a\rContent-Length: 35\r\n', SMUGGLED],
    ['bare LF in a value', 'X-A: a\nContent-Length: 35\r\n', SMUGGLED],
    ['DEL in a value', 'X-A: a\x7fb\r\n', ''],
    ['a header name with obs-text', 'X-\xe9: 1\r\n', ''],
    ['a header name with a slash', 'X/A: 1\r\n', ''],
    ['a header name with a NUL', 'Content-Length\x00: 35\r\n', SMUGGLED],
    ['an empty header name', ': 1\r\n', ''],
    ['a second Host', 'Host: evil\r\n', ''],
  ])('%s: refused, and the bytes after it never reach the origin', async (_what, fields, body) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`POST /x HTTP/1.1\r\nHost: h\r\n${fields}\r\n${body}${SMUGGLED}`);
    const r = await c.response();
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(502);
    expect(r.headers['connection']).toBe('close');
    await c.waitClosed();
    expect([o.connections, o.heads, o.messages.length]).toEqual([0, 0, 0]);
  });

  it.each([
    ['double space', 'GET  /x HTTP/1.1'],
    ['trailing space', 'GET /x HTTP/1.1 '],
    ['HTTP/1.10', 'GET /x HTTP/1.10'],
    ['HTTP/2.0', 'GET /x HTTP/2.0'],
    ['lower-case version', 'GET /x http/1.1'],
    ['HTTP/0.9 style', 'GET /x'],
    ['a tab for a space', 'GET\t/x HTTP/1.1'],
    ['NUL in the target', 'GET /x\x00y HTTP/1.1'],
    ['DEL in the target', 'GET /x\x7fy HTTP/1.1'],
    ['a space in the target', 'GET /x y HTTP/1.1'],
    ['a method with a slash', 'G/T /x HTTP/1.1'],
    ['absolute-form with a bad port', 'GET http://h:8x/ HTTP/1.1'],
    ['absolute-form with an empty authority', 'GET http:///x HTTP/1.1'],
    ['absolute-form ftp', 'GET ftp://h/x HTTP/1.1'],
    ['absolute-form with an unclosed IPv6', 'GET http://[::1/x HTTP/1.1'],
    ['absolute-form with a fragment in the authority', 'GET http://h#@evil/x HTTP/1.1'],
    ['absolute-form with a backslash', 'GET http://h\\@evil/x HTTP/1.1'],
  ])('request line %s: refused, nothing forwarded', async (_what, line) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`${line}\r\nHost: h\r\n\r\n${SMUGGLED}`);
    const r = await c.response();
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    await c.waitClosed();
    expect([o.connections, o.heads]).toEqual([0, 0]);
  });

  it('HTTP/1.0 with Transfer-Encoding: chunked and a Content-Length: refused', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      `POST /x HTTP/1.0\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
    expect((await c.response()).status).toBe(400);
    expect(o.connections).toBe(0);
  });

  it('a refused request after good pipelined ones: the good ones are answered, nothing after the bad one goes on', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      `${GET('/a')}${GET('/b')}GET /c HTTP/1.1\r\nHost: h\r\nContent-Length: 0x5\r\n\r\n${SMUGGLED}${GET('/d')}`,
    );
    expect((await c.response()).body).toBe('GET /a 0');
    expect((await c.response()).body).toBe('GET /b 0');
    expect((await c.response()).status).toBe(400);
    await c.waitClosed();
    expect(o.messages.map((m) => m.url)).toEqual(['/a', '/b']);
    expect(o.parseErrors).toEqual([]);
  });

  it('Connection: close then pipelined requests: only the first is forwarded', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n${SMUGGLED}`);
    expect((await c.response()).body).toBe('GET /a 0');
    await c.waitClosed();
    expect(o.messages.map((m) => m.url)).toEqual(['/a']);
  });

  it.each([
    ['a chunk size of 16 f', 'ffffffffffffffff\r\nhello\r\n0\r\n\r\n'],
    ['chunk data longer than announced', '3\r\nhello\r\n0\r\n\r\n'],
    ['no CRLF after the chunk data', '5\r\nhello0\r\n\r\n'],
    ['bare LF line ends', '5\nhello\n0\n\n'],
    ['a negative size', '-5\r\nhello\r\n0\r\n\r\n'],
    ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['X-Forwarded-For as a trailer', '5\r\nhello\r\n0\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n'],
    ['an obs-folded trailer', '5\r\nhello\r\n0\r\nX-A: 1\r\n b\r\n\r\n'],
    ['a NUL in a trailer value', '5\r\nhello\r\n0\r\nX-A: a\x00b\r\n\r\n'],
    ['a trailer name with a space before the colon', '5\r\nhello\r\n0\r\nX-A : 1\r\n\r\n'],
  ])('chunked body with %s: refused, nothing forwarded', async (_what, body) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}${SMUGGLED}`);
    const r = await c.response();
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    await c.waitClosed();
    expect([o.connections, o.heads]).toEqual([0, 0]);
  });
});

describe('review: accepted requests reach a strict origin exactly as fulcrum counted them', () => {
  it.each([
    ['TE with a tab after the colon', 'Transfer-Encoding:\tchunked\r\n', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
    ['TE in upper case', 'Transfer-Encoding: CHUNKED\r\n', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
    ['TE with trailing whitespace', 'Transfer-Encoding: chunked \t\r\n', '5\r\nhello\r\n0\r\n\r\n', 'hello'],
    ['CL with leading zeros', 'Content-Length: 005\r\n', 'hello', 'hello'],
    ['CL twice, identical', 'Content-Length: 5\r\ncontent-length: 5\r\n', 'hello', 'hello'],
    ['a body carrying a request', 'Content-Length: 35\r\n', SMUGGLED, SMUGGLED],
    [
      'a chunk carrying a request',
      'Transfer-Encoding: chunked\r\n',
      `23\r\n${SMUGGLED}\r\n0\r\n\r\n`,
      SMUGGLED,
    ],
    ['obs-text in a value', 'X-A: caf\xe9\r\nContent-Length: 5\r\n', 'hello', 'hello'],
  ])('%s', async (_what, fields, body, payload) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`POST /x HTTP/1.1\r\nHost: h\r\n${fields}\r\n${body}${GET('/after')}`);
    expect((await c.response()).body).toBe(`POST /x ${payload.length}`);
    expect((await c.response()).body).toBe('GET /after 0');
    expect(o.messages.map((m) => [m.url, m.body])).toEqual([
      ['/x', payload],
      ['/after', ''],
    ]);
    expect(o.parseErrors).toEqual([]);
  });

  it('hop-by-hop fields and the names Connection lists do not reach the origin; the framing does', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      'POST /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, content-length, X-Secret, TE, host\r\n' +
        'Keep-Alive: timeout=99\r\nProxy-Connection: keep-alive\r\nTE: trailers\r\nUpgrade: h2c\r\n' +
        'X-Secret: s\r\nContent_Length: 99\r\nX_Forwarded_Host: evil\r\nContent-Length: 5\r\n\r\nhello',
    );
    expect((await c.response()).body).toBe('POST /x 5');
    const m = o.messages[0];
    for (const gone of [
      'keep-alive',
      'proxy-connection',
      'te',
      'upgrade',
      'x-secret',
      'content_length',
      'x_forwarded_host',
    ])
      expect([gone, m?.headers[gone]]).toEqual([gone, undefined]);
    expect([m?.headers.host, m?.headers['content-length']]).toEqual(['h', '5']);
  });

  it('Expect: 100-continue answered early by the backend: the body that follows is read as body, never as a request', async () => {
    const b = await raw((all, socket) => {
      const s = all.toString('latin1');
      // Answer at the head, before any body byte, as an auth check would.
      if (s.includes('\r\n\r\n') && !socket.writableEnded && s.startsWith('POST'))
        socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope');
    });
    const c = await client(await proxyTo(b.address));
    c.write('POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 35\r\n\r\n');
    expect((await c.response()).status).toBe(100);
    const r = await c.response();
    expect(r.status).toBe(401);
    c.write(SMUGGLED);
    // The 35 bytes were the body: no request /smuggled may come out of them.
    await new Promise((res) => setTimeout(res, 300));
    const all = b.received.map((x) => x.toString('latin1')).join('');
    expect(all).not.toContain('/smuggled');
  });

  it('an HTTP/1.0 request with Expect: 100-continue gets no 100 (a 1.0 client cannot take one)', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write('POST /x HTTP/1.0\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello');
    await c.until(() => c.closed, 'close');
    expect(c.buf.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
  });
});

/** A raw backend answering each request head by its path, whatever connection carries it. */
function byPath(answer: (path: string) => string): Parameters<typeof rawBackend>[0] {
  const answered = new Map<number, number>();
  return (all, socket, connection) => {
    const heads = all.toString('latin1').split('\r\n\r\n');
    for (let n = answered.get(connection) ?? 0; n < heads.length - 1; n++) {
      const path = /^(?:[A-Z]+) (\S+)/.exec((heads[n] as string).replace(/^[^A-Z]*/, ''))?.[1] ?? '';
      socket.write(answer(path));
    }
    answered.set(connection, heads.length - 1);
  };
}

describe('review: the response side', () => {
  /** Two requests from two clients over one pooled upstream connection. */
  async function twoClients(firstAnswer: string): Promise<{ first: string; second: string; b: RawBackend }> {
    const b = await raw(
      byPath((p) => (p === '/one' ? firstAnswer : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo')),
    );
    const port = await proxyTo(b.address);
    const c1 = await client(port);
    c1.write(GET('/one'));
    const first = (await c1.response()).body;
    await new Promise((r) => setTimeout(r, 100));
    const c2 = await client(port);
    c2.write(GET('/two'));
    const r2 = await c2.response();
    return { first, second: `${r2.status} ${r2.body}`, b };
  }

  const POISON = 'HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled';

  it('bytes after a complete Content-Length answer never reach the next client', async () => {
    const { second } = await twoClients(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello${POISON}`);
    expect(second).toBe('200 two');
  });

  it('bytes after a complete chunked answer never reach the next client', async () => {
    const { first, second } = await twoClients(
      `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${POISON}`,
    );
    expect([first, second]).toEqual(['hello', '200 two']);
  });

  it.each([
    [
      '204 with a Content-Length and a body',
      `HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello${POISON}`,
    ],
    ['304 with a body', `HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\nhello${POISON}`],
  ])('%s: the body is not forwarded, the next client gets its own answer', async (_what, first) => {
    const b = await raw(
      byPath((p) => (p === '/one' ? first : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo')),
    );
    const port = await proxyTo(b.address);
    const c1 = await client(port);
    c1.write(GET('/one'));
    const r = await c1.response();
    expect(r.status).toBeLessThan(400);
    await new Promise((res) => setTimeout(res, 100));
    const c2 = await client(port);
    c2.write(GET('/two'));
    const r2 = await c2.response();
    expect([r2.status, r2.body]).toEqual([200, 'two']);
    expect(c1.buf.length).toBe(0);
  });

  it('an unsolicited answer on an idle pooled connection never reaches the next client', async () => {
    const b = await raw(
      answerEachHead((n) =>
        n === 1
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo',
      ),
    );
    const port = await proxyTo(b.address);
    const c1 = await client(port);
    c1.write(GET('/one'));
    expect((await c1.response()).body).toBe('one');
    // The backend writes an answer nobody asked for while the connection sits in the pool.
    expect(await eventually(() => b.connections === 1)).toBe(true);
    const sockets = (b as unknown as { received: Buffer[] }).received.length;
    expect(sockets).toBe(1);
    harness?.port();
    await new Promise((res) => setTimeout(res, 50));
    const c2 = await client(port);
    c2.write(GET('/two'));
    expect((await c2.response()).body).toBe('two');
  });

  it.each([
    [
      'Content-Length and Transfer-Encoding',
      'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ],
    ['two different lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nhello'],
    ['CL: +5', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello'],
    [
      'TE: chunked, identity',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    ],
    ['a space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello'],
    [
      'a chunk size of 16 f',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n',
    ],
    [
      'chunk data longer than announced',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n',
    ],
    [
      'a bare CR in a header value',
      'HTTP/1.1 200 OK\r\nX-A: a\rSet-Cookie: x=1\r\nContent-Length: 0\r\n\r\n',
    ],
    ['a status of two digits', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/2.0', 'HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n'],
  ])('backend answer with %s: 502, and the next client gets its own answer', async (_what, bad) => {
    const b = await raw(answerEachHead(() => bad));
    const good = await origin();
    const port = await proxyTo(b.address);
    const c = await client(port);
    c.write(GET('/one'));
    const r = await c.response();
    expect(r.status).toBe(502);
    expect(good.connections).toBe(0);
  });

  it('a 101 to a request that asked for no upgrade is not a tunnel: 502', async () => {
    const b = await raw(
      answerEachHead(
        () =>
          'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nRAW-BYTES',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write(GET('/one'));
    const r = await c.response();
    expect(r.status).toBe(502);
    expect(c.buf.toString('latin1')).not.toContain('RAW-BYTES');
  });

  it('1xx from the backend to an HTTP/1.0 client: only the final answer reaches it', async () => {
    const b = await raw(
      answerEachHead(
        () => 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write('GET /x HTTP/1.0\r\nHost: h\r\n\r\n');
    await c.waitClosed();
    expect(c.buf.toString('latin1')).toMatch(/^HTTP\/1\.1 200 [^]*\r\n\r\nok$/);
  });

  it('a flood of 1xx answers is bounded: 16 relayed, then a 502', async () => {
    const flood = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n'.repeat(5000);
    const b = await raw(answerEachHead(() => `${flood}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`));
    const c = await client(await proxyTo(b.address));
    c.write(GET('/x'));
    await c.until(
      () => c.buf.includes('\r\n\r\nok') || c.buf.includes('HTTP/1.1 502'),
      'final answer',
      10_000,
    );
    for (let i = 0; i < 16; i++) expect((await c.response()).status).toBe(103);
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([502, 'FULCRUM_ERR_PROXY_UPSTREAM_RESET']);
    expect(await eventually(() => b.connections === 1 && c.buf.length === 0)).toBe(true);
  });

  it('16 interim answers are still relayed before the final one', async () => {
    const hints = 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n'.repeat(16);
    const b = await raw(answerEachHead(() => `${hints}HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok`));
    const c = await client(await proxyTo(b.address));
    c.write(GET('/x'));
    for (let i = 0; i < 16; i++) expect((await c.response()).status).toBe(103);
    expect((await c.response()).body).toBe('ok');
  });

  it('a HEAD answer with a length and a chunked one: no body is waited for or forwarded', async () => {
    const b = await raw(
      answerEachHead((n) =>
        n === 1
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'
          : n === 2
            ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
            : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write('HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n');
    const a = await c.response({ head: true });
    expect([a.status, a.headers['content-length']]).toEqual([200, '5']);
    c.write('HEAD /b HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await c.response({ head: true })).status).toBe(200);
    c.write(GET('/c'));
    expect((await c.response()).body).toBe('end');
    expect(c.buf.length).toBe(0);
  });

  it('a chunked HTTP/1.0 answer: de-chunked for the client, and the upstream connection retired (RFC 9112 §6.1)', async () => {
    const b = await raw(
      answerEachHead(
        () =>
          'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write(GET('/a'));
    const r = await c.response();
    expect(r.body).toBe('hello');
    c.write(GET('/b'));
    expect((await c.response()).body).toBe('hello');
    expect(b.connections).toBe(2);
  });

  it('a close-delimited answer to an HTTP/1.1 client is framed or ends the connection', async () => {
    const b = await raw((all, socket) => {
      if (all.includes('\r\n\r\n')) socket.end('HTTP/1.1 200 OK\r\n\r\nuntil-close');
    });
    const c = await client(await proxyTo(b.address));
    c.write(GET('/a'));
    const r = await c.response();
    expect(r.body).toBe('until-close');
    expect(c.buf.length).toBe(0);
  });
});

describe('review: methods, targets and upgrades', () => {
  it.each([
    ['a lower-case method', 'get /x HTTP/1.1'],
    ['an unknown method', 'FOO /x HTTP/1.1'],
    ['a mixed-case method', 'Post /x HTTP/1.1'],
  ])(
    '%s: 501 FULCRUM_ERR_PROXY_UNKNOWN_METHOD, nothing forwarded (a strict backend cannot parse it)',
    async (_what, line) => {
      const o = await origin();
      const c = await client(await proxyTo(o.address));
      c.write(`${line}\r\nHost: h\r\n\r\n${GET('/after')}`);
      const r = await c.response();
      expect([r.status, r.headers['x-fulcrum-error']]).toEqual([501, 'FULCRUM_ERR_PROXY_UNKNOWN_METHOD']);
      await c.waitClosed();
      expect([o.connections, o.heads]).toEqual([0, 0]);
    },
  );

  it.each([
    ['a fragment in the target', 'GET /x#frag HTTP/1.1', '/x#frag'],
    ['a %00 in the path', 'GET /x%00y HTTP/1.1', '/x%00y'],
    ['a // target', 'GET //evil.example/x HTTP/1.1', '//evil.example/x'],
    ['absolute-form with an empty port', 'GET http://h:/x HTTP/1.1', '/x'],
    ['a WebDAV method', 'PROPFIND /x HTTP/1.1', '/x'],
  ])('%s: parsed by the strict origin as fulcrum counted it', async (_what, line, url) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`${line}\r\nHost: h\r\n\r\n${GET('/after')}`);
    expect((await c.response()).status).toBe(200);
    expect((await c.response()).body).toBe('GET /after 0');
    expect(o.messages.map((m) => m.url)).toEqual([url, '/after']);
    expect(o.parseErrors).toEqual([]);
  });

  it('an HTTP/1.0 upgrade request is not tunnelled (Upgrade is an HTTP/1.1 field)', async () => {
    const b = await raw((all, socket) => {
      if (all.includes('\r\n\r\n'))
        socket.write(
          'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\nRAW',
        );
    });
    const c = await client(await proxyTo(b.address));
    c.write('GET /ws HTTP/1.0\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    // A plain request: the backend's 101 is a protocol error on a pooled connection.
    expect((await c.response()).status).toBe(502);
    expect(c.buf.toString('latin1')).not.toContain('RAW');
  });

  it('a 101 switching to another protocol than the client asked for is not a tunnel', async () => {
    const b = await raw((all, socket) => {
      if (all.includes('\r\n\r\n'))
        socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nRAW');
    });
    const c = await client(await proxyTo(b.address));
    c.write('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    const r = await c.response();
    expect(r.status).toBe(502);
    expect(c.buf.toString('latin1')).not.toContain('RAW');
  });
});

describe('review: truncated answers are never passed off as complete', () => {
  it('a Content-Length answer cut short by the backend: the client connection is cut, not kept', async () => {
    const b = await raw((all, socket) => {
      if (all.includes('\r\n\r\n')) socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhel');
    });
    const c = await client(await proxyTo(b.address));
    c.write(GET('/a'));
    await c.waitClosed();
    // The head and the 3 bytes there were, then the cut: the client sees a short body.
    expect(c.buf.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\ncontent-length: 10\r\n[^]*\r\n\r\nhel$/);
  });

  it('a chunked answer cut inside a chunk: the client never sees a last chunk', async () => {
    const b = await raw((all, socket) => {
      if (all.includes('\r\n\r\n'))
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\nhel', () => socket.destroy());
    });
    const c = await client(await proxyTo(b.address));
    c.write(GET('/a'));
    await c.waitClosed();
    expect(c.buf.toString('latin1')).not.toContain('0\r\n\r\n');
  });

  it('a HEAD answer followed by body bytes: the next client gets its own answer', async () => {
    const b = await raw(
      byPath((p) =>
        p === '/one'
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nsmuggled'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\ntwo',
      ),
    );
    const port = await proxyTo(b.address);
    const c1 = await client(port);
    c1.write('HEAD /one HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await c1.response({ head: true })).status).toBe(200);
    await new Promise((res) => setTimeout(res, 100));
    const c2 = await client(port);
    c2.write(GET('/two'));
    expect((await c2.response()).body).toBe('two');
    expect(c1.buf.length).toBe(0);
  });
});

describe('review: answers fulcrum gives itself before the body is read', () => {
  it('a Content-Length body of a request answered 404 (no route) is read as body, never as a request', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address, [{ match: { pathPrefix: '/api' }, pool: 'app' }]));
    c.write('POST /nope HTTP/1.1\r\nHost: h\r\nContent-Length: 35\r\n\r\n');
    expect((await c.response()).status).toBe(404);
    c.write(`${SMUGGLED}GET /api/after HTTP/1.1\r\nHost: h\r\n\r\n`);
    expect((await c.response()).body).toBe('GET /api/after 0');
    expect(o.messages.map((m) => m.url)).toEqual(['/api/after']);
  });

  it('a chunked body of a request answered 404 (no route) is read as body, never as a request', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address, [{ match: { pathPrefix: '/api' }, pool: 'app' }]));
    // The head waits for its first size line, so that comes with it.
    c.write('POST /nope HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n23\r\n');
    expect((await c.response()).status).toBe(404);
    c.write(`${SMUGGLED}\r\n0\r\n\r\nGET /api/after HTTP/1.1\r\nHost: h\r\n\r\n`);
    expect((await c.response()).body).toBe('GET /api/after 0');
    expect(o.messages.map((m) => m.url)).toEqual(['/api/after']);
  });

  it('chunk sizes of 12 hex digits in the first read: 413 before anything is forwarded', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\nhello`);
    expect((await c.response()).status).toBe(413);
    expect(o.connections).toBe(0);
  });

  it('obs-text in the target: 400 before forwarding (llhttp refuses it in a target)', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n${GET('/after')}`);
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([400, 'FULCRUM_ERR_PROXY_BAD_REQUEST']);
    await c.waitClosed();
    expect(o.connections).toBe(0);
  });
});
