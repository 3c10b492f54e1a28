// Request outcomes from a worker to the main thread without a message per request: a
// single-producer single-consumer byte ring in a SharedArrayBuffer. The worker appends
// records and publishes its write position with Atomics.store; the main thread reads up to
// it every few milliseconds and publishes its read position. A record that does not fit is
// dropped and counted (the ring is bounded; the data plane never waits for the monitor).
//
// Positions are uint32 byte counters that wrap; the data size is a power of two, so a
// position modulo the size is where it lands. Records are 4-byte aligned and never split:
// one that would cross the end is preceded by a PAD word and starts again at offset 0.
import type { RequestOutcome } from '../core/events.ts';
import type { OutcomeKind } from '../data-plane/host-state.ts';

const HEADER_BYTES = 64;
const WRITE_AT = 0;
const READ_AT = 8;
const DROPPED_AT = 12;
const PAD = 0xffffffff;

const T_TRY = 1;
const T_LAME_DUCK = 2;
const T_REQUEST = 3;

const KINDS: readonly OutcomeKind[] = [
  'success',
  'http-5xx',
  'gateway-error',
  'local-failure',
  'connect-failure',
];
const KIND_INDEX = new Map(KINDS.map((k, i) => [k, i]));

/** A string longer than this (UTF-8 bytes) is cut: the ring carries facts, not payloads. */
const MAX_STRING_BYTES = 8192;
const NONE = 0xffff;
/**
 * "The same as this field of the previous record": most fields repeat from one request to the
 * next (listener, pool, backend, method, client, user agent), and an equal string is neither
 * encoded nor decoded again. Safe because records are read in the order they were written and a
 * dropped record is dropped before anything of it is written.
 */
const SAME = 0xfffe;

/** The 13 string fields of a request record, in ring order. */
const STRING_FIELDS = [
  'listener',
  'pool',
  'backend',
  'error',
  'requestId',
  'method',
  'hashKey',
  'retriedFrom',
  'path',
  'clientAddress',
  'host',
  'userAgent',
  'upstream',
] as const;
/** type u8, flags u8, status u16, retries u16, pad u16, 5 × f64. */
const REQUEST_FIXED = 8 + 5 * 8;

export function allocateRing(dataBytes: number): SharedArrayBuffer {
  if ((dataBytes & (dataBytes - 1)) !== 0) throw new Error('ring size must be a power of two');
  return new SharedArrayBuffer(HEADER_BYTES + dataBytes);
}

class RingView {
  readonly header: Int32Array;
  readonly data: Buffer;
  readonly view: DataView;
  readonly size: number;

  constructor(sab: SharedArrayBuffer) {
    this.header = new Int32Array(sab, 0, HEADER_BYTES / 4);
    this.size = sab.byteLength - HEADER_BYTES;
    this.data = Buffer.from(sab, HEADER_BYTES, this.size);
    this.view = new DataView(sab, HEADER_BYTES, this.size);
  }
}

export class OutcomeRingWriter extends RingView {
  /** Records dropped because the ring was full (the main thread also reads the header's count). */
  dropped = 0;
  /** Each string field of the last request record written. */
  readonly #last: (string | undefined)[] = new Array<string | undefined>(STRING_FIELDS.length);

  /** A finished try on the host in `slot` (the passive detector's input). */
  tryOutcome(slot: number, kind: OutcomeKind): void {
    this.#short(T_TRY, KIND_INDEX.get(kind) ?? 0, slot);
  }

  /** The host in `slot` answered with its pool's lame-duck header. */
  lameDuck(slot: number): void {
    this.#short(T_LAME_DUCK, 0, slot);
  }

