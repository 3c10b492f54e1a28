// Issue 11's invariant as a property: over generated and mutated requests and responses, the
// bytes fulcrum forwards parse, under a strict HTTP/1.1 parser (node:http's llhttp without
// lenient flags: a real origin for requests, a real client for responses), as exactly the
// messages fulcrum accepted, with the same bodies, or fulcrum refused the input before
// forwarding anything. The upstream pool is shared by every case, so a byte left over on a
// pooled connection would show up as an origin parse error or a wrong message in a later case.
import fc from 'fast-check';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Harness } from '../helpers/proxy-harness.ts';
import {
  rawBackend,
  RawClient,
  strictOrigin,
  type RawBackend,
  type StrictOrigin,
} from '../helpers/raw-http.ts';

const RUNS = 400;
const TIME_LIMIT_MS = 40_000;

/** Lower-case header names the generator may use besides the framing ones. */
const NAMES = ['x-a', 'x-b', 'accept', 'user-agent', 'x-custom', 'cookie'] as const;
const value = fc.stringMatching(/^(?:[!-~](?:[ -~]{0,16}[!-~])?)?$/);
const payload = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1'));
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';

/** What a mutation does to the request, and whether fulcrum must refuse it. */
const REQUEST_MUTATIONS = [
  'none',
  'connection-content-length',
  'connection-host',
  'connection-transfer-encoding',
  'duplicate-length',
  'different-lengths',
  'underscore-framing',
  'length-and-chunked',
  'empty-extension',
  'space-after-size',
  'control-in-extension',
  'leading-zero',
  'length-trailer',
  'request-line-trailer',
  'trailer-without-colon',
  'bare-lf',
  'obs-fold',
  'absolute-form',
  'userinfo',
  'smuggled-body',
] as const;
type RequestMutation = (typeof REQUEST_MUTATIONS)[number];

const REFUSED: ReadonlySet<RequestMutation> = new Set([
  'different-lengths',
  'length-and-chunked',
  'empty-extension',
  'space-after-size',
  'control-in-extension',
  'leading-zero',
  'length-trailer',
  'request-line-trailer',
  'trailer-without-colon',
  'bare-lf',
  'obs-fold',
  'userinfo',
]);

/** Mutations that only make sense on a chunked body, or on a Content-Length one. */
const NEEDS_CHUNKED: ReadonlySet<RequestMutation> = new Set([
  'connection-transfer-encoding',
  'empty-extension',
  'space-after-size',
  'control-in-extension',
  'leading-zero',
  'length-trailer',
  'request-line-trailer',
  'trailer-without-colon',
]);
const NEEDS_LENGTH: ReadonlySet<RequestMutation> = new Set([
  'connection-content-length',
  'duplicate-length',
  'different-lengths',
  'underscore-framing',
  'length-and-chunked',
]);

interface RequestCase {
  framing: 'none' | 'length' | 'chunked';
  path: string;
  headers: [string, string][];
  body: string;
  cuts: number[];
  extensions: number[];
  upperHex: boolean;
  trailer: boolean;
  mutation: RequestMutation;
}

const requestCase: fc.Arbitrary<RequestCase> = fc
  .record({
    framing: fc.constantFrom('none', 'length', 'chunked'),
    path: fc.stringMatching(/^\/[a-z0-9._~-]{0,8}$/),
    headers: fc.array(fc.tuple(fc.constantFrom(...NAMES), value), { maxLength: 4 }),
    body: payload,
    cuts: fc.array(fc.nat(), { maxLength: 4 }),
    extensions: fc.array(fc.nat(3), { maxLength: 6 }),
    upperHex: fc.boolean(),
    trailer: fc.boolean(),
    mutation: fc.constantFrom(...REQUEST_MUTATIONS),
  })
  .map((c) => {
    const framing = NEEDS_CHUNKED.has(c.mutation)
      ? 'chunked'
      : NEEDS_LENGTH.has(c.mutation) || (c.mutation === 'smuggled-body' && c.framing === 'none')
        ? 'length'
        : c.framing;
    const body = c.mutation === 'smuggled-body' ? SMUGGLED + c.body : framing === 'none' ? '' : c.body;
    return { ...c, framing, body: framing === 'chunked' && body === '' ? 'x' : body };
  });

const EXTENSIONS = ['', ';a=b', ';x', ';q="v w"'];

