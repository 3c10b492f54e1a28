// Live config verbs: apply, history, rollback. They go through the admin API so the
// running balancer does the validate → lint → build → warm → swap → commit itself.
import { userInfo } from 'node:os';
import { FulcrumError } from '../../core/errors.ts';
import { readConfigFile } from '../../config/load.ts';
import { parseDuration } from '../../core/units.ts';
import type { ConfigDiff } from '../../config/diff.ts';
import { renderDiffText } from '../../config/diff/format-text.ts';
import { formatShare, parseCanaryShare } from '../../runtime/canary.ts';
import type { GuardStatus } from '../../runtime/guard.ts';
import type { VersionSummary } from '../../store/store.ts';
import { adminCall, type AdminTarget } from '../admin-client.ts';
import { EXIT, wantsColor, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

interface ApplyAnswer {
  status: 'applied' | 'unchanged' | 'dry-run';
  version: number | null;
  previousVersion: number | null;
  findings: {
    ruleId: string;
    severity: string;
    path: string;
    message: string;
    line?: number;
    suppressed?: { severity: string; reason: string };
  }[];
  diff: ConfigDiff;
  guard?: unknown;
}

export interface ApplyFlags extends AdminTarget {
  message?: string;
  author?: string;
  force?: boolean;
  dryRun?: boolean;
  guard?: string;
  canaryInstances?: string;
  /** A share of this instance's requests (`10%`) on the new config first. */
  canary?: string;
  format: 'text' | 'json';
}

interface CanaryAnswer {
  result: ApplyAnswer;
  canary: { state: string; version: number; targets: string[]; endsAt: number; reason?: string } | null;
}

export async function applyCommand(file: string, flags: ApplyFlags, io: CliIo): Promise<number> {
  try {
    const text = await readConfigFile(file);
    const guardMs = flags.guard === undefined ? undefined : parseDuration(flags.guard);
    if (flags.guard !== undefined && (guardMs === undefined || guardMs <= 0)) {
      throw new FulcrumError(
        'FULCRUM_ERR_CLI_USAGE',
        `--guard must be a duration like 60s (got "${flags.guard}")`,
      );
    }
    if (flags.canary !== undefined) {
      if (flags.canaryInstances !== undefined) {
        throw new FulcrumError(
          'FULCRUM_ERR_CANARY_INVALID',
          '--canary P% and --canary-instances N exclude each other: a share of one instance, or whole instances of a fleet',
        );
      }
      return await sliceCanaryApply(text, flags, parseCanaryShare(flags.canary), guardMs ?? 60_000, io);
    }
    if (flags.canaryInstances !== undefined) return await canaryApply(text, flags, guardMs ?? 60_000, io);
    const query = new URLSearchParams();
    if (flags.force) query.set('force', '1');
    if (flags.dryRun) query.set('dryRun', '1');
    if (flags.guard !== undefined) query.set('guard', flags.guard);
    const answer = await postConfig<ApplyAnswer>(text, flags, query, io);
    if (flags.format === 'json' && guardMs === undefined) {
      io.out(JSON.stringify(answer, null, 2));
      return EXIT.OK;
    }
    if (flags.format === 'text') printApply(answer, io);
    if (guardMs === undefined || answer.status !== 'applied') return EXIT.OK;
    const outcome = await waitForGuard(flags, guardMs, io, flags.format === 'text');
    if (flags.format === 'json') io.out(JSON.stringify({ ...answer, guard: outcome }, null, 2));
    if (outcome.state === 'rolled-back') {
      if (flags.format === 'text')
        io.err(`guard rolled back version ${outcome.appliedVersion}: ${outcome.reason ?? 'regression'}`);
      return EXIT.PROBLEMS;
    }
    if (flags.format === 'text') io.out(`guard passed: version ${outcome.appliedVersion} kept`);
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}

/** POST the config text to the admin with the apply's query, author and message. */
function postConfig<T>(text: string, flags: ApplyFlags, query: URLSearchParams, io: CliIo): Promise<T> {
  return adminCall<T>(flags, `api/v1/config?${query}`, {
    method: 'POST',
    body: text,
    headers: {
      'content-type': 'application/yaml',
      ...authorHeader(flags.author, io),
      ...(flags.message === undefined ? {} : { 'x-fulcrum-message': encodeURIComponent(flags.message) }),
    },
  });
}

/** `--canary 10%`: a share of this instance's requests first; wait for the guard's verdict. */
async function sliceCanaryApply(
  text: string,
  flags: ApplyFlags,
  fraction: number,
  guardMs: number,
  io: CliIo,
): Promise<number> {
  const query = new URLSearchParams({ canary: formatShare(fraction), guard: `${guardMs}ms` });
  if (flags.force) query.set('force', '1');
  if (flags.dryRun) query.set('dryRun', '1');
  const answer = await postConfig<ApplyAnswer & { canary: { version: number; baseVersion: number } | null }>(
    text,
    flags,
    query,
    io,
  );
  if (flags.format === 'text') printApply(answer, io, 'canary');
  const started = answer.canary;
  if (started === null) {
    if (flags.format === 'json') io.out(JSON.stringify(answer, null, 2));
    return EXIT.OK;
  }
  const talk = flags.format === 'text';
  if (talk)
    io.out(
      `canary: version ${started.version} runs ${formatShare(fraction)} of new requests beside version ${started.baseVersion}`,
    );
  const outcome = await waitForGuard(flags, guardMs, io, talk);
  if (flags.format === 'json') io.out(JSON.stringify({ ...answer, guard: outcome }, null, 2));
  if (outcome.state === 'passed') {
    if (talk)
      io.out(
        `canary promoted: version ${outcome.appliedVersion} takes all requests (${outcome.reason ?? ''})`,
      );
    return EXIT.OK;
  }
  if (talk)
    io.err(
      `canary ${outcome.state === 'rolled-back' ? 'rolled back' : 'cancelled'}: version ${outcome.appliedVersion}: ${outcome.reason ?? 'regression'}`,
    );
  return EXIT.PROBLEMS;
}

/** `--canary-instances N`: this instance (and N-1 others) first; wait for the fleet guard's verdict. */
async function canaryApply(text: string, flags: ApplyFlags, guardMs: number, io: CliIo): Promise<number> {
  const query = new URLSearchParams({ canaryInstances: flags.canaryInstances ?? '1', guard: `${guardMs}ms` });
  if (flags.force) query.set('force', '1');
  // The same author rule as every apply (--author, then $USER, $LOGNAME, the account name).
  const answer = await postConfig<CanaryAnswer>(text, flags, query, io);
  if (flags.format === 'text') printApply(answer.result, io);
  const started = answer.canary;
  if (started === null) {
    if (flags.format === 'json') io.out(JSON.stringify(answer, null, 2));
    return EXIT.OK;
  }
  if (flags.format === 'text')
    io.out(
      `canary: version ${started.version} on ${started.targets.join(', ')}; guarding for ${Math.round(guardMs / 1000)}s…`,
    );
  const deadline = Date.now() + guardMs + 30_000;
  let outcome = started;
  while (outcome.state === 'watching' && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1000));
    const view = await adminCall<{ canary: CanaryAnswer['canary'] }>(flags, 'api/v1/fleet');
    if (view.canary && view.canary.version === started.version) outcome = view.canary;
  }
  if (flags.format === 'json') io.out(JSON.stringify({ ...answer, canary: outcome }, null, 2));
  if (outcome.state === 'watching')
    throw new FulcrumError(
      'FULCRUM_ERR_ADMIN_UNREACHABLE',
      'the canary guard did not report an outcome in time',
    );
  if (outcome.state === 'rolled-back') {
    if (flags.format === 'text')
      io.err(`canary rolled back everywhere: version ${outcome.version}: ${outcome.reason ?? 'regression'}`);
    return EXIT.PROBLEMS;
  }
  if (flags.format === 'text') io.out(`canary promoted: the fleet follows version ${outcome.version}`);
  return EXIT.OK;
}

