// The pool's in-flight word (P_IN_FLIGHT) as two workers keep it: each builds its own SharedHost
// views over the same shared tables, as worker-main.ts does from the main thread's slots, and
// the word must stay the sum of the pool's hosts' in-flight counts whoever moved them.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createPolicy } from '../balancer/registry.ts';
import { seededRandom } from '../balancer/seeded-random.ts';
import type { HostSpec } from '../data-plane/host-state.ts';
import { allocateRing, OutcomeRingWriter } from './outcome-ring.ts';
import { SharedHost } from './shared-host.ts';
import {
  giveBackInFlight,
  HOST_CAPACITY,
  HOST_STRIDE,
  H_IN_FLIGHT,
  H_MAX_REQUESTS,
  POOL_STRIDE,
  P_IN_FLIGHT,
  SharedTables,
} from './shared-tables.ts';

const APP = 3;
const OTHER = 5;

function spec(pool: string, i: number): HostSpec {
  return {
    pool,
    name: `${pool}-${i}`,
    address: `127.0.0.1:${9000 + i}`,
    hostname: '127.0.0.1',
    port: 9000 + i,
    weight: 1,
    maxRequests: 1_000_000,
    drain: false,
  };
}

/** The shared tables of a 2-worker process and a pool's host slots, capped as the main thread writes them. */
function setup(hosts: number, cap = 1_000_000) {
  const tables = SharedTables.allocate(2);
  /** What the main thread's WorkerDataPlane keeps beside the slots it hands out. */
  const poolOf = new Int32Array(HOST_CAPACITY);
  for (let slot = 0; slot <= hosts; slot++) {
    Atomics.store(tables.hosts, slot * HOST_STRIDE + H_MAX_REQUESTS, cap);
    poolOf[slot] = slot < hosts ? APP : OTHER;
  }
  /** One worker's views: the pool's hosts in slots 0..hosts-1, another pool's one host after them. */
  const worker = (w: number) => {
    const ring = new OutcomeRingWriter(allocateRing(1 << 16));
    const app = Array.from(
      { length: hosts },
      (_, i) => new SharedHost(i, APP, spec('app', i), tables, w, ring),
    );
    const other = new SharedHost(hosts, OTHER, spec('other', 0), tables, w, ring);
    return { app, other };
  };
  const word = (pool: number): number => Atomics.load(tables.pools, pool * POOL_STRIDE + P_IN_FLIGHT);
  const hostSum = (views: readonly SharedHost[]): number => views.reduce((n, h) => n + h.inFlight, 0);
  return { tables, poolOf, w0: worker(0), w1: worker(1), word, hostSum };
}