/** The request bytes, and the payload and target the origin must see if fulcrum accepts it. */
function requestBytes(c: RequestCase, id: number): { wire: string; url: string } {
  const m = c.mutation;
  const url = `${c.path}?id=${id}`;
  const target = m === 'absolute-form' ? `http://h${url}` : m === 'userinfo' ? `http://user:pw@h${url}` : url;
  const lines = [`${c.framing === 'none' ? 'GET' : 'POST'} ${target} HTTP/1.1`, 'Host: h'];
  for (const [n, v] of c.headers) lines.push(`${n}: ${v}`);
  const len = String(c.body.length);
  if (m === 'connection-content-length') lines.push('Connection: content-length');
  if (m === 'connection-host') lines.push('Connection: host');
  if (m === 'connection-transfer-encoding') lines.push('Connection: Transfer-Encoding');
  if (c.framing === 'length') lines.push(`Content-Length: ${len}`);
  if (m === 'duplicate-length') lines.push(`Content-Length: ${len}`);
  if (m === 'different-lengths') lines.push(`Content-Length: ${c.body.length + 1}`);
  if (m === 'underscore-framing')
    lines.push('Transfer_Encoding: chunked', `Content_Length: ${c.body.length + 7}`);
  if (c.framing === 'chunked' || m === 'length-and-chunked') lines.push('Transfer-Encoding: chunked');
  if (m === 'obs-fold') lines.push('X-Folded: a', ' b');
  let head = `${lines.join('\r\n')}\r\n\r\n`;
  if (m === 'bare-lf') head = head.replace('Host: h\r\n', 'X-Lf: a\nHost: h\r\n');
  if (c.framing !== 'chunked') return { wire: head + c.body, url };

  const cuts = [...new Set(c.cuts.map((n) => n % c.body.length))].filter((n) => n > 0).sort((a, b) => a - b);
  cuts.push(c.body.length);
  let body = '';
  let from = 0;
  cuts.forEach((cut, i) => {
    let size = (cut - from).toString(16);
    if (c.upperHex) size = size.toUpperCase();
    if (i === 0 && m === 'leading-zero') size = `0${size}`;
    let ext = EXTENSIONS[c.extensions[i] ?? 0] as string;
    if (i === 0 && m === 'empty-extension') ext = ';';
    if (i === 0 && m === 'space-after-size') ext = ' ';
    if (i === 0 && m === 'control-in-extension') ext = ';a\x01';
    body += `${size}${ext}\r\n${c.body.slice(from, cut)}\r\n`;
    from = cut;
  });
  body += '0\r\n';
  if (c.trailer) body += 'X-Trailer: t\r\n';
  if (m === 'length-trailer') body += 'Content-Length: 3\r\n';
  if (m === 'request-line-trailer') body += 'GET /x HTTP/1.1\r\n';
  if (m === 'trailer-without-colon') body += 'X-NoColon\r\n';
  return { wire: `${head}${body}\r\n`, url };
}

/** Header names of a raw list with this lower-case name. */
function count(rawHeaders: string[], name: string): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if ((rawHeaders[i] as string).toLowerCase() === name) n++;
  return n;
}

describe('issue 11 invariant, requests: what reaches a strict origin is exactly what fulcrum accepted', () => {
  let origin: StrictOrigin;
  let harness: Harness;

  beforeAll(async () => {
    origin = await strictOrigin();
    harness = await startProxy({
      version: 1,
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          backends: [{ name: 'o', address: origin.address }],
          retries: { attempts: 0 },
          timeouts: { response: '5s' },
        },
      },
    });
  });
  afterAll(async () => {
    await harness.close();
    await origin.close();
  });

  it('holds for generated and mutated requests', async () => {
    let id = 0;
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(requestCase, async (c) => {
        const { wire, url } = requestBytes(c, ++id);
        const before = { heads: origin.heads, messages: origin.messages.length };
        const client = await RawClient.open(harness.port());
        try {
          client.write(wire);
          const r = await client.response();
          if (REFUSED.has(c.mutation)) {
            expect(r.headers['x-fulcrum-error'], c.mutation).toMatch(/^FULCRUM_ERR_PROXY_/);
            expect([r.status >= 400, r.headers['connection']]).toEqual([true, 'close']);
            // Refused before anything was forwarded: the origin saw no byte of it.
            expect({ heads: origin.heads, messages: origin.messages.length }).toEqual(before);
            refused++;
            return;
          }
          expect([r.status, r.headers['x-fulcrum-error']], c.mutation).toEqual([200, undefined]);
          expect(origin.messages.length).toBe(before.messages + 1);
          const m = origin.messages.at(-1) as (typeof origin.messages)[number];
          expect([m.method, m.url]).toEqual([c.framing === 'none' ? 'GET' : 'POST', url]);
          expect(m.body === c.body, `body of ${c.mutation}`).toBe(true);
          expect(m.headers.host).toBe('h');
          expect(count(m.rawHeaders, 'content-length')).toBeLessThanOrEqual(1);
          expect(count(m.rawHeaders, 'transfer_encoding') + count(m.rawHeaders, 'content_length')).toBe(0);
          if (c.framing === 'chunked' && c.trailer) expect(m.trailers).toEqual({ 'x-trailer': 't' });
          accepted++;
        } finally {
          client.socket.destroy();
        }
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
    );
    // Every message the origin parsed is one fulcrum accepted and counted; no stray bytes.
    expect(origin.parseErrors).toEqual([]);
    expect(origin.heads).toBe(accepted);
    expect(origin.messages.length).toBe(accepted);
    expect(harness.outcomes.filter((o) => o.status === 200 && o.error === undefined)).toHaveLength(accepted);
    expect(accepted).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  }, 120_000);
});

