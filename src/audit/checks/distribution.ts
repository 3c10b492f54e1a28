// `distribution`: synthetic probes through each listener to each pool, counted per backend
// and compared with the shares the balancer should give now (effective weights: configured
// weight × health × slow start × drain). Which backend answered comes from the backend's own
// identity header when `audit.distribution.identityHeader` is set (a true black box), else
// from `x-fulcrum-backend`, which the proxy adds only to requests carrying the audit secret.
// The verdict is sample-size aware: a skew must exceed `tolerance` AND be significant by
// Pearson's chi-square, so 600 probes do not cry wolf over noise and 20 probes cannot pass
// off a real skew as noise.
import http from 'node:http';
import https from 'node:https';
import { loadConfigText } from '../../config/load.ts';
import type { PoolConfig, RouteConfig } from '../../config/schema.ts';
import { runningShares } from '../../balancer/expected-shares.ts';
import { policyDescriptor } from '../../balancer/registry.ts';
import type { ListenerRuntime, PoolRuntime } from '../../data-plane/snapshot.ts';
import { chiSquare } from '../chi-square.ts';
import type { AuditCheck, AuditFinding, CheckContext } from '../types.ts';

/** The header the proxy answers with for requests carrying `x-fulcrum-audit: <secret>`. */
export const AUDIT_REQUEST_HEADER = 'x-fulcrum-audit';
export const AUDIT_BACKEND_HEADER = 'x-fulcrum-backend';

/** Significance level: a deviation this unlikely under the expected shares is not noise. */
export const SKEW_ALPHA = 0.01;
/** Chi-square needs about this many expected probes per backend to mean anything. */
const MIN_EXPECTED_PER_BACKEND = 5;
const CONCURRENCY = 8;
const PROBE_TIMEOUT_MS = 5000;

export interface ProbeRequest {
  path: string;
  headers: Record<string, string>;
}

/** A request the route matches: its host (a wildcard gets a concrete label), path prefix and headers. */
export function requestFor(route: RouteConfig): ProbeRequest {
  const headers: Record<string, string> = {};
  const m = route.match;
  if (m.host !== undefined)
    headers.host = m.host.startsWith('*.') ? `fulcrum-audit.${m.host.slice(2)}` : m.host;
  for (const [k, v] of Object.entries(m.headers ?? {})) headers[k.toLowerCase()] = v;
  return { path: m.pathPrefix ?? '/', headers };
}

/** Varies the consistent-hash key per probe so probes spread like distinct users; undefined = cannot (source-ip). */
export function varyHashKey(spec: string, base: ProbeRequest, i: number): ProbeRequest | undefined {
  const key = `fulcrum-audit-${i}`;
  if (spec.startsWith('header:'))
    return { path: base.path, headers: { ...base.headers, [spec.slice(7).toLowerCase()]: key } };
  if (spec.startsWith('cookie:'))
    return { path: base.path, headers: { ...base.headers, cookie: `${spec.slice(7)}=${key}` } };
  if (spec === 'path')
    return { path: `${base.path.endsWith('/') ? base.path : `${base.path}/`}${key}`, headers: base.headers };
  return undefined;
}

export interface ShareRow {
  backend: string;
  observed: number;
  observedShare: number;
  expectedShare: number;
  /** observed / expected share; null when the expected share is 0. */
  shareRatio: number | null;
}

export interface PairResult {
  listener: string;
  pool: string;
  probes: number;
  /** Where the expected shares' weights come from: the desired source, or the running config. */
  expectedFrom: string;
  answered: number;
  failed: number;
  statuses: Record<string, number>;
  rows: ShareRow[];
  chiSquare: number;
  degreesOfFreedom: number;
  pValue: number;
  maxShareRatio: number;
  minShareRatio: number;
  skipped?: string;
}

/**
 * Shares the pool should give now. Intent comes from the desired source when it has this
 * pool (so weights changed behind the source's back show up as skew), else from the running
 * config; health, slow start and drain come from the runtime (effective / configured weight).
 */
