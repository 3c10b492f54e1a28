// The cheaper paths of issue 16 keep every byte: response bodies copied into pooled write
// slabs (src/proxy/write-slabs.ts) arrive intact however slowly the clients read, with
// length and chunked framing, and the slabs come back to the pool; client sockets read into
// one shared buffer (src/proxy/shared-read.ts) and what outlives a read (partial heads,
// pipelined requests, upload bodies) is copied intact; a `connection: close` answer ends the
// client socket once, not twice (the second end() built an Error).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientConnection } from '../../src/proxy/client-connection.ts';
import { slabsOut } from '../../src/proxy/write-slabs.ts';
import { readShared } from '../../src/proxy/shared-read.ts';
import { selfSignedCert } from '../../src/testing/tls-cert.ts';
import { startProxy, type Harness } from '../helpers/proxy-harness.ts';

/** Bytes of body `seed` of `size`: no two 64 KiB windows alike, so a reused slab shows. */
function bodyOf(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// `/len/SEED/SIZE` answers with Content-Length, `/chunked/SEED/SIZE` without (node frames it
// chunked), both in writes of uneven sizes so reads split anywhere.
let backend: http.Server;
let harness: Harness;

beforeAll(async () => {
  backend = http.createServer((req, res) => {
    if (req.method === 'POST' || req.method === 'PUT') {
      // `/sum`: the SHA-256 and length of the body received.
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      req.on('end', () => res.end(`${n} ${h.digest('hex')}`));
      // `/slow-sum`: starts reading after 300 ms, so the proxy's writes of the body queue up.
      if (req.url === '/slow-sum') {
        req.pause();
        setTimeout(() => req.resume(), 300);
      }
      // `/drop`: the backend goes away after 1 MB of the body, while the proxy still writes.
      if (req.url === '/drop') req.on('data', () => n > 1_000_000 && req.socket.destroy());
      return;
    }
    const [, kind, seed, size] = (req.url ?? '').split('/');
    const body = bodyOf(Number(seed), Number(size));
    if (kind === 'len') res.setHeader('content-length', body.length);
    let at = 0;
    let step = 1;
    const more = (): void => {
      while (at < body.length) {
        const n = Math.min(body.length - at, 1000 + ((step++ * 7919) % 90_000));
        const ok = res.write(body.subarray(at, at + n));
        at += n;
        if (!ok) return void res.once('drain', more);
      }
      res.end();
    };
    more();
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const port = (backend.address() as AddressInfo).port;
  harness = await startProxy({
    version: 1,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: { app: { backends: [{ name: 'b1', address: `127.0.0.1:${port}` }] } },
  });
});

afterAll(async () => {
  await harness.close();
  await new Promise<void>((r) => backend.close(() => r()));
});

interface RawAnswer {
  head: string;
  body: Buffer;
}

/**
 * One GET over a raw socket that stops reading for `firstStallMs` after its first bytes, then
 * for `stallMs` every `every` bytes, so the proxy's writes to it queue up (the kernel's socket
 * buffers fill) and its slabs stay lent; `connection: close` so the body ends with the
 * connection.
 */
function slowGet(
  port: number,
  path: string,
  stallMs: number,
  every: number,
  firstStallMs = 0,
  localPorts?: Set<number>,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => localPorts?.add(s.localPort as number));
    const parts: Buffer[] = [];
    let sinceStall = 0;
    s.on('data', (d: Buffer) => {
      if (parts.length === 0 && firstStallMs > 0) {
        s.pause();
        setTimeout(() => s.resume(), firstStallMs);
      }
      parts.push(d);
      sinceStall += d.length;
      if (sinceStall >= every) {
        sinceStall = 0;
        s.pause();
        setTimeout(() => s.resume(), stallMs);
      }
    });
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(parts);
      const at = all.indexOf('\r\n\r\n');
      resolve({ head: all.subarray(0, at).toString('latin1'), body: all.subarray(at + 4) });
    });
    s.write(`GET ${path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n`);
  });
}

/** The payload of a chunked body (sizes and CRLFs stripped; no trailers expected). */
function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    const size = b.subarray(at, eol).toString('latin1');
    const n = parseInt(size, 16);
    if (eol < 0 || !/^[0-9a-f]+$/.test(size) || b.length < eol + 4 + n)
      throw new Error(`malformed chunked body at byte ${at}: ${JSON.stringify(size.slice(0, 20))}`);
    if (n === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
}