// --- responses ---------------------------------------------------------------------------

const RESPONSE_MUTATIONS = [
  'none',
  'connection-content-length',
  'connection-transfer-encoding',
  'duplicate-length',
  'underscore-framing',
  'empty-lines-before',
  'interim-100',
  'interim-103',
  'extension',
  'trailer',
  'length-and-chunked',
  'different-lengths',
  'space-after-size',
  'empty-extension',
  'leading-zero',
  'length-trailer',
] as const;
type ResponseMutation = (typeof RESPONSE_MUTATIONS)[number];
const BAD_RESPONSES: ReadonlySet<ResponseMutation> = new Set([
  'length-and-chunked',
  'different-lengths',
  'space-after-size',
  'empty-extension',
  'leading-zero',
  'length-trailer',
]);
const RESPONSE_NEEDS_CHUNKED: ReadonlySet<ResponseMutation> = new Set([
  'connection-transfer-encoding',
  'extension',
  'trailer',
  'space-after-size',
  'empty-extension',
  'leading-zero',
  'length-trailer',
]);
const RESPONSE_NEEDS_LENGTH: ReadonlySet<ResponseMutation> = new Set([
  'connection-content-length',
  'duplicate-length',
  'underscore-framing',
  'length-and-chunked',
  'different-lengths',
]);

interface ResponseCase {
  status: 200 | 201 | 404 | 500;
  framing: 'length' | 'chunked' | 'close';
  headers: [string, string][];
  body: string;
  cuts: number[];
  mutation: ResponseMutation;
}

const responseCase: fc.Arbitrary<ResponseCase> = fc
  .record({
    status: fc.constantFrom(200, 201, 404, 500),
    framing: fc.constantFrom('length', 'chunked', 'close'),
    headers: fc.array(fc.tuple(fc.constantFrom('x-a', 'x-b', 'cache-control', 'set-cookie'), value), {
      maxLength: 3,
    }),
    body: payload,
    cuts: fc.array(fc.nat(), { maxLength: 3 }),
    mutation: fc.constantFrom(...RESPONSE_MUTATIONS),
  })
  .map((c) => {
    const framing = RESPONSE_NEEDS_CHUNKED.has(c.mutation)
      ? 'chunked'
      : RESPONSE_NEEDS_LENGTH.has(c.mutation)
        ? 'length'
        : c.framing;
    return { ...c, framing, body: c.body === '' ? 'x' : c.body };
  });

function responseBytes(c: ResponseCase): string {
  const m = c.mutation;
  const lines = [`HTTP/1.1 ${c.status} Whatever`];
  for (const [n, v] of c.headers) lines.push(`${n}: ${v}`);
  if (m === 'connection-content-length') lines.push('Connection: content-length');
  if (m === 'connection-transfer-encoding') lines.push('Connection: transfer-encoding');
  if (c.framing === 'length') lines.push(`Content-Length: ${c.body.length}`);
  if (m === 'duplicate-length') lines.push(`Content-Length: ${c.body.length}`);
  if (m === 'different-lengths') lines.push(`Content-Length: ${c.body.length + 1}`);
  if (m === 'underscore-framing') lines.push('Transfer_Encoding: chunked');
  if (c.framing === 'chunked' || m === 'length-and-chunked') lines.push('Transfer-Encoding: chunked');
  if (c.framing === 'close') lines.push('Connection: close');
  let prefix = '';
  if (m === 'empty-lines-before') prefix = '\r\n\r\n';
  if (m === 'interim-100') prefix = 'HTTP/1.1 100 Continue\r\n\r\n';
  if (m === 'interim-103') prefix = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n';
  const head = `${prefix}${lines.join('\r\n')}\r\n\r\n`;
  if (c.framing !== 'chunked') return head + c.body;
  const cuts = [...new Set(c.cuts.map((n) => n % c.body.length))].filter((n) => n > 0).sort((a, b) => a - b);
  cuts.push(c.body.length);
  let body = '';
  let from = 0;
  cuts.forEach((cut, i) => {
    let size = (cut - from).toString(16);
    if (i === 0 && m === 'leading-zero') size = `0${size}`;
    const ext =
      i === 0 && m === 'extension'
        ? ';name="v"'
        : i === 0 && m === 'space-after-size'
          ? ' '
          : i === 0 && m === 'empty-extension'
            ? ';'
            : '';
    body += `${size}${ext}\r\n${c.body.slice(from, cut)}\r\n`;
    from = cut;
  });
  body += '0\r\n';
  if (m === 'trailer') body += 'X-Checksum: 1\r\n';
  if (m === 'length-trailer') body += 'Content-Length: 9\r\n';
  return `${head}${body}\r\n`;
}