export function expectedShares(pool: PoolRuntime, intent: PoolConfig | undefined): Map<string, number> {
  const facts = policyDescriptor(intent?.policy ?? pool.config.policy);
  const shares = runningShares(
    pool.state.hosts,
    facts,
    intent &&
      ((h) => {
        const b = intent.backends.find((x) => x.name === h.name);
        return b === undefined || b.drain ? undefined : b.weight;
      }),
  );
  return new Map(pool.state.hosts.map((h, i) => [h.name, shares[i] ?? 0]));
}

/** A wildcard bind address is reached on loopback. */
export function dialHost(host: string): string {
  return host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
}

function send(
  agent: http.Agent,
  tls: boolean,
  target: { host: string; port: number },
  req: ProbeRequest,
  identify: (res: http.IncomingMessage) => string | undefined,
): Promise<{ status: number; backend: string | undefined }> {
  return new Promise((resolve) => {
    const r = (tls ? https : http).request(
      {
        host: dialHost(target.host),
        port: target.port,
        path: req.path,
        method: 'GET',
        agent,
        headers: req.headers,
        timeout: PROBE_TIMEOUT_MS,
        // The audit checks where traffic goes, not the certificate (it may be for another name).
        ...(tls ? { rejectUnauthorized: false, servername: req.headers.host?.replace(/:\d+$/, '') } : {}),
      },
      (res) => {
        const backend = identify(res);
        res.resume();
        res.once('end', () => resolve({ status: res.statusCode ?? 0, backend }));
        res.once('error', () => resolve({ status: 0, backend: undefined }));
      },
    );
    r.once('timeout', () => r.destroy(new Error('timeout')));
    r.once('error', () => resolve({ status: 0, backend: undefined }));
    r.end();
  });
}

async function probePair(
  ctx: CheckContext,
  listener: ListenerRuntime,
  route: RouteConfig,
  pool: PoolRuntime,
  target: { host: string; port: number },
  intent: { pool: PoolConfig | undefined; origin: string },
): Promise<PairResult> {
  const cfg = ctx.audit.distribution;
  const expected = expectedShares(pool, intent.pool);
  const base = requestFor(route);
  const byAddress = new Map(pool.config.backends.map((b) => [b.address, b.name]));
  const idHeader = cfg.identityHeader?.toLowerCase();
  if (idHeader === undefined && ctx.auditSecret !== undefined)
    base.headers[AUDIT_REQUEST_HEADER] = ctx.auditSecret;
  const identify = (res: http.IncomingMessage): string | undefined => {
    const v = res.headers[idHeader ?? AUDIT_BACKEND_HEADER];
    const id = Array.isArray(v) ? v[0] : v;
    return id === undefined ? undefined : (byAddress.get(id) ?? id);
  };
  const result: PairResult = {
    listener: listener.name,
    pool: pool.name,
    probes: cfg.probes,
    expectedFrom: intent.pool === undefined ? 'running config' : intent.origin,
    answered: 0,
    failed: 0,
    statuses: {},
    rows: [],
    chiSquare: 0,
    degreesOfFreedom: 0,
    pValue: 1,
    maxShareRatio: 0,
    minShareRatio: 0,
  };
  const hashSpec = policyDescriptor(pool.config.policy).hashKeyed ? pool.config.hash.key : undefined;
  if (hashSpec !== undefined && varyHashKey(hashSpec, base, 0) === undefined) {
    result.skipped = `consistent-hash on ${hashSpec}: every probe comes from one address, so probes cannot spread like users`;
    return result;
  }
  const counts = new Map<string, number>();
  const tls = listener.config.tls !== undefined;
  const agent = new (tls ? https : http).Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < cfg.probes) {
      const i = next++;
      const req = hashSpec === undefined ? base : (varyHashKey(hashSpec, base, i) as ProbeRequest);
      const r = await send(agent, tls, target, req, identify);
      result.statuses[String(r.status)] = (result.statuses[String(r.status)] ?? 0) + 1;
      if (r.backend !== undefined && r.status > 0 && r.status < 500) {
        result.answered++;
        counts.set(r.backend, (counts.get(r.backend) ?? 0) + 1);
      } else result.failed++;
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  } finally {
    agent.destroy();
  }
  const names = [...new Set([...expected.keys(), ...counts.keys()])];
  const observed = names.map((n) => counts.get(n) ?? 0);
  const shares = names.map((n) => expected.get(n) ?? 0);
  const chi = chiSquare(observed, shares);
  result.chiSquare = chi.statistic;
  result.degreesOfFreedom = chi.degreesOfFreedom;
  result.pValue = chi.pValue;
  result.rows = names.map((backend, i) => {
    const o = observed[i] ?? 0;
    const e = shares[i] ?? 0;
    const observedShare = result.answered > 0 ? o / result.answered : 0;
    return {
      backend,
      observed: o,
      observedShare,
      expectedShare: e,
      shareRatio: e > 0 ? observedShare / e : null,
    };
  });
  const ratios = result.rows.flatMap((r) => (r.shareRatio === null ? [] : [r.shareRatio]));
  result.maxShareRatio = ratios.length > 0 ? Math.max(...ratios) : 0;
  result.minShareRatio = ratios.length > 0 ? Math.min(...ratios) : 0;
  return result;
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const pText = (p: number): string => (p < 1e-6 ? 'p < 1e-6' : `p = ${p.toPrecision(2)}`);

