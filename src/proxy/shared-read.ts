// Client sockets read into one shared buffer, the way upstream connections already do through
// net's public `onread` option (upstream.ts). An accepted socket has no such option, so the
// same mechanism is switched on after accept: the socket's own onread slots (the symbols net
// gives every Socket, found by their description) and its handle's useUserBuffer(). Plain and
// TLS sockets alike: a TLS socket's handle hands over decrypted bytes the same way. Each read
// then skips Node's per-read ArrayBuffer and the Readable push/'data' machinery; what a reader
// keeps past the callback it copies (isShared tells it when it must). A Node without those
// slots keeps the 'data' path (readShared returns false).
import type { Socket } from 'node:net';

// 256 KiB: an upload arrives in a quarter of the reads (and upstream writes) of 64 KiB ones.
const SHARED = Buffer.allocUnsafe(262_144);

interface OnreadSlots {
  buffer: symbol;
  callback: symbol;
}

let slots: OnreadSlots | null | undefined;

function findSlots(socket: Socket): OnreadSlots | null {
  const all = Object.getOwnPropertySymbols(socket);
  const buffer = all.find((s) => s.description === 'kBuffer');
  const callback = all.find((s) => s.description === 'kBufferCb');
  return buffer === undefined || callback === undefined ? null : { buffer, callback };
}

type Handle = { useUserBuffer?: (buf: Uint8Array) => void } | null | undefined;

/**
 * Read `socket` into the shared buffer from now on: `onRead` is called with the socket as
 * `this`, the byte count and the shared buffer (valid only during the call). Call it before
 * the first read arrives (in the accept callback). False: not available, use 'data'.
 */
export function readShared(
  socket: Socket,
  onRead: (this: Socket, n: number, buf: Buffer) => boolean,
): boolean {
  slots ??= findSlots(socket);
  const handle = (socket as unknown as { _handle: Handle })._handle;
  if (slots === null || typeof handle?.useUserBuffer !== 'function') return false;
  const own = socket as unknown as Record<symbol, unknown>;
  own[slots.buffer] = SHARED;
  own[slots.callback] = onRead;
  handle.useUserBuffer(SHARED);
  return true;
}

/**
 * Back to a plain Readable (a tunnel pipes the socket): each read is copied and pushed, so
 * 'data', pipe() and backpressure work as on any socket. The handle keeps reading into the
 * shared buffer; only the copy is kept.
 */
export function unshareReads(socket: Socket): void {
  if (slots === null || slots === undefined) return;
  (socket as unknown as Record<symbol, unknown>)[slots.callback] = pushCopy;
}

function pushCopy(this: Socket, n: number, buf: Buffer): boolean {
  return this.push(Buffer.from(buf.subarray(0, n)));
}

/** `buf` is (a view of) the shared read buffer: copy it to keep it past the read. */
export function isShared(buf: Buffer): boolean {
  return buf.buffer === SHARED.buffer;
}
