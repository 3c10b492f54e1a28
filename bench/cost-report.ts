// The "Cost per unit" section of bench/RESULTS.md (written by bench/cost.ts, kept by
// bench/run.ts's report): per round, every row's figure for each target, fulcrum ÷ nginx, and
// the targets of issue 16 judged on the same round.
import { keptMarked, spliceMarked, type Marked } from './sections.ts';

export interface RowResult {
  round: number;
  target: string;
  row: string;
  rps: number;
  p99: number;
  requests: number;
  errors: number;
  /** CPU µs per request, or CPU ms per GiB of body for the body rows. */
  perUnit: number;
}

export interface MemoryReading {
  round: number;
  target: string;
  /** RSS of the main shape, idle, before any load. */
  idleKiB: number;
  /** RSS added per idle keep-alive connection, past the first ones (CostRun.idleWarm). */
  perIdleConnKiB: number;
  /** RSS added per connection over the first idleWarm ones (heaps growing, code compiled). */
  firstConnsKiB: number;
  /** RSS of the wide shape (WIDE backends more), idle. */
  wideKiB?: number;
  /** RSS right after the load rows, and settleS seconds later (last round only). */
  loadEndKiB?: number;
  settledKiB?: number;
}

export interface CostRun {
  command: string;
  at: string;
  commit: string;
  versions: readonly string[];
  durationS: number;
  warmupS: number;
  settleS: number;
  idleConns: number;
  /** Idle connections opened before the measured ones. */
  idleWarm: number;
  wide: number;
  pinned: boolean;
  rows: readonly { id: string; label: string; perGiB: boolean }[];
  results: readonly RowResult[];
  memory: readonly MemoryReading[];
}

export const COST_START = '<!-- COST:START (written by bench/cost.ts) -->';
export const COST_END = '<!-- COST:END -->';

/** Per-unit CPU targets: fulcrum ÷ nginx, same round. */
const CPU_TARGETS: Record<string, number> = {
  ka64: 1.6,
  ka256: 1.6,
  close64: 2,
  tls64: 1.8,
  down: 1.6,
  up: 1.6,
};

