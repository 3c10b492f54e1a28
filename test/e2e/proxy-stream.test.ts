// 1 GiB up and 1 GiB down through the proxy with flat memory: bodies are streamed with
// backpressure, never buffered whole. Client, proxy and backend share this process, so the
// RSS figure covers all three.
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { httpRequest } from '../helpers/http-client.ts';
import { simpleConfig, startProxy, type Harness } from '../helpers/proxy-harness.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

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
    expect(growth).toBeLessThan(100 * MiB);
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
    expect(growth).toBeLessThan(100 * MiB);
  });
});
