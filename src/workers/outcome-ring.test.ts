import { describe, expect, it } from 'vitest';
import type { RequestOutcome } from '../core/events.ts';
import type { OutcomeKind } from '../data-plane/host-state.ts';
import { allocateRing, OutcomeRingReader, OutcomeRingWriter, type OutcomeSink } from './outcome-ring.ts';

function outcome(i: number, extra: Partial<RequestOutcome> = {}): RequestOutcome {
  return {
    listener: 'web',
    pool: 'app',
    backend: `b${i % 3}`,
    status: 200 + (i % 300),
    durationMs: i / 7,
    error: undefined,
    retries: i % 2,
    requestId: `id-${i}`,
    method: 'GET',
    hashKey: undefined,
    retriedFrom: undefined,
    noBackend: false,
    path: `/p/${i}?q=é`,
    clientAddress: '127.0.0.1',
    host: 'example.test',
    userAgent: undefined,
    bytesIn: 100 + i,
    bytesOut: 2000 + i,
    upstream: '127.0.0.1:9000',
    connectMs: undefined,
    firstByteMs: 1.5,
    ...extra,
  };
}

class Collect implements OutcomeSink {
  tries: [number, OutcomeKind][] = [];
  lame: number[] = [];
  requests: RequestOutcome[] = [];
  tryOutcome(slot: number, kind: OutcomeKind): void {
    this.tries.push([slot, kind]);
  }
  lameDuck(slot: number): void {
    this.lame.push(slot);
  }
  request(o: RequestOutcome): void {
    this.requests.push(o);
  }
}

describe('outcome ring', () => {
  it('carries request outcomes, tries and lame-duck signals in order, field for field', () => {
    const sab = allocateRing(1 << 16);
    const w = new OutcomeRingWriter(sab);
    const r = new OutcomeRingReader(sab);
    w.tryOutcome(20_000, 'connect-failure');
    w.request(outcome(1, { error: 'FULCRUM_ERR_PROXY_NO_BACKEND', noBackend: true, backend: undefined }));
    w.lameDuck(7);
    w.request(outcome(2, { slice: 'canary' }));
    const sink = new Collect();
    expect(r.drain(sink)).toBe(4);
    expect(sink.tries).toEqual([[20_000, 'connect-failure']]);
    expect(sink.lame).toEqual([7]);
    expect(sink.requests).toEqual([
      outcome(1, { error: 'FULCRUM_ERR_PROXY_NO_BACKEND', noBackend: true, backend: undefined }),
      outcome(2, { slice: 'canary' }),
    ]);
    expect(r.drain(sink)).toBe(0);
  });

  it('carries every field of RequestOutcome (a new field fails to compile here until the ring carries it)', () => {
    const full: Required<RequestOutcome> = {
      listener: 'web',
      pool: 'app',
      backend: 'b1',
      status: 502,
      durationMs: 12.5,
      error: 'FULCRUM_ERR_PROXY_UPSTREAM_RESET',
      retries: 1,
      requestId: 'r-1',
      method: 'POST',
      hashKey: 'user-42',
      retriedFrom: 'b0',
      noBackend: false,
      slice: 'canary',
      path: '/a?b=c',
      clientAddress: '::1',
      host: 'example.test',
      userAgent: 'curl/8',
      bytesIn: 10,
      bytesOut: 20,
      upstream: '127.0.0.1:9',
      connectMs: 0.25,
      firstByteMs: 3,
    };
    const sab = allocateRing(1 << 16);
    new OutcomeRingWriter(sab).request(full);
    const sink = new Collect();
    new OutcomeRingReader(sab).drain(sink);
    expect(sink.requests).toEqual([full]);
  });

  it('wraps around the end of its buffer many times without losing or splitting a record', () => {
    const sab = allocateRing(1 << 12);
    const w = new OutcomeRingWriter(sab);
    const r = new OutcomeRingReader(sab);
    const sink = new Collect();
    for (let i = 0; i < 2000; i++) {
      w.request(outcome(i));
      w.tryOutcome(i % 1000, 'success');
      if (i % 5 === 4) r.drain(sink);
    }
    r.drain(sink);
    expect(sink.requests.length).toBe(2000);
    expect(sink.requests.map((o) => o.requestId)).toEqual(Array.from({ length: 2000 }, (_, i) => `id-${i}`));
    expect(sink.requests[1999]).toEqual(outcome(1999));
    expect(sink.tries.length).toBe(2000);
    expect(w.dropped).toBe(0);
  });

  it('drops and counts what does not fit while the reader is behind, then goes on', () => {
    const sab = allocateRing(1 << 12);
    const w = new OutcomeRingWriter(sab);
    const r = new OutcomeRingReader(sab);
    for (let i = 0; i < 200; i++) w.request(outcome(i));
    expect(w.dropped).toBeGreaterThan(0);
    expect(r.dropped).toBe(w.dropped);
    const sink = new Collect();
    const got = r.drain(sink);
    expect(got + w.dropped).toBe(200);
    w.request(outcome(500));
    r.drain(sink);
    // Fields "the same as the last record" refer to the last record written, never a dropped one.
    expect(sink.requests.at(-1)).toEqual(outcome(500));
    for (let i = 0; i < 200; i++) w.request(outcome(7, { userAgent: `ua-${i}` }));
    const tail = new Collect();
    r.drain(tail);
    // ua-199 was dropped (the ring was full): written now, it must go out in full.
    expect(tail.requests.at(-1)?.userAgent).not.toBe('ua-199');
    w.request(outcome(7, { userAgent: 'ua-199' }));
    r.drain(tail);
    expect(tail.requests.at(-1)).toEqual(outcome(7, { userAgent: 'ua-199' }));
    for (const o of tail.requests) expect(o.userAgent).toMatch(/^ua-\d+$/);
  });

  it('cuts a string past 8 KiB instead of refusing the record', () => {
    const sab = allocateRing(1 << 16);
    const w = new OutcomeRingWriter(sab);
    const r = new OutcomeRingReader(sab);
    w.request(outcome(1, { path: `/${'x'.repeat(20_000)}` }));
    const sink = new Collect();
    r.drain(sink);
    expect(sink.requests[0]?.path?.length).toBe(8192);
  });
});