describe('response bodies through pooled write slabs', () => {
  it('arrive intact to slow readers, with length and chunked framing, 8 at once', async () => {
    const sizes = [4095, 4096, 65_536, 65_537, 1_048_576, 20_000_001];
    const jobs: Promise<void>[] = [];
    // The slabs really carry these bodies: some are lent while the readers stall.
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, slabsOut())), 5);
    let seed = 1;
    for (const kind of ['len', 'chunked'] as const)
      for (const size of sizes) {
        const s = seed++;
        jobs.push(
          slowGet(harness.port(), `/${kind}/${s}/${size}`, 5 + (s % 4) * 5, 256 * 1024, 300).then((a) => {
            expect(a.head).toMatch(/^HTTP\/1\.1 200 /);
            const payload = kind === 'chunked' ? dechunk(a.body) : a.body;
            if (kind === 'len') expect(a.head).toMatch(new RegExp(`content-length: ${size}\\r?$`, 'im'));
            else expect(a.head).toMatch(/transfer-encoding: chunked/i);
            expect(payload.length).toBe(size);
            expect(sha(payload)).toBe(sha(bodyOf(s, size)));
          }),
        );
      }
    await Promise.all(jobs).finally(() => clearInterval(sample));
    expect(peak).toBeGreaterThan(0);
    // Every slab lent to those sockets came back once they had written it.
    expect(slabsOut()).toBe(0);
  }, 60_000);

  it('a client that vanishes mid-body leaves the proxy serving the next one intact', async () => {
    const gone = net.connect(harness.port(), '127.0.0.1');
    gone.write('GET /len/77/5000000 HTTP/1.1\r\nhost: t\r\n\r\n');
    await new Promise<void>((r) => gone.once('data', () => r()));
    gone.pause();
    await new Promise((r) => setTimeout(r, 50));
    gone.destroy();
    const a = await slowGet(harness.port(), '/len/78/2000000', 5, 256 * 1024);
    expect(sha(a.body)).toBe(sha(bodyOf(78, 2_000_000)));
    // The vanished socket's slabs were dropped, not kept as lent.
    expect(slabsOut()).toBe(0);
  }, 30_000);
});

