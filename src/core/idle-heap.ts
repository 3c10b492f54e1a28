// Give a load's heap back once traffic stops. After a keep-alive run V8 kept the load's garbage
// in the old generation (56.6 MB of heap used, 18.2 MB of it live), so RSS stayed where the
// load had left it: its memory reducer did not run in 30 s of idle, and a regular full GC
// frees the objects but keeps the pages committed (bench/RESULTS.md, "RSS after load"). A
// memory-reducing GC (V8's "last resort": full GCs that compact and release free pages) took
// RSS from 133 to 92 MB, below the pre-load baseline (12 ms in a probe with 180 MB of garbage). So once a thread has served
// traffic and then none for `idleMs`, and its heap grew by `minGrowthBytes` since the last
// release, it runs one; never while requests arrive, and not again until traffic comes back.
// "Grew" is the peak seen since the last release, not the size now: after a regular full GC
// V8 counts the freed pages out of its heap (physical 190 → 21 MB in a probe) while they stay
// resident (RSS 247 → 236 MB) until a memory-reducing GC gives them back (64 MB).
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleHeapOptions {
  /** Requests this thread has served so far (any monotonic count of its traffic). */
  served: () => number;
  /**
   * Traffic still running on this thread (requests and tunnels in progress): a long download
   * or a WebSocket finishes no request, and a GC of several full passes must not stall it.
   */
  inProgress?: () => number;
  /** No traffic for this long first. */
  idleMs?: number;
  /** Heap growth (its peak) since the last release (or the start) that makes one worth it. */
  minGrowthBytes?: number;
  /** The heap's size (V8's physical size by default; tests give a sequence). */
  heapSize?: () => number;
}

export interface IdleHeap {
  /** Memory-reducing GCs run so far. */
  readonly releases: number;
  stop(): void;
}

const DEFAULT_IDLE_MS = 10_000;
const DEFAULT_MIN_GROWTH = 16 * 1024 * 1024;

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

let gcFunction: GcFunction | null | undefined;

/**
 * V8's gc(), without starting Node with --expose-gc: the flag is read when a context is
 * created, so a fresh vm context gets the function. The flag stays on: V8 flags are
 * process-wide, and a thread turning it off could race another one between its set and its
 * context (the other would never get gc). Contexts created later (a replacement worker's)
 * get a `gc` global that nothing in fulcrum reads. Null when this V8 does not offer it.
 */
function memoryReducingGc(): GcFunction | null {
  if (gcFunction !== undefined) return gcFunction;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    gcFunction = typeof f === 'function' ? (f as GcFunction) : null;
  } catch {
    gcFunction = null;
  }
  return gcFunction;
}

const physicalHeap = (): number => v8.getHeapStatistics().total_physical_size;

/** Watch this thread's traffic and heap; the timer never keeps the process alive. */
export function startIdleHeapRelease(options: IdleHeapOptions): IdleHeap {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const minGrowth = options.minGrowthBytes ?? DEFAULT_MIN_GROWTH;
  const physical = options.heapSize ?? physicalHeap;
  let last = options.served();
  let lastActive = performance.now();
  let servedSinceRelease = false;
  let baseline = physical();
  let peak = baseline;
  const state = { releases: 0 };
  const check = (): void => {
    const served = options.served();
    const now = performance.now();
    const size = physical();
    if (size > peak) peak = size;
    if (served !== last) {
      last = served;
      lastActive = now;
      servedSinceRelease = true;
      return;
    }
    if (!servedSinceRelease || now - lastActive < idleMs) return;
    // Streams and tunnels still running count as traffic: wait for them to end.
    if ((options.inProgress?.() ?? 0) > 0) return;
    // Traffic stopped: one look at the heap, then wait for traffic again.
    servedSinceRelease = false;
    if (peak - baseline < minGrowth) return;
    const gc = memoryReducingGc();
    if (gc === null) return;
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    state.releases++;
    baseline = physical();
    peak = baseline;
  };
  // Checks at a quarter of the idle time: a release comes 1–1.25 × idleMs after the last request.
  const timer = setInterval(check, Math.max(10, idleMs / 4));
  timer.unref();
  return {
    get releases() {
      return state.releases;
    },
    stop: () => clearInterval(timer),
  };
}
