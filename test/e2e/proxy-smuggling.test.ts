// Issue 11, data plane: every finding reproduced from the exact bytes of the issue, plus
// variants, over raw sockets through fulcrum in front of a strict origin (node:http, llhttp
// without lenient flags) or a raw backend that records the bytes fulcrum sent.
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.ts';
import { startProxy, type Harness } from '../helpers/proxy-harness.ts';
import {
  answerEachHead,
  eventually,
  parseChunked,
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

async function proxyTo(address: string, listener: Record<string, unknown> = {}): Promise<number> {
  harness = await startProxy({
    version: 1,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }], ...listener } },
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

const GET = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: h\r\n${extra}\r\n`;
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';

/** The pairs of a raw header list with this lower-case name. */
function named(rawHeaders: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2)
    if ((rawHeaders[i] as string).toLowerCase() === name) out.push(rawHeaders[i + 1] as string);
  return out;
}

describe('issue 11: Connection may not remove framing fields (request side)', () => {
  it('the exact bytes: Connection: content-length reaches the origin as one POST with its 35-byte body', async () => {
    expect(SMUGGLED.length).toBe(35);
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      `POST /first HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`,
    );
    const r = await c.response();
    expect([r.status, r.body]).toEqual([200, 'POST /first 35']);
    // A second request on the same pooled upstream connection is its own message.
    c.write(GET('/second'));
    expect((await c.response()).body).toBe('GET /second 0');
    expect(o.messages.map((m) => m.url)).toEqual(['/first', '/second']);
    expect(o.messages[0]?.body).toBe(SMUGGLED);
    expect(named(o.messages[0]?.rawHeaders ?? [], 'content-length')).toEqual(['35']);
    expect(o.parseErrors).toEqual([]);
    expect(o.connections).toBe(1);
  });

  it('a half-finished smuggled POST does not swallow the next client request (cookies included)', async () => {
    const o = await origin();
    const port = await proxyTo(o.address);
    const half = 'POST /steal HTTP/1.1\r\nHost: h\r\nContent-Length: 300\r\n\r\nx=';
    const attacker = await client(port);
    attacker.write(
      `POST /first HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: ${half.length}\r\n\r\n${half}`,
    );
    expect((await attacker.response()).body).toBe(`POST /first ${half.length}`);
    const victim = await client(port);
    victim.write(GET('/account', 'Cookie: session=secret\r\n'));
    const r = await victim.response();
    expect(r.body).toBe('GET /account 0');
    expect(o.messages.map((m) => m.url)).toEqual(['/first', '/account']);
    expect(o.messages[1]?.headers.cookie).toBe('session=secret');
    expect(o.parseErrors).toEqual([]);
  });

  it.each([
    ['Connection: host', 'Connection: host\r\n', 'GET', ''],
    [
      'Connection: transfer-encoding on a chunked body',
      'Connection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n',
      'POST',
      `${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n`,
    ],
    [
      'Connection: close, Content-Length',
      'Connection: keep-alive, Content-Length, Host\r\nContent-Length: 35\r\n',
      'POST',
      SMUGGLED,
    ],
  ])('%s: the framing fields still reach the origin', async (_what, fields, method, body) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`${method} /x HTTP/1.1\r\nHost: h\r\n${fields}\r\n${body}`);
    const r = await c.response();
    expect(r.status).toBe(200);
    c.write(GET('/after'));
    expect((await c.response()).body).toBe('GET /after 0');
    expect(o.messages.map((m) => m.url)).toEqual(['/x', '/after']);
    expect(o.messages[0]?.headers.host).toBe('h');
    expect(o.messages[0]?.body).toBe(method === 'POST' ? SMUGGLED : '');
    expect(o.parseErrors).toEqual([]);
  });
});

describe('issue 11: the same for responses', () => {
  it('a backend answer with Connection: content-length reaches the client framed, and the next answer is its own', async () => {
    const b = await raw(
      answerEachHead((n) =>
        n === 1
          ? 'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 5\r\n\r\nhello'
          : 'HTTP/1.1 200 OK\r\nConnection: Content-Length, Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nworld\r\n0\r\n\r\n',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write(GET('/one'));
    const one = await c.response();
    expect([one.status, one.body, one.headers['content-length']]).toEqual([200, 'hello', '5']);
    c.write(GET('/two'));
    const two = await c.response();
    expect([two.status, two.body, two.headers['transfer-encoding']]).toEqual([200, 'world', 'chunked']);
    expect(c.buf.length).toBe(0);
    expect(b.connections).toBe(1);
  });
});

describe('issue 11: chunked bodies are re-encoded or refused before anything is forwarded', () => {
  it.each([
    ['whitespace after a chunk size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['whitespace before an extension', '5 ;a\r\nhello\r\n0\r\n\r\n'],
    ['an empty extension (2;)', '2;\r\nhi\r\n0\r\n\r\n'],
    ['a control byte in an extension', '2;a\x01b\r\nhi\r\n0\r\n\r\n'],
    ['a request line in the last chunk extension', `0;GET /x HTTP/1.1\r\nHost: h\r\n\r\n`],
    ['a chunk size with leading zeros', '005\r\nhello\r\n0\r\n\r\n'],
    ['a 1.1 KiB chunk extension', `5;${'e'.repeat(1100)}\r\nhello\r\n0\r\n\r\n`],
    ['a request line as a trailer', '5\r\nhello\r\n0\r\nGET /x HTTP/1.1\r\n\r\n'],
    ['a trailer line with no colon', '5\r\nhello\r\n0\r\nX-A 1\r\n\r\n'],
    ['Content-Length as a trailer', '5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n'],
    ['Transfer_Encoding as a trailer', '5\r\nhello\r\n0\r\nTransfer_Encoding: chunked\r\n\r\n'],
  ])('%s: 400 FULCRUM_ERR_PROXY_BAD_CHUNK, nothing reaches the origin', async (_what, body) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(`POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([400, 'FULCRUM_ERR_PROXY_BAD_CHUNK']);
    expect(r.headers['connection']).toBe('close');
    await c.waitClosed();
    expect([o.connections, o.heads, o.messages.length]).toEqual([0, 0, 0]);
  });

  it('a bad size line sent after the head: the head waits for it, so nothing is forwarded', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write('POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    c.write('0005\r\nhello\r\n0\r\n\r\n');
    const r = await c.response();
    expect(r.headers['x-fulcrum-error']).toBe('FULCRUM_ERR_PROXY_BAD_CHUNK');
    expect(o.connections).toBe(0);
  });

  it('a first size line trickled byte by byte: the head goes on once the line is complete', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write('POST /slow HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (const b of 'a;ext=1\r') {
      c.write(b);
      await new Promise((r) => setTimeout(r, 15));
    }
    expect(o.connections).toBe(0);
    c.write('\n0123456789\r\n0\r\n\r\n');
    expect((await c.response()).body).toBe('POST /slow 10');
    expect(o.messages[0]?.body).toBe('0123456789');
  });

  it('Expect: 100-continue with a chunked body: 100 first, then the head goes on with the first size line', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write('POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n');
    expect((await c.response()).status).toBe(100);
    expect(o.connections).toBe(0);
    c.write('5\r\nhello\r\n0\r\n\r\n');
    expect((await c.response()).body).toBe('POST /up 5');
  });

  it('what goes upstream is canonical: extensions dropped, lower-case hex, trailers kept as fields', async () => {
    const b = await raw((all, s) => {
      if (all.toString('latin1').endsWith('\r\n\r\n') && all.includes('\r\n0\r\n'))
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const c = await client(await proxyTo(b.address));
    const data = 'x'.repeat(26);
    c.write(
      `POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1A;name=value;q="a\\"b"\r\n${data}\r\n3;x\r\nabc\r\n0;last\r\nX-Sum:  9 \r\n\r\n`,
    );
    expect((await c.response()).body).toBe('ok');
    const sent = (b.received[0] as Buffer).toString('latin1');
    const bodyAt = sent.indexOf('\r\n\r\n') + 4;
    expect(sent.slice(0, bodyAt)).toMatch(/\r\ntransfer-encoding: chunked\r\n/);
    const parsed = parseChunked(b.received[0] as Buffer, bodyAt);
    expect(parsed?.body.toString('latin1')).toBe(`${data}abc`);
    expect(parsed?.trailers).toEqual(['X-Sum: 9']);
    expect(sent.slice(bodyAt)).not.toMatch(/;|1A/);
  });

  it('trailers reach a strict origin as trailer fields', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      'POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n',
    );
    expect((await c.response()).body).toBe('POST /t 5');
    expect(o.messages[0]?.trailers).toEqual({ 'x-sum': '5' });
  });

  it('two identical Content-Length fields go upstream as one; Transfer_Encoding and Content_Length are dropped', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      'POST /d HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\nTransfer_Encoding: chunked\r\nContent_Length: 99\r\nConnection_: x\r\nX_Forwarded_For: 6.6.6.6\r\nX_Custom: kept\r\n\r\nhello',
    );
    expect((await c.response()).body).toBe('POST /d 5');
    const m = o.messages[0];
    expect(named(m?.rawHeaders ?? [], 'content-length')).toEqual(['5']);
    for (const gone of ['transfer_encoding', 'content_length', 'x_forwarded_for'])
      expect(named(m?.rawHeaders ?? [], gone)).toEqual([]);
    expect(named(m?.rawHeaders ?? [], 'x_custom')).toEqual(['kept']);
    expect(o.parseErrors).toEqual([]);
  });

  it('response side: malformed backend chunk lines give 502 before the head goes out', async () => {
    for (const bad of [
      '5 \r\nhello\r\n0\r\n\r\n',
      '2;\r\nhi\r\n0\r\n\r\n',
      '05\r\nhello\r\n0\r\n\r\n',
      '0\r\nContent-Length: 3\r\n\r\n',
    ]) {
      const b = await raw(
        (_all, s) => void s.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${bad}`),
      );
      const c = await client(await proxyTo(b.address));
      c.write(GET('/'));
      const r = await c.response();
      expect([bad, r.status, r.headers['x-fulcrum-error']]).toEqual([
        bad,
        502,
        'FULCRUM_ERR_PROXY_UPSTREAM_RESET',
      ]);
      await harness?.close();
    }
  });

  it('response trailers go to a client that sent TE: trailers, not to others; extensions never', async () => {
    const b = await raw(
      answerEachHead(
        () =>
          'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nX-Checksum: 42\r\n\r\n',
      ),
    );
    const c = await client(await proxyTo(b.address));
    c.write(GET('/a', 'TE: trailers\r\n'));
    const withTe = await c.response();
    expect([withTe.body, withTe.trailers]).toEqual(['hello', ['X-Checksum: 42']]);
    c.write(GET('/b'));
    const without = await c.response();
    expect([without.body, without.trailers]).toEqual(['hello', []]);
    const old = await client(harness?.port() ?? 0);
    old.write('GET /c HTTP/1.0\r\nTE: trailers\r\n\r\n');
    await old.waitClosed();
    expect(old.buf.toString('latin1')).toMatch(/\r\n\r\nhello$/);
  });
});

describe('issue 11: upgrades', () => {
  it('the exact bytes: an Upgrade request with a 35-byte body is refused at once (400 FULCRUM_ERR_PROXY_UPGRADE_BODY)', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      `GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`,
    );
    const r = await c.response(undefined, 2000);
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([400, 'FULCRUM_ERR_PROXY_UPGRADE_BODY']);
    await c.waitClosed();
    expect(o.connections).toBe(0);
  });

  it('h2c is not tunnelled: the request goes on as a plain one and what follows is routed request by request', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(
      'GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    const r = await c.response();
    expect([r.status, r.body]).toEqual([200, 'GET / 0']);
    c.write(GET('/inside'));
    expect((await c.response()).body).toBe('GET /inside 0');
    expect(o.messages[0]?.headers.upgrade).toBeUndefined();
    expect(o.messages[1]?.headers['x-forwarded-for']).toBe('127.0.0.1');
  });

  it('a protocol not on the listener list (and a mixed offer) is a plain request; listed ones tunnel', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address, { upgrades: ['websocket', 'Foo'] }));
    c.write(GET('/mixed', 'Connection: upgrade\r\nUpgrade: websocket, bar\r\n'));
    expect((await c.response()).body).toBe('GET /mixed 0');
    expect(o.messages[0]?.headers.upgrade).toBeUndefined();
    o.answer = (_m, res) => void res.end('no upgrade here');
    c.write(GET('/foo', 'Connection: upgrade\r\nUpgrade: foo/2\r\n'));
    // The tunnel path: Upgrade forwarded; a declined upgrade is relayed and the connection closed.
    const r = await c.response();
    expect([r.body, r.headers['connection']]).toEqual(['no upgrade here', 'close']);
    await c.waitClosed();
    expect(o.messages[1]?.headers.upgrade).toBe('foo/2');
  });

  it('the config refuses h2c in listeners.<name>.upgrades', () => {
    const r = configSchema.safeParse({
      version: 1,
      listeners: {
        web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }], upgrades: ['websocket', 'H2C'] },
      },
      pools: { app: { backends: [{ name: 'a', address: '127.0.0.1:1' }] } },
    });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toContain('h2c is never tunnelled');
  });
});

describe('issue 11: interop', () => {
  it('a request refused on a kept-alive connection after previous answers still gets a status line', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    for (const p of ['/1', '/2']) {
      c.write(GET(p));
      expect((await c.response()).status).toBe(200);
    }
    c.write('GET /bad HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([400, 'FULCRUM_ERR_PROXY_BAD_REQUEST']);
    await c.waitClosed();
  });

  it('a header timeout on a kept-alive connection after an answer gets its 408 status line', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address, { timeouts: { header: '300ms' } }));
    c.write(GET('/1'));
    expect((await c.response()).status).toBe(200);
    c.write('GET /slow HTTP/1.1\r\n');
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([408, 'FULCRUM_ERR_PROXY_CLIENT_TIMEOUT']);
  });

  it('empty lines before a response status line are skipped', async () => {
    const b = await raw((_all, s) => void s.write('\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const c = await client(await proxyTo(b.address));
    c.write(GET('/'));
    expect((await c.response()).body).toBe('ok');
  });

  it('100 Continue and 103 Early Hints from a strict origin reach an HTTP/1.1 client, not an HTTP/1.0 one', async () => {
    const o = await origin();
    o.answer = (_m, res) => {
      res.writeEarlyHints({ link: '</style.css>; rel=preload' }, () => res.end('final'));
    };
    const c = await client(await proxyTo(o.address));
    c.write(GET('/'));
    const hints = await c.response();
    expect([hints.status, hints.headers['link']]).toEqual([103, '</style.css>; rel=preload']);
    expect((await c.response()).body).toBe('final');
    const old = await client(harness?.port() ?? 0);
    old.write('GET / HTTP/1.0\r\n\r\n');
    const r = await old.response();
    expect([r.status, r.body]).toEqual([200, 'final']);
  });

  it('an absolute-form target is rewritten to origin-form and routed by its authority, not Host', async () => {
    const a = await origin();
    const other = await origin();
    harness = await startProxy({
      version: 1,
      listeners: {
        web: {
          address: '127.0.0.1:0',
          routes: [{ match: { host: 'other.example' }, pool: 'other' }, { pool: 'app' }],
        },
      },
      pools: {
        app: { backends: [{ name: 'a', address: a.address }] },
        other: { backends: [{ name: 'o', address: other.address }] },
      },
    });
    const c = await client(harness.port());
    c.write('GET http://other.example/x?q=1 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await c.response()).body).toBe('GET /x?q=1 0');
    c.write('GET HTTP://Other.Example HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await c.response()).body).toBe('GET / 0');
    expect(a.messages).toEqual([]);
    expect(other.messages.map((m) => [m.url, m.headers.host])).toEqual([
      ['/x?q=1', 'other.example'],
      ['/', 'Other.Example'],
    ]);
    const old = await client(harness.port());
    old.write('GET http://other.example/old HTTP/1.0\r\n\r\n');
    expect((await old.response()).body).toBe('GET /old 0');
    expect(other.messages[2]?.headers.host).toBe('other.example');
  });

  it.each([
    [
      'userinfo in the target',
      'GET http://user:pw@h/ HTTP/1.1\r\nHost: h\r\n\r\n',
      400,
      'FULCRUM_ERR_PROXY_BAD_TARGET',
    ],
    ['asterisk-form for GET', 'GET * HTTP/1.1\r\nHost: h\r\n\r\n', 400, 'FULCRUM_ERR_PROXY_BAD_TARGET'],
    ['CONNECT', 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n', 405, 'FULCRUM_ERR_PROXY_METHOD_NOT_ALLOWED'],
    ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, 'FULCRUM_ERR_PROXY_HTTP2_PREFACE'],
    ['PRI * HTTP/1.1', 'PRI * HTTP/1.1\r\nHost: h\r\n\r\n', 400, 'FULCRUM_ERR_PROXY_HTTP2_PREFACE'],
  ])('%s is refused with its code, nothing forwarded', async (_what, bytes, status, code) => {
    const o = await origin();
    const c = await client(await proxyTo(o.address));
    c.write(GET('/before'));
    expect((await c.response()).status).toBe(200);
    c.write(bytes);
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([status, code]);
    expect(o.messages.map((m) => m.url)).toEqual(['/before']);
  });

  it('limits are checked before the head goes upstream: a first chunk over maxBodySize gets 413, nothing forwarded', async () => {
    const o = await origin();
    const c = await client(await proxyTo(o.address, { limits: { maxBodySize: '1KiB' } }));
    c.write('POST /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n801\r\nxx');
    const r = await c.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([413, 'FULCRUM_ERR_PROXY_BODY_TOO_LARGE']);
    const c2 = await client(harness?.port() ?? 0);
    c2.write('POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n');
    expect((await c2.response()).status).toBe(413);
    expect(await eventually(() => o.connections > 0, 200)).toBe(false);
  });
});
