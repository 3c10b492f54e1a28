// Runs one scenario on local processes: capacity-limited backends, the balancer in-process
// (startBalancer, port 0, memory store), a steady open-loop load, the fault, and the clock:
// time to detect (first alert that names the cause, polled from the monitor), time to
// recover (the guard rolls the bad config back by itself, or health removes a dead backend,
// and failures fall back to the baseline), and failed requests.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lintConfig } from '../config/lint/lint-config.ts';
import { loadConfigText } from '../config/load.ts';
import { FulcrumError } from '../core/errors.ts';
import { startBalancer, type Balancer } from '../main.ts';
import type { AlertView } from '../monitor/alerts.ts';
import { DrillBackend } from './drill-backend.ts';
import { LoadGenerator, isFailure, summarize, type LoadRecord, type LoadSummary } from './load-generator.ts';
import type { Budgets, Scenario, ScenarioEnv } from './scenario.ts';

export interface DrillProgress {
  scenario: string;
  phase: 'starting' | 'baseline' | 'incident' | 'settling';
  /** ms since the fault (negative before it). */
  sinceFaultMs: number;
  sent: number;
  failed: number;
  detected: boolean;
  recovered: boolean;
}

export interface DrillOptions {
  /** The reduced run of the test suite: half the rate, shorter phases. */
  short?: boolean;
  onProgress?: (p: DrillProgress) => void;
}

export interface TimelineEvent {
  /** ms relative to the fault. */
  atMs: number;
  kind: 'lint' | 'apply' | 'fault' | 'pending' | 'detect' | 'guard' | 'health' | 'recover' | 'info';
  text: string;
}

export interface DrillResult {
  scenario: string;
  title: string;
  story: string;
  short: boolean;
  rate: number;
  backends: { name: string; capacity: number; serviceMs: number; requests: number; rejected: number }[];
  lint: {
    of: 'bad config' | 'running config';
    findings: { ruleId: string; severity: string; path: string; message: string }[];
  };
  timeline: TimelineEvent[];
  culprit: string | undefined;
  /** First alert naming the cause that FIRED (past its `for`): what the detection budget judges. */
  detection: { afterMs: number; alertname: string; summary: string; cause: string } | null;
  /** First alert naming the cause in any state (pending included): visible in /api/v1/alerts and the dashboard. */
  firstNamed: { afterMs: number; alertname: string; state: 'pending' | 'firing'; summary: string } | null;
  recovery: { afterMs: number; how: string } | null;
  /** Alerts seen during the drill that misname the incident (the scenario says why). */
  misnamed: { alertname: string; labels: Record<string, string>; summary: string; why: string }[];
  /** Alerts the scenario requires (Scenario.mustName), and whether each fired naming its cause. */
  expected: { alertname: string; backend: string; causeKind: string; seen: boolean }[];
  requests: { total: LoadSummary; before: LoadSummary; incident: LoadSummary; after: LoadSummary };
  /** The incident before and after recovery, under the scenario's labels (Scenario.compare). */
  policies?: Record<string, LoadSummary>;
  budgets: Budgets;
  verdict: { detected: boolean; recovered: boolean; failures: boolean; named: boolean; passed: boolean };
}

const SERVICE_MS = 100;
/** Each backend can serve this many times its fair share of the load, unless the scenario says. */
const HEADROOM = 2;
const POLL_MS = 100;
const WARMUP_MS = 1500;

interface Timing {
  rate: number;
  baselineMs: number;
  observeMs: number;
  settleMs: number;
  guard: string;
}