describe('issue 11 invariant, responses: what a strict client reads is exactly what the backend answered, or 502', () => {
  let backend: RawBackend;
  let harness: Harness;
  const cases = new Map<string, ResponseCase>();

  beforeAll(async () => {
    // Answers each request head (body-less GETs, `/case/<id>`) with its case's bytes.
    const answered = new Map<number, number>();
    backend = await rawBackend((all, socket, conn) => {
      const text = all.toString('latin1');
      const heads = text.split('\r\n\r\n').slice(0, -1);
      for (let i = answered.get(conn) ?? 0; i < heads.length; i++) {
        answered.set(conn, i + 1);
        const id = /^GET \/case\/(\d+) /.exec(heads[i] as string)?.[1] ?? '';
        const c = cases.get(id);
        if (c === undefined) throw new Error(`no case ${id}`);
        socket.write(Buffer.from(responseBytes(c), 'latin1'));
        if (c.framing === 'close') socket.end();
      }
    });
    harness = await startProxy({
      version: 1,
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: {
        app: {
          backends: [{ name: 'raw', address: backend.address }],
          retries: { attempts: 0 },
          timeouts: { response: '5s' },
        },
      },
    });
  });
  afterAll(async () => {
    await harness.close();
    await backend.close();
  });

  it('holds for generated and mutated responses, on one kept-alive client connection', async () => {
    // One socket: every case is read after the previous one on the same client connection.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    let id = 0;
    let good = 0;
    let bad = 0;
    try {
      await fc.assert(
        fc.asyncProperty(responseCase, async (c) => {
          const key = String(++id);
          cases.set(key, c);
          const got = await new Promise<{
            status: number;
            body: string;
            error?: string;
            interim: number[];
            trailers: NodeJS.Dict<string>;
          }>((resolve, reject) => {
            const interim: number[] = [];
            const req = http.request(
              {
                host: '127.0.0.1',
                port: harness.port(),
                path: `/case/${key}`,
                agent,
                headers: { te: 'trailers' },
              },
              (res) => {
                const parts: Buffer[] = [];
                res.on('data', (d: Buffer) => parts.push(d));
                res.on('end', () =>
                  resolve({
                    status: res.statusCode ?? 0,
                    body: Buffer.concat(parts).toString('latin1'),
                    error: res.headers['x-fulcrum-error'] as string | undefined,
                    interim,
                    trailers: res.trailers,
                  }),
                );
                res.on('error', reject);
              },
            );
            req.on('information', (info) => interim.push(info.statusCode));
            req.on('error', reject);
            req.setTimeout(5000, () => req.destroy(new Error('timeout')));
            req.end();
          });
          if (BAD_RESPONSES.has(c.mutation)) {
            expect([got.status, got.error], c.mutation).toEqual([502, 'FULCRUM_ERR_PROXY_UPSTREAM_RESET']);
            bad++;
            return;
          }
          expect([got.status, got.error], c.mutation).toEqual([c.status, undefined]);
          expect(got.body === c.body, `body of ${c.mutation}`).toBe(true);
          if (c.mutation === 'interim-100') expect(got.interim).toEqual([100]);
          if (c.mutation === 'interim-103') expect(got.interim).toEqual([103]);
          if (c.mutation === 'trailer') expect(got.trailers).toEqual({ 'x-checksum': '1' });
          good++;
        }),
        { numRuns: RUNS, interruptAfterTimeLimit: TIME_LIMIT_MS, markInterruptAsFailure: false },
      );
    } finally {
      agent.destroy();
    }
    expect(good).toBeGreaterThan(10);
    expect(bad).toBeGreaterThan(5);
  }, 120_000);
});