const f1 = (n: number | undefined): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f2 = (n: number | undefined): string => (n !== undefined && Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const mb = (kib: number | undefined): string => (kib === undefined ? 'n/a' : (kib / 1024).toFixed(1));
const verdict = (ok: boolean): string => (ok ? '**PASS**' : '**FAIL**');

const COST: Marked = { start: COST_START, end: COST_END };

/** Replace (or append) the cost section of a RESULTS.md text. */
export function spliceSection(previous: string, section: string): string {
  return spliceMarked(previous, COST, section);
}

/** The cost section of a RESULTS.md text ('' when there is none), for run.ts to carry over. */
export function keptCost(previous: string): string {
  return keptMarked(previous, COST);
}

export function renderCost(run: CostRun): string {
  const out: string[] = [];
  const targets = [
    ...new Set(run.results.map((r) => r.target)),
    ...new Set(run.memory.map((m) => m.target)),
  ].filter((t, i, all) => all.indexOf(t) === i);
  const rounds = [...new Set(run.memory.map((m) => m.round))];
  const get = (round: number, target: string, row: string): RowResult | undefined =>
    run.results.find((r) => r.round === round && r.target === target && r.row === row);
  out.push('## Cost per unit (issue 16)');
  out.push('');
  out.push(
    `Written by \`${run.command}\` (bench/cost.ts) at commit ${run.commit} on ${run.at}. ${run.versions.join('; ')}.`,
  );
  out.push('');
  out.push(
    `- Method: each proxy alone on core 0${run.pinned ? '' : ' (**not pinned: single-core machine**)'}, wrk and the backends (one nginx worker) on ` +
      `core 1. Per row a ${run.warmupS} s warm-up, then ${run.durationS} s measured; CPU is the proxy's user + system time ` +
      'from /proc/PID/stat (with its children) over the measured run, per request or per GiB of body. nginx runs ' +
      '`worker_processes 1`, haproxy `nbthread 1`, fulcrum one process; no active health checks; access logs to /dev/null ' +
      '(haproxy logs nothing). Rounds interleave the targets.',
  );
  out.push(
    `- Memory: RSS (VmRSS, with children) 2 s after start; per idle connection = the RSS ${run.idleConns} more idle keep-alive ` +
      `connections (one request each) add to ${run.idleWarm} already open, ÷ ${run.idleConns} (the first ones, a row of their own, also grow the heaps); per extra backend = (RSS of the same proxy with one more ` +
      `pool of ${run.wide} backends − idle) ÷ ${run.wide}; settled = RSS ${run.settleS} s after the last load row (last round).`,
  );
  out.push('');
  for (const round of rounds) {
    out.push(`### Round ${round}`);
    out.push('');
    out.push(
      `| row | unit | ${targets.join(' | ')} | fulcrum ÷ nginx | target | verdict | fulcrum ÷ node floor |`,
    );
    out.push(`|---|---|${targets.map(() => '---:').join('|')}|---:|---:|---|---:|`);
    for (const row of run.rows) {
      const unit = row.perGiB ? 'CPU ms/GiB' : 'CPU µs/req';
      const cells = targets.map((t) => f1(get(round, t, row.id)?.perUnit));
      const f = get(round, 'fulcrum', row.id);
      const n = get(round, 'nginx', row.id);
      const ratio = f !== undefined && n !== undefined ? f.perUnit / n.perUnit : Number.NaN;
      const floor = get(round, 'node-floor', row.id);
      const overFloor = f !== undefined && floor !== undefined ? f.perUnit / floor.perUnit : Number.NaN;
      const target = CPU_TARGETS[row.id];
      out.push(
        `| ${row.label} | ${unit} | ${cells.join(' | ')} | ${f2(ratio)}× | ${target === undefined ? '' : `≤ ${target}×`} | ${
          target === undefined || !Number.isFinite(ratio) ? '' : verdict(ratio <= target)
        } | ${f2(overFloor)}× |`,
      );
    }
    const tlsAdded = (t: string): number =>
      (get(round, t, 'tls64')?.perUnit ?? Number.NaN) - (get(round, t, 'ka64')?.perUnit ?? Number.NaN);
    const hashAdded = (t: string): number =>
      (get(round, t, 'hash1000')?.perUnit ?? Number.NaN) - (get(round, t, 'hash3')?.perUnit ?? Number.NaN);
    const added = tlsAdded('fulcrum') / tlsAdded('nginx');
    out.push(
      `| TLS added to a keep-alive request | CPU µs/req | ${targets.map((t) => f1(tlsAdded(t))).join(' | ')} | ${f2(added)}× | ≤ 2× | ${
        Number.isFinite(added) ? verdict(added <= 2) : ''
      } | |`,
    );
    out.push(
      `| hash pick over ${run.wide} backends, added over 3 | CPU µs/req | ${targets.map((t) => f1(hashAdded(t))).join(' | ')} | | | | |`,
    );
    const rps = (t: string): number => get(round, t, 'ka64')?.rps ?? Number.NaN;
    const rpsRatio = rps('fulcrum') / rps('nginx');
    out.push(
      `| requests/s, keep-alive, 64 connections | req/s | ${targets.map((t) => f1(rps(t))).join(' | ')} | ${f2(rpsRatio)}× | ≥ 0.65× | ${
        Number.isFinite(rpsRatio) ? verdict(rpsRatio >= 0.65) : ''
      } | |`,
    );
    const p99 = (t: string): number => get(round, t, 'ka64')?.p99 ?? Number.NaN;
    out.push(
      `| p99, keep-alive, 64 connections | ms | ${targets.map((t) => f2(p99(t))).join(' | ')} | ${f2(p99('fulcrum') / p99('nginx'))}× | (today's) | | |`,
    );
    const errors = run.results.filter((r) => r.round === round && r.errors > 0);
    if (errors.length > 0)
      out.push('', `Errors this round: ${errors.map((e) => `${e.target} ${e.row} ${e.errors}`).join(', ')}.`);
    const mem = (t: string): MemoryReading | undefined =>
      run.memory.find((m) => m.round === round && m.target === t);
    out.push('');
    out.push(`| memory | ${targets.join(' | ')} | fulcrum ÷ nginx | target | verdict |`);
    out.push(`|---|${targets.map(() => '---:').join('|')}|---:|---:|---|`);
    const idle = (t: string): number | undefined => mem(t)?.idleKiB;
    const fIdle = idle('fulcrum');
    out.push(
      `| idle RSS (MB) | ${targets.map((t) => mb(idle(t))).join(' | ')} | ${f2((fIdle ?? NaN) / (idle('nginx') ?? NaN))}× | ≤ 60 MB | ${
        fIdle === undefined ? '' : verdict(fIdle / 1024 <= 60)
      } |`,
    );
    const perBackend = (t: string): number => {
      const m = mem(t);
      return m?.wideKiB === undefined ? Number.NaN : ((m.wideKiB - m.idleKiB) * 1024) / run.wide / 1000;
    };
    out.push(
      `| per extra backend (KB) | ${targets.map((t) => f1(perBackend(t))).join(' | ')} | ${f2(perBackend('fulcrum') / perBackend('nginx'))}× | ≤ 8 KB | ${
        Number.isFinite(perBackend('fulcrum')) ? verdict(perBackend('fulcrum') <= 8) : ''
      } |`,
    );
    const perConn = (t: string): number => mem(t)?.perIdleConnKiB ?? Number.NaN;
    out.push(
      `| per idle keep-alive connection (KiB) | ${targets.map((t) => f2(perConn(t))).join(' | ')} | ${f2(perConn('fulcrum') / perConn('nginx'))}× | ≤ 1.5 KiB | ${
        Number.isFinite(perConn('fulcrum')) ? verdict(perConn('fulcrum') <= 1.5) : ''
      } |`,
    );
    const firstConns = (t: string): number => mem(t)?.firstConnsKiB ?? Number.NaN;
    out.push(
      `| the first ${run.idleWarm} idle connections, each (KiB) | ${targets.map((t) => f2(firstConns(t))).join(' | ')} | ${f2(firstConns('fulcrum') / firstConns('nginx'))}× | | |`,
    );
    if (mem('fulcrum')?.settledKiB !== undefined) {
      const settled = (t: string): string => {
        const m = mem(t);
        return m?.settledKiB === undefined ? 'n/a' : `${mb(m.loadEndKiB)} → ${mb(m.settledKiB)}`;
      };
      const f = mem('fulcrum') as MemoryReading;
      const growth = (f.settledKiB as number) / f.idleKiB - 1;
      out.push(
        `| RSS at load end → ${run.settleS} s later (MB) | ${targets.map(settled).join(' | ')} | | ≤ +20% of idle | ${verdict(growth <= 0.2)} (${(growth * 100).toFixed(0)}%) |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