/** POST `body` in writes of uneven sizes; resolves with the answer once it is complete. */
async function upload(path: string, body: Buffer, method = 'POST'): Promise<string> {
  const s = net.connect(harness.port(), '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.on('error', () => {});
  s.write(`${method} ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: ${body.length}\r\n\r\n`);
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = [1000, 70_000, 4096, 200_000][i % 4] as number;
    s.write(body.subarray(at, at + n));
    at += n;
  }
  const text = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer to ${path}`)), 20_000);
    const check = (): void => {
      const all = Buffer.concat(got).toString('latin1');
      const head = all.indexOf('\r\n\r\n');
      const len = /content-length: (\d+)/i.exec(all)?.[1];
      if (head >= 0 && len !== undefined && all.length >= head + 4 + Number(len)) {
        clearTimeout(t);
        resolve(all);
      } else s.once('data', check);
    };
    check();
  });
  s.destroy();
  return text;
}

describe('request bodies through pooled write slabs', () => {
  it('arrive intact at slow and fast backends, 8 at once, and every slab comes back', async () => {
    // The slabs really carry these bodies: the answers are too small for one, so a lent slab
    // is an upload's.
    let peak = 0;
    const sample = setInterval(() => (peak = Math.max(peak, slabsOut())), 5);
    const bodies = [4095, 4096, 65_536, 65_537, 1_048_576, 3_000_001, 8_000_000, 12_345_678].map((size, i) =>
      bodyOf(200 + i, size),
    );
    const answers = await Promise.all(
      bodies.map((b, i) => upload(i % 2 === 0 ? '/slow-sum' : '/sum', b, i % 3 === 0 ? 'PUT' : 'POST')),
    ).finally(() => clearInterval(sample));
    answers.forEach((a, i) => {
      const b = bodies[i] as Buffer;
      expect(a).toMatch(/^HTTP\/1\.1 200 /);
      expect(a).toMatch(new RegExp(`\r\n\r\n${b.length} ${sha(b)}$`));
    });
    expect(peak).toBeGreaterThan(0);
    expect(slabsOut()).toBe(0);
  }, 60_000);

  it('a backend that vanishes mid-upload gets its slabs dropped, and the next upload arrives intact', async () => {
    const gone = await upload('/drop', bodyOf(210, 6_000_000));
    expect(gone).toMatch(/^HTTP\/1\.1 502 /);
    const next = bodyOf(211, 2_000_000);
    expect(await upload('/sum', next)).toMatch(new RegExp(`\r\n\r\n${next.length} ${sha(next)}$`));
    // The dead connection's slabs were dropped, not kept as lent.
    expect(slabsOut()).toBe(0);
  }, 30_000);
});

describe('client reads through the shared buffer', () => {
  it('is the path this Node takes, for plain and TLS sockets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-shared-read-'));
    selfSignedCert(join(dir, 'key.pem'), join(dir, 'cert.pem'));
    const tlsOptions = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    for (const kind of ['plain', 'tls'] as const) {
      const server = kind === 'plain' ? net.createServer() : tls.createServer(tlsOptions);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const accepted = new Promise<boolean>((r) =>
        server.once(kind === 'plain' ? 'connection' : 'secureConnection', (s: net.Socket) => {
          r(readShared(s, () => true));
          s.destroy();
        }),
      );
      const port = (server.address() as AddressInfo).port;
      const c =
        kind === 'plain'
          ? net.connect(port, '127.0.0.1')
          : tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      c.on('error', () => {});
      expect(await accepted, kind).toBe(true);
      c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('keeps partial heads, pipelined requests and upload bodies that span reads intact', async () => {
    const bodies = [bodyOf(101, 70_000), bodyOf(102, 5), bodyOf(103, 300_000)];
    const wire = Buffer.concat(
      bodies.flatMap((b, i) => [
        Buffer.from(`POST /sum HTTP/1.1\r\nhost: t\r\ncontent-length: ${b.length}\r\nx-n: ${i}\r\n\r\n`),
        b,
      ]),
    );
    const s = net.connect(harness.port(), '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await new Promise<void>((r) => s.once('connect', () => r()));
    // Cuts inside a head, at its blank line, inside a body and across two requests: every
    // piece is read (and reused by the next read) before the next one arrives.
    for (let at = 0, i = 0; at < wire.length; i++) {
      const n = [7, 1, 40, 3000, 65_536, 131_072][i % 6] as number;
      s.write(wire.subarray(at, at + n));
      at += n;
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const text = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`3 answers expected: ${Buffer.concat(got).toString('latin1')}`)),
        10_000,
      );
      const check = (): void => {
        const all = Buffer.concat(got).toString('latin1');
        if ((all.match(/HTTP\/1\.1 200/g) ?? []).length === 3 && / [0-9a-f]{64}$/.test(all)) {
          clearTimeout(t);
          resolve(all);
        } else s.once('data', check);
      };
      check();
    });
    s.destroy();
    const sums = [...text.matchAll(/\r\n\r\n(\d+) ([0-9a-f]{64})/g)].map((m) => `${m[1]} ${m[2]}`);
    expect(sums).toEqual(bodies.map((b) => `${b.length} ${sha(b)}`));
  });

  it('copies upload bytes a slow backend has not taken before another connection reuses the buffer', async () => {
    // One upload's writes wait for a backend that reads after 300 ms while a second
    // connection's upload goes on: its reads reuse the shared buffer meanwhile.
    const upload = async (path: string, body: Buffer): Promise<string> => {
      const s = net.connect(harness.port(), '127.0.0.1');
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.write(`POST ${path} HTTP/1.1\r\nhost: t\r\ncontent-length: ${body.length}\r\n\r\n`);
      for (let at = 0; at < body.length; at += 1000) s.write(body.subarray(at, at + 1000));
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no answer to ${path}`)), 20_000);
        const check = (): void => {
          if (/ [0-9a-f]{64}$/.test(Buffer.concat(got).toString('latin1'))) {
            clearTimeout(t);
            resolve();
          } else s.once('data', check);
        };
        check();
      });
      s.destroy();
      return Buffer.concat(got).toString('latin1');
    };
    const slow = bodyOf(104, 30_000_000);
    const fast = bodyOf(105, 10_000_000);
    const [a, b] = await Promise.all([upload('/slow-sum', slow), upload('/sum', fast)]);
    expect(a).toMatch(new RegExp(`\r\n\r\n${slow.length} ${sha(slow)}$`));
    expect(b).toMatch(new RegExp(`\r\n\r\n${fast.length} ${sha(fast)}$`));
  }, 30_000);
});

describe('connection: close', () => {
  it('ends each client socket once: no second end() on a finished socket', async () => {
    // Only the proxy's ends of these 20 connections are counted (by the clients' ports).
    const ports = new Set<number>();
    const end = net.Socket.prototype.end;
    let ends = 0;
    let again = 0;
    net.Socket.prototype.end = function (this: net.Socket, ...args: unknown[]) {
      if (
        (this as net.Socket & { conn?: unknown }).conn instanceof ClientConnection &&
        ports.has(this.remotePort as number)
      ) {
        ends++;
        if (this.writableEnded) again++;
      }
      return (end as (...a: unknown[]) => net.Socket).apply(this, args);
    } as typeof end;
    try {
      for (let i = 0; i < 20; i++) {
        const a = await slowGet(harness.port(), `/len/${i}/100`, 0, Infinity, 0, ports);
        expect(a.body.length).toBe(100);
      }
      // The client's FIN arrives after the answer: give the last one time to be read.
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      net.Socket.prototype.end = end;
    }
    expect(ports.size).toBe(20);
    expect(ends).toBe(20);
    expect(again).toBe(0);
  });
});