async function waitForGuard(
  target: AdminTarget,
  guardMs: number,
  io: CliIo,
  talk: boolean,
): Promise<GuardStatus> {
  const deadline = Date.now() + guardMs + 30_000;
  if (talk)
    io.out(
      `guarding for ${Math.round(guardMs / 1000)}s (the balancer rolls back by itself if this CLI dies)…`,
    );
  // Not a terminal (CI logs, a pipe): a line now and then instead of a line rewritten in place.
  const every = Math.max(1000, Math.min(10_000, guardMs / 5));
  let lastLine = 0;
  let rewrote = false;
  try {
    while (Date.now() < deadline) {
      const { guard } = await adminCall<{ guard: GuardStatus | null }>(target, 'api/v1/guard');
      if (guard && guard.state !== 'watching') return guard;
      if (talk && guard) {
        const line = guardProgress(guard, Date.now());
        if (io.rewrite !== undefined) {
          io.rewrite(line);
          rewrote = true;
        } else if (Date.now() - lastLine >= every) {
          io.out(line);
          lastLine = Date.now();
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    if (rewrote) io.rewrite?.('');
  }
  throw new FulcrumError('FULCRUM_ERR_ADMIN_UNREACHABLE', 'the guard did not report an outcome in time');
}

/** `guard 12s/60s on version 5: 1234 requests, 0.2% errors, p99 ≤ 50 ms (before: 0.1%, ≤ 25 ms)`. */
export function guardProgress(g: GuardStatus, now: number): string {
  const s = (ms: number): string => `${Math.max(0, Math.round(ms / 1000))}s`;
  const pct = (r: number): string => `${(r * 100).toFixed(1)}%`;
  const l = g.latest;
  const c = g.canary;
  if (c !== undefined) {
    const slice = (w: typeof l): string =>
      w === null || w.requests === 0
        ? 'no requests yet'
        : `${w.requests} requests, ${pct(w.errorRatio)} errors, p99 ≤ ${w.p99Ms} ms`;
    return `canary ${formatShare(c.fraction)} ${s(now - g.startedAt)}/${s(g.endsAt - g.startedAt)} on version ${g.appliedVersion}: ${slice(c.canary)} (baseline: ${slice(c.baseline)})`;
  }
  const window =
    l === null || l.requests === 0
      ? 'no requests yet'
      : `${l.requests} requests, ${pct(l.errorRatio)} errors, p99 ≤ ${l.p99Ms} ms`;
  return `guard ${s(now - g.startedAt)}/${s(g.endsAt - g.startedAt)} on version ${g.appliedVersion}: ${window} (before: ${pct(g.baseline.errorRatio)}, ≤ ${g.baseline.p99Ms} ms)`;
}

function printApply(a: ApplyAnswer, io: CliIo, mode: 'apply' | 'canary' = 'apply'): void {
  if (a.status !== 'unchanged') io.out(renderDiffText(a.diff, { color: wantsColor(io) }));
  for (const f of a.findings) {
    const note =
      f.suppressed === undefined ? '' : ` (suppressed ${f.suppressed.severity}: ${f.suppressed.reason})`;
    io.out(`${f.severity.padEnd(7)} ${f.path}: ${f.message} [${f.ruleId}]${note}`);
  }
  const what =
    a.status === 'applied'
      ? mode === 'canary'
        ? `committed version ${a.version} as a canary (running: ${a.previousVersion ?? 'none'})`
        : `applied version ${a.version} (was ${a.previousVersion ?? 'none'})`
      : a.status === 'unchanged'
        ? `unchanged: version ${a.version} already runs this config (same settings, same certificate files)`
        : `dry run: nothing changed (running version ${a.version ?? 'none'})`;
  io.out(what);
}

export interface HistoryFlags extends AdminTarget {
  limit: string;
  format: 'text' | 'json';
}

export async function historyCommand(flags: HistoryFlags, io: CliIo): Promise<number> {
  try {
    const limit = Number(flags.limit);
    if (!Number.isInteger(limit) || limit < 1)
      throw new FulcrumError('FULCRUM_ERR_CLI_USAGE', '--limit must be a positive integer');
    const r = await adminCall<{ current: number | null; versions: VersionSummary[] }>(
      flags,
      `api/v1/config/versions?limit=${limit}`,
    );
    if (flags.format === 'json') {
      io.out(JSON.stringify(r, null, 2));
      return EXIT.OK;
    }
    io.out(
      `${'VERSION'.padEnd(9)}${'WHEN'.padEnd(22)}${'SOURCE'.padEnd(10)}${'AUTHOR'.padEnd(16)}${'SHA256'.padEnd(14)}MESSAGE`,
    );
    for (const v of r.versions) {
      const mark = v.version === r.current ? '*' : ' ';
      io.out(
        `${`${mark}${v.version}`.padEnd(9)}${new Date(v.createdAt).toISOString().slice(0, 19).replace('T', ' ').padEnd(22)}${v.source.padEnd(10)}${v.author.slice(0, 15).padEnd(16)}${v.sha256.slice(0, 12).padEnd(14)}${v.message}`,
      );
    }
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}

/**
 * Who the history records: --author, else the login name ($USER, $LOGNAME, the OS account).
 * With none of them the header is left out and the admin records the token holder or
 * `anonymous`, with the client address.
 */
function authorHeader(flag: string | undefined, io: CliIo): Record<string, string> {
  let name = flag ?? io.env['USER'] ?? io.env['LOGNAME'];
  if (name === undefined || name === '') {
    try {
      name = userInfo().username;
    } catch {
      // no passwd entry (a container's arbitrary uid)
    }
  }
  return name ? { 'x-fulcrum-author': encodeURIComponent(name) } : {};
}

export interface RollbackFlags extends AdminTarget {
  message?: string;
  author?: string;
  format: 'text' | 'json';
}

export async function rollbackCommand(
  version: string | undefined,
  flags: RollbackFlags,
  io: CliIo,
): Promise<number> {
  try {
    const n = version === undefined ? undefined : Number(version);
    if (n !== undefined && (!Number.isInteger(n) || n < 1)) {
      throw new FulcrumError(
        'FULCRUM_ERR_CLI_USAGE',
        `version must be a positive integer (got "${version}")`,
      );
    }
    const answer = await adminCall<ApplyAnswer>(flags, 'api/v1/config/rollback', {
      method: 'POST',
      body: JSON.stringify({
        ...(n === undefined ? {} : { version: n }),
        ...(flags.message ? { message: flags.message } : {}),
      }),
      headers: {
        'content-type': 'application/json',
        ...authorHeader(flags.author, io),
      },
    });
    if (flags.format === 'json') io.out(JSON.stringify(answer, null, 2));
    else printApply(answer, io);
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}