/** Findings of one listener/pool pair. Exported for tests of the verdict without sockets. */
export function judgePair(r: PairResult, tolerance: number): AuditFinding[] {
  const where = `pool ${r.pool} via listener ${r.listener}`;
  const path = `pools.${r.pool}`;
  const out: AuditFinding[] = [];
  if (r.skipped !== undefined) {
    return [
      {
        ruleId: 'distribution-not-probed',
        severity: 'info',
        path,
        message: `${where} not probed: ${r.skipped}`,
        remediation:
          'Hash on a header or cookie that probes can vary, or audit this pool with real traffic shares (`fulcrum status`).',
        data: r,
      },
    ];
  }
  if (r.failed > 0) {
    const share = r.failed / r.probes;
    out.push({
      ruleId: 'distribution-probe-failures',
      severity: share > 0.01 ? 'error' : 'warning',
      path,
      message: `${where}: ${r.failed} of ${r.probes} probes (${pct(share)}) got no backend answer (statuses ${JSON.stringify(r.statuses)})`,
      remediation:
        "Look at the pool's backends (`fulcrum status`): overloaded (503), down, or not reachable from the balancer.",
      data: r,
    });
  }
  for (const row of r.rows) {
    if (row.expectedShare === 0 && row.observed > 0) {
      out.push({
        ruleId: 'distribution-unexpected-backend',
        severity: 'error',
        path: `${path}/${row.backend}`,
        message: `${where}: ${row.backend} answered ${row.observed} probes but should take no traffic now (drained, down or not in the pool)`,
        remediation:
          "Check the backend's health and drain state, and that the identity header names backends of this pool.",
        data: row,
      });
    }
  }
  const judged = r.rows.filter((x) => x.expectedShare > 0);
  const minExpected = Math.min(...judged.map((x) => x.expectedShare * r.answered));
  if (judged.length < 2) return out;
  if (!(minExpected >= MIN_EXPECTED_PER_BACKEND)) {
    out.push({
      ruleId: 'distribution-too-few-probes',
      severity: 'warning',
      path,
      message: `${where}: ${r.answered} answered probes leave under ${MIN_EXPECTED_PER_BACKEND} expected per backend; shares not judged`,
      remediation: 'Raise audit.distribution.probes.',
      data: r,
    });
    return out;
  }
  const over = judged.reduce((a, b) => ((b.shareRatio ?? 0) > (a.shareRatio ?? 0) ? b : a));
  const under = judged.reduce((a, b) => ((b.shareRatio ?? 0) < (a.shareRatio ?? 0) ? b : a));
  const outside = (over.shareRatio ?? 0) > 1 + tolerance || (under.shareRatio ?? 0) < 1 - tolerance;
  if (outside && r.pValue < SKEW_ALPHA) {
    const worst = (over.shareRatio ?? 0) - 1 >= 1 - (under.shareRatio ?? 0) ? over : under;
    out.push({
      ruleId: 'distribution-skew',
      severity: 'error',
      path: `${path}/${worst.backend}`,
      message:
        `${where}: ${worst.backend} got ${pct(worst.observedShare)} of ${r.answered} probes, expected ${pct(worst.expectedShare)} by ${r.expectedFrom} ` +
        `(share ratio ${(worst.shareRatio ?? 0).toFixed(2)}, tolerance ±${pct(tolerance)}); chi-square ${r.chiSquare.toFixed(1)} (df ${r.degreesOfFreedom}), ${pText(r.pValue)}`,
      remediation:
        'Compare the configured weights with the intended capacity (`fulcrum lint`, `fulcrum diff`), and check the policy and its hash key; `fulcrum status` shows live share ratios.',
      data: r,
    });
  }
  return out;
}