  /** Short records: length u32, type u8, kind u8, slot u16 (host slots fit 16 bits). */
  #short(type: number, kind: number, slot: number): void {
    const at = this.#reserve(8);
    if (at < 0) return;
    const v = this.view;
    v.setUint8(at + 4, type);
    v.setUint8(at + 5, kind);
    v.setUint16(at + 6, slot, true);
    this.#commit(at, 8);
  }

  /** One finished client request, with everything the monitor and the access log read. */
  request(o: RequestOutcome): void {
    // Upper bound: every UTF-16 unit may take 3 bytes, plus a u16 length per field.
    let bound = 4 + REQUEST_FIXED;
    for (const f of STRING_FIELDS) {
      const s = o[f];
      bound += 2 + (s === undefined ? 0 : Math.min(MAX_STRING_BYTES, s.length * 3));
    }
    bound = (bound + 3) & ~3;
    const at = this.#reserve(bound);
    if (at < 0) return;
    const v = this.view;
    let p = at + 4;
    v.setUint8(p, T_REQUEST);
    v.setUint8(p + 1, (o.noBackend === true ? 1 : 0) | (o.slice === 'canary' ? 2 : 0));
    v.setUint16(p + 2, o.status, true);
    v.setUint16(p + 4, Math.min(0xffff, o.retries), true);
    p += 8;
    v.setFloat64(p, o.durationMs, true);
    v.setFloat64(p + 8, o.bytesIn ?? Number.NaN, true);
    v.setFloat64(p + 16, o.bytesOut ?? Number.NaN, true);
    v.setFloat64(p + 24, o.connectMs ?? Number.NaN, true);
    v.setFloat64(p + 32, o.firstByteMs ?? Number.NaN, true);
    p += 40;
    const data = this.data;
    const last = this.#last;
    for (let i = 0; i < STRING_FIELDS.length; i++) {
      const s = o[STRING_FIELDS[i] as (typeof STRING_FIELDS)[number]];
      if (s === undefined || s === last[i]) {
        v.setUint16(p, s === undefined ? NONE : SAME, true);
        p += 2;
        continue;
      }
      const n = data.write(s, p + 2, Math.min(MAX_STRING_BYTES, s.length * 3), 'utf8');
      v.setUint16(p, n, true);
      p += 2 + n;
    }
    const length = (p - at + 3) & ~3;
    this.#commit(at, length);
    for (let i = 0; i < STRING_FIELDS.length; i++)
      last[i] = o[STRING_FIELDS[i] as (typeof STRING_FIELDS)[number]];
  }

  /**
   * Offset of `bound` contiguous free bytes at the write position (after a PAD to wrap if
   * needed), or -1 (counted as dropped) when the reader is that far behind.
   */
  #reserve(bound: number): number {
    const h = this.header;
    const size = this.size;
    let w = h[WRITE_AT] as number;
    const r = Atomics.load(h, READ_AT);
    const off = (w >>> 0) % size;
    const tail = size - off;
    const needed = tail < bound ? tail + bound : bound;
    if (size - ((w - r) >>> 0) < needed) {
      this.dropped++;
      Atomics.store(h, DROPPED_AT, this.dropped);
      return -1;
    }
    if (tail < bound) {
      this.view.setUint32(off, PAD, true);
      w = (w + tail) | 0;
      h[WRITE_AT] = w;
      return 0;
    }
    return off;
  }

  /** Write the record's length word and publish the record (the store is the release). */
  #commit(at: number, length: number): void {
    this.view.setUint32(at, length, true);
    const h = this.header;
    Atomics.store(h, WRITE_AT, ((h[WRITE_AT] as number) + length) | 0);
  }
}

export interface OutcomeSink {
  tryOutcome(slot: number, kind: OutcomeKind): void;
  lameDuck(slot: number): void;
  request(outcome: RequestOutcome): void;
}

export class OutcomeRingReader extends RingView {
  /** Each string field of the last request record read (what SAME refers to). */
  readonly #last: (string | undefined)[] = new Array<string | undefined>(STRING_FIELDS.length);

  /** Records the writer dropped because the ring was full. */
  get dropped(): number {
    return Atomics.load(this.header, DROPPED_AT);
  }

  /** Hand every published record to `sink`; returns how many. */
  drain(sink: OutcomeSink): number {
    const h = this.header;
    const size = this.size;
    const v = this.view;
    const w = Atomics.load(h, WRITE_AT);
    let r = h[READ_AT] as number;
    let n = 0;
    while (r !== w) {
      const off = (r >>> 0) % size;
      const length = v.getUint32(off, true);
      if (length === PAD) {
        r = (r + (size - off)) | 0;
        continue;
      }
      const type = v.getUint8(off + 4);
      if (type === T_REQUEST) sink.request(this.#decodeRequest(off + 4));
      else if (type === T_LAME_DUCK) sink.lameDuck(v.getUint16(off + 6, true));
      else if (type === T_TRY)
        sink.tryOutcome(v.getUint16(off + 6, true), KINDS[v.getUint8(off + 5)] ?? 'success');
      r = (r + length) | 0;
      n++;
    }
    Atomics.store(h, READ_AT, r);
    return n;
  }

  #decodeRequest(at: number): RequestOutcome {
    const v = this.view;
    const flags = v.getUint8(at + 1);
    const status = v.getUint16(at + 2, true);
    const retries = v.getUint16(at + 4, true);
    let p = at + 8;
    const num = (x: number): number | undefined => (Number.isNaN(x) ? undefined : x);
    const durationMs = v.getFloat64(p, true);
    const bytesIn = num(v.getFloat64(p + 8, true));
    const bytesOut = num(v.getFloat64(p + 16, true));
    const connectMs = num(v.getFloat64(p + 24, true));
    const firstByteMs = num(v.getFloat64(p + 32, true));
    p += 40;
    const s = this.#last;
    for (let i = 0; i < STRING_FIELDS.length; i++) {
      const n = v.getUint16(p, true);
      p += 2;
      if (n === NONE) s[i] = undefined;
      else if (n !== SAME) {
        s[i] = this.data.toString('utf8', p, p + n);
        p += n;
      }
    }
    return {
      listener: s[0] ?? '',
      pool: s[1] ?? '',
      backend: s[2],
      status,
      durationMs,
      error: s[3],
      retries,
      requestId: s[4] ?? '',
      method: s[5] ?? '',
      hashKey: s[6],
      retriedFrom: s[7],
      noBackend: (flags & 1) !== 0,
      ...((flags & 2) !== 0 ? { slice: 'canary' as const } : {}),
      path: s[8],
      clientAddress: s[9],
      host: s[10],
      userAgent: s[11],
      bytesIn,
      bytesOut,
      upstream: s[12],
      connectMs,
      firstByteMs,
    };
  }
}