describe('SharedHost pool in-flight word', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('stays the sum of the pool hosts in-flight through admit, start and finish on two workers', () => {
    const { w0, w1, word, hostSum } = setup(4);
    const random = seededRandom(7);
    const started: SharedHost[] = [];
    for (let step = 0; step < 2000; step++) {
      const views = random() < 0.5 ? w0 : w1;
      const h = views.app[Math.floor(random() * 4)] as SharedHost;
      const r = random();
      if (r < 0.4) {
        expect(h.admit()).toBe(true);
        h.requestStarted();
        started.push(h);
      } else if (r < 0.55) {
        // Started without a reservation (the unreserved branch).
        h.requestStarted();
        started.push(h);
      } else if (started.length > 0) {
        // Finished on the worker that started it: the same view.
        const i = Math.floor(random() * started.length);
        const done = started[i] as SharedHost;
        started[i] = started[started.length - 1] as SharedHost;
        started.pop();
        done.requestFinished('success', 1);
      }
      expect(word(APP)).toBe(hostSum(w0.app));
      expect(word(APP)).toBe(started.length);
    }
    expect(started.length).toBeGreaterThan(0);
    // Every view of the pool, on either worker, reads the same word; the other pool's is apart.
    for (const h of [...w0.app, ...w1.app]) expect(h.poolInFlight).toBe(started.length);
    expect(w0.other.poolInFlight).toBe(0);
    w1.other.requestStarted();
    expect(w0.other.poolInFlight).toBe(1);
    expect(word(APP)).toBe(started.length);
    for (const h of started) h.requestFinished('http-5xx', 1);
    expect(word(APP)).toBe(0);
    expect(hostSum(w1.app)).toBe(0);
  });

  it('counts a retiring host (an old snapshot still finishing) in its pool name until it ends', () => {
    const { tables, w0, w1 } = setup(3);
    // Version 1 runs hosts 0 and 1; version 2 drops host 1 (retiring) and adds host 2. The pool
    // keeps its name, so its slot: the new host and the retiring one count in one word.
    const retiring = w0.app[1] as SharedHost;
    expect(retiring.admit()).toBe(true);
    retiring.requestStarted();
    const added = new SharedHost(
      2,
      APP,
      spec('app', 2),
      tables,
      1,
      new OutcomeRingWriter(allocateRing(1 << 16)),
    );
    added.requestStarted();
    (w1.app[0] as SharedHost).requestStarted();
    expect(added.poolInFlight).toBe(3);
    retiring.requestFinished('success', 1);
    expect(added.poolInFlight).toBe(2);
  });

  it('leaves the word unchanged when a capped admit() is refused', () => {
    const { w0, w1, word } = setup(2, 2);
    const [a0, b0] = w0.app as [SharedHost, SharedHost];
    const a1 = w1.app[0] as SharedHost;
    expect(a0.admit()).toBe(true);
    a0.requestStarted();
    expect(a1.admit()).toBe(true);
    a1.requestStarted();
    b0.requestStarted();
    expect(word(APP)).toBe(3);
    // Host a is at its cap of 2 across both workers: neither may take a third.
    expect(a0.admit()).toBe(false);
    expect(a1.admit()).toBe(false);
    expect(a0.inFlight).toBe(2);
    expect(word(APP)).toBe(3);
    a1.requestFinished('success', 1);
    expect(word(APP)).toBe(2);
    expect(a0.admit()).toBe(true);
    a0.requestStarted();
    expect(word(APP)).toBe(3);
  });

  it('gives a dead worker back by the amounts it had in flight, host and pool alike', () => {
    const { tables, poolOf, w0, w1, word, hostSum } = setup(3);
    const [a0] = w0.app as [SharedHost];
    const [a1, b1, c1] = w1.app as [SharedHost, SharedHost, SharedHost];
    a0.requestStarted();
    for (const h of [a1, a1, b1, c1]) {
      expect(h.admit()).toBe(true);
      h.requestStarted();
    }
    w1.other.requestStarted();
    w0.other.requestStarted();
    expect([word(APP), word(OTHER)]).toEqual([5, 2]);
    // Worker 1 dies with its requests: what it had goes, worker 0's stays.
    giveBackInFlight(tables, 1, poolOf);
    expect(w0.app.map((h) => h.inFlight)).toEqual([1, 0, 0]);
    expect([word(APP), word(OTHER)]).toEqual([1, 1]);
    expect(word(APP)).toBe(hostSum(w0.app));
    expect(tables.workerInFlight.subarray(HOST_CAPACITY, HOST_CAPACITY + 4)).toEqual(new Int32Array(4));
    // Given back once: a second call (or the replacement's start) changes nothing.
    giveBackInFlight(tables, 1, poolOf);
    expect([word(APP), word(OTHER)]).toEqual([1, 1]);
    a0.requestFinished('success', 1);
    w0.other.requestFinished('success', 1);
    expect([word(APP), word(OTHER), Atomics.load(tables.hosts, H_IN_FLIGHT)]).toEqual([0, 0, 0]);
  });

  it('lets bounded-load consistent-hash judge the home by the kept sum, reading no other host', () => {
    const n = 1000;
    const { w0, w1, word } = setup(n);
    const policy = createPolicy<SharedHost>('consistent-hash', {
      random: seededRandom(1),
      balanceFactor: 1.25,
    });
    for (const h of w0.app) h.effectiveWeight = 1;
    policy.setHosts(w0.app);
    const home = policy.pick({ hashKey: 'k' }) as SharedHost;
    const homeOn1 = w1.app[home.slot] as SharedHost;
    // 5 in flight on the home alone (worker 1's requests): T = 5, the home is full (bound 1).
    for (let i = 0; i < 5; i++) homeOn1.requestStarted();
    expect(policy.pick({ hashKey: 'k' })).not.toBe(home);
    // Worker 1 has 10,000 in flight on the pool: bound ceil(1.25 × 10,001 / 1,000) = 13, so the
    // home has room, and worker 0's policy learns it from the word, not by reading 1,000 hosts.
    for (let i = 0; i < 9995; i++)
      (w1.app[(home.slot + 1 + (i % (n - 1))) % n] as SharedHost).requestStarted();
    expect(word(APP)).toBe(10_000);
    const reads = vi.spyOn(SharedHost.prototype, 'inFlight', 'get');
    const total = vi.spyOn(SharedHost.prototype, 'poolInFlight', 'get');
    expect(policy.pick({ hashKey: 'k' })).toBe(home);
    expect(reads.mock.contexts.filter((h) => h !== home)).toHaveLength(0);
    expect(reads.mock.contexts.length).toBeGreaterThan(0);
    expect(total).toHaveBeenCalledTimes(1);
  });
});
