import { afterEach, describe, expect, it } from 'vitest';
import { startIdleHeapRelease, type IdleHeap } from './idle-heap.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rss = () => process.memoryUsage().rss;

/** ~`mb` MB of objects that live long enough to reach the old generation, then die. */
async function oldGarbage(mb: number, tick: () => void): Promise<void> {
  let keep: { s: string; n: number[] }[] | undefined = [];
  for (let i = 0; i < mb * 8000; i++) {
    keep.push({ s: `request-${i}-${'x'.repeat(40)}`, n: [i, i + 1] });
    if (i % 50_000 === 0) {
      tick();
      // A turn for the scavenger to promote what is kept.
      await sleep(1);
    }
  }
  keep = undefined;
  void keep;
}

/** Wait (bounded) until `cond` holds. */
async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(20);
}

let watcher: IdleHeap | undefined;
afterEach(() => watcher?.stop());

describe('idle heap release', () => {
  it('after traffic stops, gives the load’s old-generation garbage back, once', async () => {
    let served = 0;
    watcher = startIdleHeapRelease({ served: () => served, idleMs: 200, minGrowthBytes: 8 << 20 });
    await oldGarbage(60, () => served++);
    const loaded = rss();
    await until(() => watcher?.releases === 1, 5000);
    expect(watcher.releases).toBe(1);
    // The pages went back to the system, not only the objects to V8 (~180 MB of heap was
    // garbage; a regular full GC gave back under 10 MB of RSS of it).
    expect(loaded - rss()).toBeGreaterThan(50 << 20);
    // No traffic since: no second release, however long it stays idle.
    await sleep(700);
    expect(watcher.releases).toBe(1);
    // Traffic again, and idle again: one more.
    await oldGarbage(60, () => served++);
    await until(() => watcher?.releases === 2, 5000);
    expect(watcher.releases).toBe(2);
  }, 30_000);

  it('judges growth by the peak since the last release: a regular GC shrinks the figures, not RSS', async () => {
    // What V8 reported in a probe: the heap at 190 MB under load, 21 MB after a regular full
    // GC while RSS stayed at 236 MB. The peak decides, so the release still comes.
    let served = 0;
    let size = 10 << 20;
    watcher = startIdleHeapRelease({
      served: () => served,
      idleMs: 200,
      minGrowthBytes: 16 << 20,
      heapSize: () => size,
    });
    size = 190 << 20;
    for (let i = 0; i < 10; i++) {
      served++;
      await sleep(30);
    }
    size = 21 << 20;
    await until(() => watcher?.releases === 1, 5000);
    expect(watcher.releases).toBe(1);
  }, 30_000);

  it('waits while a stream or tunnel is still running, though no request finishes', async () => {
    let served = 0;
    let open = 1;
    watcher = startIdleHeapRelease({
      served: () => served,
      inProgress: () => open,
      idleMs: 100,
      minGrowthBytes: 8 << 20,
    });
    await oldGarbage(30, () => served++);
    await sleep(600);
    expect(watcher.releases).toBe(0);
    open = 0;
    await until(() => watcher?.releases === 1, 5000);
    expect(watcher.releases).toBe(1);
  }, 30_000);

  it('never runs while requests keep arriving', async () => {
    let served = 0;
    watcher = startIdleHeapRelease({ served: () => served, idleMs: 200, minGrowthBytes: 1 });
    await oldGarbage(30, () => served++);
    for (let i = 0; i < 40; i++) {
      served++;
      await sleep(20);
    }
    expect(watcher.releases).toBe(0);
  }, 30_000);

  it('leaves a heap that did not grow alone, and a thread that never served', async () => {
    let served = 0;
    watcher = startIdleHeapRelease({ served: () => served, idleMs: 100, minGrowthBytes: 1 << 30 });
    const other = startIdleHeapRelease({ served: () => 0, idleMs: 100, minGrowthBytes: 1 });
    try {
      await oldGarbage(20, () => served++);
      await sleep(600);
      expect([watcher.releases, other.releases]).toEqual([0, 0]);
    } finally {
      other.stop();
    }
  }, 30_000);
});
