// The facts behind an unfair or overloaded verdict, gathered from a pool's windows and the
// config eras over them, turned into words by attributeCauses().
import { policyDescriptor } from '../balancer/registry.ts';
import type { PoolRuntime } from '../data-plane/snapshot.ts';
import { attributeCauses, type Cause } from './fairness.ts';
import { isOut, type BackendStatsView, type PoolStatsView } from './pool-stats.ts';
import { erasInWindow, RETRIED, REQ, SLOT_MS, type PoolTrack } from './pool-track.ts';
import { fmtMs } from './rules/format.ts';

export interface VersionInfo {
  version: number;
  createdAt: number;
  author?: string;
}

export function backendCauses(
  p: PoolTrack,
  pr: PoolRuntime,
  stats: PoolStatsView,
  b: BackendStatsView,
  verdict: 'overfed' | 'starved' | 'overloaded',
  now: number,
  windowMs: number,
  versionInfo: ((version: number) => VersionInfo | undefined) | undefined,
): Cause[] {
  const slots = Math.max(1, Math.round(windowMs / SLOT_MS));
  const inWindow = (t: number): boolean => now - t <= windowMs;
  const peers = pr.state.hosts.filter((h) => h.name !== b.backend);
  // Peers health took out now or within the window: their failed tries were retried elsewhere.
  const failedPeers = peers.filter(
    (h) => isOut(h.status) || inWindow(p.backends.get(h.name)?.lastDown ?? Number.NEGATIVE_INFINITY),
  );
  // A peer that went down and stayed down crashed; only the others' changes count as flapping.
  let peerFlips = 0;
  for (const h of peers) {
    if (failedPeers.includes(h) && !h.available) continue;
    peerFlips += p.backends.get(h.name)?.flips.filter(inWindow).length ?? 0;
  }
  // With retries in the window, a failed backend's traffic went to the backends still up:
  // the retried tries themselves, and the picks the policy's sequence shifted onto them.
  let retried = 0;
  for (const t of p.list) retried += t.ring.sum(now, RETRIED, windowMs);
  const retriedTo =
    retried === 0
      ? []
      : pr.state.hosts
          .filter(
            (h) =>
              h.available &&
              !failedPeers.includes(h) &&
              (p.backends.get(h.name)?.ring.sum(now, REQ, windowMs) ?? 0) > 0,
          )
          .map((h) => h.name);
  // The configs that shaped the window's traffic, not just the one in force now: the era
  // whose weights favoured this backend most explains an overfed or overloaded share (the
  // one that favoured it least a starved share), and a hashing era explains a hot key.
  const eras = erasInWindow(p, now, windowMs);
  let era = eras[eras.length - 1];
  let weight = b.configuredWeight;
  let peerWeight = medianPeerWeight(era?.weights, b.backend) ?? 0;
  let best: number | undefined;
  for (const e of eras) {
    const w = e.weights.get(b.backend) ?? 0;
    const pw = medianPeerWeight(e.weights, b.backend) ?? 0;
    const r = pw > 0 ? w / pw : w > 0 ? Number.POSITIVE_INFINITY : 0;
    if (best === undefined || (verdict === 'starved' ? r < best : r > best)) {
      best = r;
      era = e;
      weight = w;
      peerWeight = pw;
    }
  }
  const hashEra = eras.findLast((e) => policyDescriptor(e.policy).hashKeyed);
  const policy = policyDescriptor(pr.config.policy);
  const info = era ? versionInfo?.(era.weightsSince) : undefined;
  const track = p.backends.get(b.backend);
  let ownState: string | undefined;
  if (isOut(b.status)) ownState = `is ${b.status}`;
  else if (track && inWindow(track.lastDown))
    ownState = `was ${track.lastDownStatus} within the last ${fmtMs(windowMs)} (now ${b.status})`;
  const lat = p.overload.find((x) => x.name === b.backend);
  // The skewed weights' end, when a later config replaced them (a rollback).
  const until = era ? eras.find((e) => e.from > era.from && e.weightsSig !== era.weightsSig) : undefined;
  const flips = track?.flips.filter(inWindow).length ?? 0;
  const reloads = p.reloads.filter(inWindow).length;
  const panic = inWindow(p.lastPanic);
  // Only a window where nothing else moved the shares can prove the policy wrong: one config,
  // a deterministic policy, no health change, retry or panic. The pick sequence then gives
  // each backend its weight per cycle of Σw picks; a count off by more than a cycle, what
  // is in flight and 5% is a deviation of the policy itself.
  let pickDeviation: { expected: number; observed: number; slack: number } | undefined;
  let allFlips = flips;
  for (const t of p.list) if (t !== track) allFlips += t.flips.filter(inWindow).length;
  if (
    verdict !== 'overloaded' &&
    eras.length === 1 &&
    reloads === 0 &&
    policy.deterministic &&
    allFlips === 0 &&
    retried === 0 &&
    !panic &&
    failedPeers.length === 0 &&
    ownState === undefined
  ) {
    let cycle = 0;
    let inFlight = 0;
    for (const h of pr.state.hosts) {
      cycle += policy.usesWeights ? h.configuredWeight : 1;
      inFlight += h.inFlight;
    }
    let observed = 0;
    if (track) for (let age = 0; age < slots; age++) observed += track.ring.at(age, REQ);
    const expected = b.expectedShare * stats.requests;
    pickDeviation = { expected, observed, slack: cycle + inFlight + 0.05 * stats.requests };
  }
  return attributeCauses({
    verdict,
    policy: hashEra?.policy ?? pr.config.policy,
    hashKeyed: hashEra !== undefined || policyDescriptor(pr.config.policy).hashKeyed,
    backend: b.backend,
    hotKey: stats.hotKey,
    hashKeySource: hashEra ? hashEra.hashKey : pr.config.hash?.key,
    flips,
    peerFlips,
    reloads,
    weight,
    peerWeight,
    weightsSince: era && {
      version: era.weightsSince,
      exact: era.weightsExact,
      ...(info ? { createdAt: info.createdAt } : {}),
      ...(info?.author ? { author: info.author } : {}),
      ...(until ? { until: until.version } : {}),
    },
    ownState,
    slow:
      lat && (lat.latencyOutlier || lat.overSlow)
        ? { meanMs: lat.meanLatencyMs, peerMeanMs: lat.peerMeanLatencyMs }
        : undefined,
    peersDown: peers
      .filter(
        (h) => !h.available || inWindow(p.backends.get(h.name)?.lastUnavailable ?? Number.NEGATIVE_INFINITY),
      )
      .map((h) => `${h.name} (${h.status})`),
    retries: retriedTo.length > 0 ? { from: failedPeers.map((h) => h.name), to: retriedTo } : undefined,
    panic,
    pickDeviation,
  });
}

/** Median weight of the other backends in a weight map; undefined without peers. */
function medianPeerWeight(
  weights: ReadonlyMap<string, number> | undefined,
  backend: string,
): number | undefined {
  if (weights === undefined) return undefined;
  const peers: number[] = [];
  for (const [name, w] of weights) if (name !== backend) peers.push(w);
  if (peers.length === 0) return undefined;
  peers.sort((x, y) => x - y);
  return peers[Math.floor((peers.length - 1) / 2)];
}