export const distributionCheck: AuditCheck = {
  name: 'distribution',
  description:
    'synthetic probes through each listener to each pool; observed shares vs expected (chi-square)',
  live: true,
  async run(ctx) {
    const snapshot = ctx.snapshot;
    if (snapshot === undefined || ctx.proxyAddress === undefined)
      return { findings: [], skipped: 'no running balancer' };
    const pairs: PairResult[] = [];
    const findings: AuditFinding[] = [];
    const desired = await ctx.desired();
    const intended =
      desired === undefined
        ? undefined
        : loadConfigText(desired.text, {
            source: desired.origin,
            ...(desired.env ? { env: desired.env } : {}),
          });
    const intentPools = intended?.ok ? intended.value.config.pools : undefined;
    for (const listener of snapshot.listeners.values()) {
      const target = ctx.proxyAddress(listener.name);
      if (target === undefined) {
        findings.push({
          ruleId: 'distribution-listener-down',
          severity: 'error',
          path: `listeners.${listener.name}`,
          message: `listener ${listener.name} is not bound, so no probe can go through it`,
          remediation: 'Check the balancer log for a bind error on the listener address.',
        });
        continue;
      }
      const seen = new Set<string>();
      for (const route of listener.config.routes) {
        const pool = snapshot.pools.get(route.pool);
        if (pool === undefined || seen.has(route.pool)) continue;
        const req = requestFor(route);
        // First match wins: a route shadowed by an earlier one cannot be probed this way.
        if (listener.router.match(req.headers.host, req.path, req.headers) !== route) continue;
        seen.add(route.pool);
        const r = await probePair(ctx, listener, route, pool, target, {
          pool: intentPools?.[pool.name],
          origin: desired?.origin ?? 'running config',
        });
        pairs.push(r);
        findings.push(...judgePair(r, ctx.audit.distribution.tolerance));
      }
    }
    if (pairs.length === 0 && findings.length === 0)
      return { findings, skipped: 'no listener routes to a pool' };
    const notes = pairs.map((r) =>
      r.skipped !== undefined
        ? `pool ${r.pool} via ${r.listener}: not probed`
        : `pool ${r.pool} via ${r.listener}: ${r.answered}/${r.probes} probes answered; chi-square ${r.chiSquare.toFixed(1)} (df ${r.degreesOfFreedom}), ${pText(r.pValue)}; share ratio ${r.minShareRatio.toFixed(2)}..${r.maxShareRatio.toFixed(2)} (expected by ${r.expectedFrom})`,
    );
    return { findings, notes, details: { pairs } };
  },
};
