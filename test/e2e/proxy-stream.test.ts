// 1 GiB up and 1 GiB down through the proxy with flat memory: bodies are streamed with
// backpressure, never buffered whole. Client, proxy and backend share this process, so the
// RSS figure covers all three.
import net from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
// Read buffers are garbage the moment they are forwarded, but V8 frees them only after about
// 64 MiB of external memory has piled up, so peaks of 10-100 MiB were measured on a shared
// machine for the same code. A proxy that buffered the body would grow by about 1 GiB. The
// stalled-peer tests below pin backpressure down deterministically.
const FLAT = 128 * MiB;

let backends: FakeBackend[] = [];
let harness: Harness;

beforeAll(async () => {
  backends = await startFakeBackends(1);
  harness = await startProxy(simpleConfig(backends));
});

afterAll(async () => {
  await harness.close();
  await Promise.all(backends.map((b) => b.close()));
});

/** Peak RSS growth over a baseline while `run` is going. */
async function peakRssGrowth(run: () => Promise<void>): Promise<number> {
  const base = process.memoryUsage.rss();
  let peak = base;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    await run();
  } finally {
    clearInterval(t);
  }
  return Math.max(peak, process.memoryUsage.rss()) - base;
}

function body(size: number): Readable {
  const chunk = Buffer.alloc(256 * 1024, 0x41);
  let left = size / chunk.length;
  return new Readable({
    read() {
      this.push(left-- > 0 ? chunk : null);
    },
  });
}

describe('proxy: streaming', () => {
  it('uploads 1 GiB with flat memory', { timeout: 120_000 }, async () => {
    // Warm up so the heap reaches its working size first: growth then shows buffering, not GC
    // sizing (measured: ~90-105 MiB of young-generation growth whether 256 MiB or 2 GiB is sent).
    await httpRequest({ port: harness.port(), path: '/up', method: 'POST', body: body(256 * MiB) });
    let bytes = 0;
    const t0 = performance.now();
    const growth = await peakRssGrowth(async () => {
      const r = await httpRequest({
        port: harness.port(),
        path: '/up',
        method: 'POST',
        headers: { 'content-length': String(GiB) },
        body: body(GiB),
        timeoutMs: 110_000,
      });
      expect(r.status).toBe(200);
      bytes = (JSON.parse(r.text) as { bytes: number }).bytes;
    });
    const s = (performance.now() - t0) / 1000;
    console.log(
      `upload 1 GiB: ${s.toFixed(1)} s, ${(GiB / MiB / s).toFixed(0)} MiB/s, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`,
    );
    expect(bytes).toBe(GiB);
    expect(growth).toBeLessThan(FLAT);
  });

  it('downloads 1 GiB with flat memory', { timeout: 120_000 }, async () => {
    await httpRequest({ port: harness.port(), path: `/bytes/${256 * MiB}`, discardBody: true });
    let bytes = 0;
    const t0 = performance.now();
    const growth = await peakRssGrowth(async () => {
      const r = await httpRequest({
        port: harness.port(),
        path: `/bytes/${GiB}`,
        discardBody: true,
        timeoutMs: 110_000,
      });
      expect(r.status).toBe(200);
      bytes = r.bytes;
    });
    const s = (performance.now() - t0) / 1000;
    console.log(
      `download 1 GiB: ${s.toFixed(1)} s, ${(GiB / MiB / s).toFixed(0)} MiB/s, peak RSS growth ${(growth / MiB).toFixed(1)} MiB`,
    );
    expect(bytes).toBe(GiB);
    expect(growth).toBeLessThan(FLAT);
  });
});

describe('backpressure', () => {
  let per: Harness;
  beforeAll(async () => {
    per = await startProxy(simpleConfig(backends));
  });
  afterAll(async () => {
    await per.close();
  });

  it('a client that stops reading pauses the backend (download backpressure)', async () => {
    const before = process.memoryUsage.rss();
    const client = net.connect(per.port(), '127.0.0.1');
    client.write(`GET /bytes/${GiB} HTTP/1.1\r\nHost: x\r\n\r\n`);
    let received = 0;
    client.on('data', (c: Buffer) => {
      received += c.length;
      client.pause();
    });
    await new Promise((r) => setTimeout(r, 600));
    const growth = process.memoryUsage.rss() - before;
    client.destroy();
    console.log(
      `stalled download: ${(received / MiB).toFixed(1)} MiB read, RSS growth ${(growth / MiB).toFixed(1)} MiB in 600 ms`,
    );
    // Without backpressure the proxy would queue hundreds of MiB from the backend meanwhile.
    expect(growth).toBeLessThan(60 * MiB);
  });

  it('a backend that stops reading pauses the client upload (upload backpressure)', async () => {
    const stalled = net.createServer((s) => {
      s.pause();
      s.on('error', () => s.destroy());
    });
    await new Promise<void>((r) => stalled.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(stalled.address() as net.AddressInfo).port}`;
    const h = await startProxy({
      version: 1,
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: [{ name: 'stalled', address }], retries: { attempts: 0 } } },
    });
    let produced = 0;
    const chunk = Buffer.alloc(256 * 1024, 0x42);
    const upload = new Readable({
      read() {
        produced += chunk.length;
        this.push(produced <= GiB ? chunk : null);
      },
    });
    const pending = httpRequest({
      port: h.port(),
      method: 'POST',
      path: '/up',
      headers: { 'content-length': String(GiB) },
      body: upload,
      timeoutMs: 5000,
    }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 600));
    console.log(`stalled upload: ${(produced / MiB).toFixed(1)} MiB produced by the client in 600 ms`);
    // Only socket buffers fill up; the client is paused long before 1 GiB.
    expect(produced).toBeLessThan(64 * MiB);
    await h.close();
    stalled.close();
    await pending;
  });
});
