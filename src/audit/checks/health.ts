// `health`: the balancer's own view of its backends, checked from outside. Every backend it
// calls healthy must answer its health check when probed directly now, and every backend it
// calls down must really fail. A disagreement means the checks test the wrong thing (the
// postmortem's bad-health-check) or the state is stale.
import type { PoolConfig } from '../../config/schema.ts';
import type { HostStatus } from '../../data-plane/host-state.ts';
import {
  poolProbeOptions,
  type ProbeOptions,
  type ProbeResult,
} from '../../data-plane/pool-health-options.ts';
import { probe } from '../../proxy/health-probe.ts';
import { parseAddress } from '../../core/units.ts';
import type { AuditCheck, AuditFinding } from '../types.ts';

/** Options of the direct probe: the pool's own health check, else a TCP connect. */
export function directProbeOptions(pool: PoolConfig): ProbeOptions {
  return (
    poolProbeOptions(pool) ?? {
      type: 'tcp',
      path: '/',
      method: 'GET',
      headers: {},
      expectStatus: [],
      expectBody: undefined,
      timeout: pool.timeouts.connect > 0 ? pool.timeouts.connect : 2000,
      lameDuckHeader: undefined,
    }
  );
}

/** What the balancer claims: up (takes traffic), down (checks failed), or not judged. */
function claim(state: HostStatus): 'up' | 'down' | undefined {
  if (state === 'healthy' || state === 'slow-start') return 'up';
  if (state === 'unhealthy') return 'down';
  // ejected (passive evidence a probe cannot confirm), draining, unknown: nothing to compare.
  return undefined;
}

interface BackendRow {
  pool: string;
  backend: string;
  address: string;
  state: HostStatus;
  probe: string;
  probeOk: boolean | undefined;
  agrees: boolean | undefined;
}

export const healthCheck: AuditCheck = {
  name: 'health',
  description:
    'backends the balancer calls healthy answer a direct probe now; those it calls down really fail',
  live: true,
  async run(ctx) {
    const snapshot = ctx.snapshot;
    if (snapshot === undefined) return { findings: [], skipped: 'no running balancer' };
    const views = ctx.describeHealth?.(snapshot);
    const jobs: Promise<BackendRow>[] = [];
    for (const [poolName, pr] of snapshot.pools) {
      const options = directProbeOptions(pr.config);
      const states = new Map(
        (
          views?.find((v) => v.name === poolName)?.backends ??
          pr.state.hosts.map((h) => ({ name: h.name, status: h.status }))
        ).map((b) => [b.name, b.status] as const),
      );
      for (const b of pr.config.backends) {
        const state = states.get(b.name) ?? 'unknown';
        const hp = parseAddress(b.address);
        const said = claim(state);
        if (said === undefined || hp === undefined) {
          jobs.push(
            Promise.resolve({
              pool: poolName,
              backend: b.name,
              address: b.address,
              state,
              probe: 'not probed',
              probeOk: undefined,
              agrees: undefined,
            }),
          );
          continue;
        }
        const target = { hostname: hp.host, port: hp.port, address: b.address };
        jobs.push(
          (async () => {
            let r: ProbeResult = await probe(target, options);
            // One disagreement could be a check landing between two states: confirm it once.
            if (r.ok !== (said === 'up')) r = await probe(target, options);
            return {
              pool: poolName,
              backend: b.name,
              address: b.address,
              state,
              probe: r.detail,
              probeOk: r.ok,
              agrees: r.ok === (said === 'up'),
            };
          })(),
        );
      }
    }
    const rows = await Promise.all(jobs);
    const findings: AuditFinding[] = [];
    for (const r of rows) {
      if (r.agrees !== false) continue;
      const subject = `pools.${r.pool}/${r.backend}`;
      if (r.probeOk === false) {
        findings.push({
          ruleId: 'health-false-up',
          severity: 'error',
          path: subject,
          message: `the balancer calls ${r.backend} (${r.address}) ${r.state} and sends it traffic, but a direct probe fails: ${r.probe}`,
          remediation: `Check that pools.${r.pool}.healthCheck tests what serving needs (path, expectStatus, expectBody) and that its thresholds are not too slow to notice a failure.`,
          data: r,
        });
      } else {
        findings.push({
          ruleId: 'health-false-down',
          severity: 'warning',
          path: subject,
          message: `the balancer calls ${r.backend} (${r.address}) ${r.state} and sends it no traffic, but a direct probe passes: ${r.probe}`,
          remediation: `If it stays so, the health check is wrong for this backend (path, expectStatus, timeout) or the balancer cannot reach it from where it runs; peers carry its share meanwhile.`,
          data: r,
        });
      }
    }
    const probed = rows.filter((r) => r.probeOk !== undefined).length;
    const agree = rows.filter((r) => r.agrees === true).length;
    const notes = [
      `${probed} of ${rows.length} backend(s) probed directly; ${agree} agree with the balancer`,
    ];
    return probed === 0 && findings.length === 0
      ? { findings, notes, details: { backends: rows }, skipped: 'no backend in a state a probe can confirm' }
      : { findings, notes, details: { backends: rows } };
  },
};