function timing(short: boolean): Timing {
  return short
    ? { rate: 100, baselineMs: 2500, observeMs: 15_000, settleMs: 3500, guard: '20s' }
    : { rate: 200, baselineMs: 8000, observeMs: 60_000, settleMs: 5000, guard: '60s' };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function adminJson(url: string, init?: RequestInit): Promise<Record<string, unknown>> {
  const res = await fetch(url, init);
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const e = body['error'] as { message?: string } | undefined;
    throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status} ${e?.message ?? ''}`);
  }
  return body;
}

async function waitHealthy(b: Balancer, names: readonly string[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const snap = b.controller.snapshot;
    const states = snap ? b.health.describe(snap).flatMap((p) => p.backends) : [];
    if (names.every((n) => states.find((s) => s.name === n)?.status === 'healthy')) return;
    if (performance.now() > deadline)
      throw new Error(
        `backends not healthy after ${timeoutMs} ms: ${JSON.stringify(states.map((s) => [s.name, s.status]))}`,
      );
    await sleep(50);
  }
}

/** Consecutive one-second windows that must stay at the baseline for recovery to count. */
const SUSTAINED_WINDOWS = 3;

/**
 * First time at or after `from` from which SUSTAINED_WINDOWS one-second windows in a row fail
 * no more than `limit` (a single quiet second between bursts is not a recovery).
 */
export function settledAt(
  records: readonly LoadRecord[],
  from: number,
  end: number,
  limit: number,
): number | undefined {
  const quiet = (t: number): boolean => {
    const s = summarize(records, t, t + 1000);
    return s.requests > 0 && s.failedShare <= limit;
  };
  for (let t = from; t + 1000 * SUSTAINED_WINDOWS <= end; t += 250) {
    let ok = true;
    for (let k = 0; k < SUSTAINED_WINDOWS && ok; k++) ok = quiet(t + k * 1000);
    if (ok) return t;
  }
  return undefined;
}

export async function runDrill(scenario: Scenario, options: DrillOptions = {}): Promise<DrillResult> {
  const short = options.short === true;
  const t = timing(short);
  const perBackendRate = t.rate / scenario.backends;
  const capacity = Math.max(
    2,
    Math.round(((scenario.headroom ?? HEADROOM) * perBackendRate * SERVICE_MS) / 1000),
  );
  const backends = await Promise.all(
    Array.from({ length: scenario.backends }, (_, i) =>
      new DrillBackend({
        name: `b${i + 1}`,
        capacity,
        serviceMs: SERVICE_MS,
        readyOk: scenario.readyOnly === undefined || scenario.readyOnly === i,
      }).start(),
    ),
  );
  const env: ScenarioEnv = { backends, short, rate: t.rate, serviceMs: SERVICE_MS };
  const dir = await mkdtemp(join(tmpdir(), `fulcrum-drill-${scenario.name}-`));
  let balancer: Balancer | undefined;
  let load: LoadGenerator | undefined;
  const progress = (p: Omit<DrillProgress, 'scenario'>): void =>
    options.onProgress?.({ scenario: scenario.name, ...p });
  try {
    const configFile = join(dir, 'fulcrum.yaml');
    await writeFile(configFile, scenario.goodConfig(env));
    progress({ phase: 'starting', sinceFaultMs: 0, sent: 0, failed: 0, detected: false, recovered: false });
    balancer = await startBalancer({
      configFile,
      memoryStore: true,
      adminAddress: '127.0.0.1:0',
      logDestination: join(dir, 'fulcrum.log'),
      author: 'fulcrum drill',
      force: true,
    });
    await waitHealthy(
      balancer,
      backends.map((b) => b.name),
      10_000,
    );
    const target = balancer.proxy.boundAddress('web');
    if (target === undefined) throw new Error('listener web is not bound');

    // The cheapest detection first: what lint says of the config that will cause the incident.
    const badText = scenario.badConfig?.(env);
    const linted = loadConfigText(badText ?? scenario.goodConfig(env), {
      source: badText ? 'bad.yaml' : 'fulcrum.yaml',
    });
    const lintFindings = linted.ok
      ? lintConfig(linted.value).map((f) => ({
          ruleId: f.ruleId,
          severity: f.severity,
          path: f.path,
          message: f.message,
        }))
      : [];
    const timeline: TimelineEvent[] = [];
    const errors = lintFindings.filter((f) => f.severity === 'error');

    // Warm-up, not measured: the first connections and the JIT make the first second bursty.
    const warm = new LoadGenerator({
      host: target.host,
      port: target.port,
      rate: t.rate,
      maxDurationMs: WARMUP_MS,
      timeoutMs: 2000,
    });
    warm.start();
    await sleep(WARMUP_MS);
    await warm.stop();

    load = new LoadGenerator({
      host: target.host,
      port: target.port,
      rate: t.rate,
      maxDurationMs: t.baselineMs + t.observeMs + t.settleMs + 10_000,
      timeoutMs: 2000,
      ...(scenario.loadHeaders ? { headers: scenario.loadHeaders } : {}),
    });
    const records = load.records;
    load.start();
    const failedCount = (): number => records.reduce((n, r) => n + (isFailure(r) ? 1 : 0), 0);
    while (load.elapsed() < t.baselineMs) {
      progress({
        phase: 'baseline',
        sinceFaultMs: load.elapsed() - t.baselineMs,
        sent: load.sent,
        failed: failedCount(),
        detected: false,
        recovered: false,
      });
      await sleep(250);
    }

    let applyAt: number | undefined;
    if (badText !== undefined) {
      applyAt = load.elapsed();
      const canary = scenario.canary === undefined ? '' : `&canary=${encodeURIComponent(scenario.canary)}`;
      const r = await adminJson(`${balancer.adminUrl}/api/v1/config?force=1&guard=${t.guard}${canary}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/yaml',
          'x-fulcrum-message': encodeURIComponent(`drill ${scenario.name}: bad config`),
        },
        body: badText,
      });
      const forced = errors.length > 0 ? `, forced past ${errors.length} lint error(s)` : '';
      timeline.push({
        atMs: applyAt,
        kind: 'apply',
        text: `bad config applied as version ${String(r['version'])}${scenario.canary === undefined ? '' : ` to a ${scenario.canary} canary slice`} under a ${t.guard} guard${forced}`,
      });
    }
    let faultAt = applyAt ?? load.elapsed();
    if (scenario.inject) {
      if (applyAt !== undefined) await sleep(short ? 1000 : 2000);
      faultAt = load.elapsed();
      timeline.push({ atMs: faultAt, kind: 'fault', text: await scenario.inject(env) });
    } else {
      timeline.push({ atMs: faultAt, kind: 'fault', text: scenario.story });
    }

    // Observe: poll the monitor's alerts, the guard and health until detected and recovered.
    let culprit: string | undefined;
    let detection: DrillResult['detection'] = null;
    let firstNamed: DrillResult['firstNamed'] = null;
    let recoveryEvent: { at: number; how: string } | undefined;
    const pendingSeen = new Set<string>();
    const misnamed = new Map<string, DrillResult['misnamed'][number]>();
    const expected = (scenario.mustName?.(env) ?? []).map((e) => ({ ...e, seen: false }));
    let guardSeen = '';
    const byGuard = scenario.detection === 'guard-verdict';
    // The guard's verdict is the detection: poll it as often as the alerts.
    const guardPollMs = byGuard ? POLL_MS : 250;
    let lastGuardPoll = 0;
    let lastCulprit = 0;
    let settled: number | undefined;
    let lastSettleCheck = 0;
    for (;;) {
      const now = load.elapsed();
      const since = now - faultAt;
      if (now - lastCulprit >= 1000 || culprit === undefined) {
        lastCulprit = now;
        const traffic = new Map<string, number>();
        for (let i = records.length - 1; i >= 0 && (records[i] as LoadRecord).at >= faultAt; i--) {
          const b = (records[i] as LoadRecord).backend;
          if (b !== undefined) traffic.set(b, (traffic.get(b) ?? 0) + 1);
        }
        culprit = scenario.culprit(env, traffic);
      }
      for (const a of balancer.monitor.alerts() as AlertView[]) {
        if (a.state === 'firing')
          for (const e of expected)
            if (
              a.alertname === e.alertname &&
              a.labels['backend'] === e.backend &&
              a.annotations['cause_kind'] === e.causeKind
            )
              e.seen = true;
        const why = a.state === 'resolved' ? undefined : scenario.misnames?.(a, culprit);
        if (why !== undefined && !misnamed.has(a.fingerprint)) {
          misnamed.set(a.fingerprint, {
            alertname: a.alertname,
            labels: { ...a.labels },
            summary: a.annotations['summary'] ?? '',
            why,
          });
          timeline.push({ atMs: now, kind: 'info', text: `misnamed: ${a.alertname}: ${why}` });
        }
        if (
          detection !== null ||
          byGuard ||
          !scenario.namesCause(a, culprit) ||
          a.activeAt < Date.now() - now + faultAt - 1000
        )
          continue;
        const activeAt = now - (Date.now() - a.activeAt);
        // Another alert counts only when it became active clearly earlier (clocks jitter by a ms).
        if (a.state !== 'resolved' && (firstNamed === null || activeAt - faultAt < firstNamed.afterMs - 50)) {
          const summary = a.annotations['summary'] ?? '';
          firstNamed = { afterMs: activeAt - faultAt, alertname: a.alertname, state: a.state, summary };
        }
        if (a.state === 'pending' && !pendingSeen.has(a.fingerprint)) {
          pendingSeen.add(a.fingerprint);
          timeline.push({
            atMs: activeAt,
            kind: 'pending',
            text: `${a.alertname} pending: ${a.annotations['summary'] ?? ''}`,
          });
        }
        if (a.state === 'firing' && a.firedAt !== undefined) {
          const at = now - (Date.now() - a.firedAt);
          detection = {
            afterMs: at - faultAt,
            alertname: a.alertname,
            summary: a.annotations['summary'] ?? '',
            cause: a.annotations['cause'] ?? '',
          };
          timeline.push({
            atMs: at,
            kind: 'detect',
            text: `${a.alertname} fired: ${detection.summary}${detection.cause ? ` — likely cause: ${detection.cause}` : ''}`,
          });
        }
      }
      if (
        recoveryEvent === undefined &&
        scenario.recovery === 'guard-rollback' &&
        now - lastGuardPoll >= guardPollMs
      ) {
        lastGuardPoll = now;
        const g = ((await adminJson(`${balancer.adminUrl}/api/v1/guard`))['guard'] ?? null) as {
          state?: string;
          reason?: string;
          rollbackVersion?: number;
        } | null;
        if (g?.state !== undefined && g.state !== guardSeen) {
          guardSeen = g.state;
          if (g.state === 'rolled-back') {
            recoveryEvent = {
              at: load.elapsed(),
              how: `the guard rolled back by itself (${g.reason ?? 'regression'})`,
            };
            if (byGuard && detection === null) {
              detection = {
                afterMs: recoveryEvent.at - faultAt,
                alertname: 'guard verdict',
                summary: g.reason ?? 'regression',
                cause: 'the config under the guard',
              };
              timeline.push({
                atMs: recoveryEvent.at,
                kind: 'detect',
                text: `the guard's verdict: ${g.reason ?? 'regression'}`,
              });
            }
            timeline.push({
              atMs: recoveryEvent.at,
              kind: 'guard',
              text: `guard rolled the bad config back${g.rollbackVersion ? ` as version ${g.rollbackVersion}` : ''}: ${g.reason ?? ''}`,
            });
          } else if (g.state !== 'watching') {
            timeline.push({
              atMs: load.elapsed(),
              kind: 'guard',
              text: `guard ${g.state}${g.reason ? `: ${g.reason}` : ''} (no rollback)`,
            });
          }
        }
      }
      if (recoveryEvent === undefined && scenario.recovery === 'health-removal' && culprit !== undefined) {
        const snap = balancer.controller.snapshot;
        const state = snap
          ? balancer.health
              .describe(snap)
              .flatMap((p) => p.backends)
              .find((b) => b.name === culprit)?.status
          : undefined;
        if (state === 'unhealthy' || state === 'ejected') {
          recoveryEvent = {
            at: load.elapsed(),
            how: `health checking took ${culprit} out of rotation (${state})`,
          };
          timeline.push({
            atMs: recoveryEvent.at,
            kind: 'health',
            text: `${culprit} marked ${state}; traffic goes to its peers`,
          });
        }
      }
      const failed = failedCount();
      progress({
        phase: 'incident',
        sinceFaultMs: since,
        sent: load.sent,
        failed,
        detected: detection !== null,
        recovered: recoveryEvent !== undefined,
      });
      // Recovery counts once failures stayed at the baseline for SUSTAINED_WINDOWS seconds after
      // its event: observe until they did (or the observation ends), checked once a second.
      if (recoveryEvent !== undefined && settled === undefined && now - lastSettleCheck >= 1000) {
        lastSettleCheck = now;
        const limit = Math.max(0.01, 2 * summarize(records, 0, faultAt).failedShare);
        settled = settledAt(records, recoveryEvent.at, now, limit);
      }
      const doneAt = Math.max(
        settled !== undefined ? settled + SUSTAINED_WINDOWS * 1000 : Infinity,
        detection ? faultAt + detection.afterMs : Infinity,
      );
      if (since >= t.observeMs || now - doneAt >= t.settleMs) break;
      await sleep(POLL_MS);
    }
    progress({
      phase: 'settling',
      sinceFaultMs: load.elapsed() - faultAt,
      sent: load.sent,
      failed: failedCount(),
      detected: detection !== null,
      recovered: recoveryEvent !== undefined,
    });
    await load.stop();
    const end = load.elapsed();

    const before = summarize(records, 0, faultAt);
    let recovery: DrillResult['recovery'] = null;
    if (recoveryEvent !== undefined) {
      const limit = Math.max(0.01, 2 * before.failedShare);
      const at = settledAt(records, recoveryEvent.at, end, limit);
      if (at !== undefined) {
        recovery = { afterMs: at - faultAt, how: recoveryEvent.how };
        timeline.push({
          atMs: at,
          kind: 'recover',
          text: `failures back to the baseline (≤ ${(limit * 100).toFixed(0)}% in each second for ${SUSTAINED_WINDOWS} s); ${recoveryEvent.how}`,
        });
      }
    }
    const incidentEnd = recovery ? faultAt + recovery.afterMs : end;
    const result: DrillResult = {
      scenario: scenario.name,
      title: scenario.title,
      story: scenario.story,
      short,
      rate: t.rate,
      backends: backends.map((b) => ({
        name: b.name,
        capacity: b.capacity,
        serviceMs: b.serviceMs,
        requests: b.requests,
        rejected: b.rejected,
      })),
      lint: { of: badText ? 'bad config' : 'running config', findings: lintFindings },
      timeline: [
        {
          atMs: 0,
          kind: 'lint',
          text:
            lintFindings.length > 0
              ? `fulcrum lint on the ${badText ? 'bad' : 'running'} config: ${lintFindings.map((f) => `${f.severity} ${f.ruleId}`).join(', ')}`
              : `fulcrum lint on the ${badText ? 'bad' : 'running'} config: no findings (this fault is invisible to lint)`,
        },
        ...timeline.sort((a, b) => a.atMs - b.atMs),
      ],
      culprit,
      detection,
      firstNamed,
      recovery,
      misnamed: [...misnamed.values()],
      expected,
      requests: {
        total: summarize(records),
        before,
        incident: summarize(records, faultAt, incidentEnd),
        after: summarize(records, incidentEnd, end),
      },
      budgets: scenario.budgets,
      verdict: { detected: false, recovered: false, failures: false, named: false, passed: false },
    };
    if (scenario.compare !== undefined && recoveryEvent !== undefined) {
      const [before, after] = scenario.compare;
      result.policies = {
        [before]: summarize(records, faultAt, recoveryEvent.at),
        [after]: summarize(records, recoveryEvent.at + 1000, end),
      };
    }
    const v = result.verdict;
    v.detected = detection !== null && detection.afterMs <= scenario.budgets.detectMs;
    v.recovered = recovery !== null && recovery.afterMs <= scenario.budgets.recoverMs;
    v.failures = result.requests.total.failedShare < scenario.budgets.failedShare;
    v.named = result.misnamed.length === 0 && expected.every((e) => e.seen);
    v.passed = v.detected && v.recovered && v.failures && v.named;
    // Times relative to the fault, for the timeline.
    result.timeline = result.timeline.map((e) => ({ ...e, atMs: Math.round(e.atMs - faultAt) }));
    return result;
  } finally {
    await load?.stop();
    await balancer?.close(500).catch(() => undefined);
    await Promise.all(backends.map((b) => b.close()));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs scenarios one after another (they share two CPU cores with everything else). */
export async function runDrills(
  scenarios: readonly Scenario[],
  options: DrillOptions = {},
): Promise<DrillResult[]> {
  const out: DrillResult[] = [];
  for (const s of scenarios) out.push(await runDrill(s, options));
  return out;
}

export function unknownScenario(name: string, known: readonly string[]): FulcrumError {
  return new FulcrumError(
    'FULCRUM_ERR_DRILL_UNKNOWN_SCENARIO',
    `unknown drill scenario "${name}"; known: ${known.join(', ')}`,
    { known },
  );
}
