// bench/RESULTS.md: the command, the machine, one table per round, and the targets of issue 2
// judged per round and connection count. The hand-written notes between the NOTES markers
// (profiling findings, before/after figures) are carried over from the previous file.
import { keptCost } from './cost-report.ts';
import { keptWorkers } from './workers-report.ts';
import { BODY } from './nginx.ts';
import type { WrkResult } from './wrk.ts';

export interface Measurement extends WrkResult {
  round: number;
  target: string;
  connections: number;
  threads: number;
  /** 1-minute load average just before the measurement (others share the machine). */
  loadBefore: number;
  /** CPU time of the proxy process(es) per completed request, in µs (NaN for direct). */
  cpuUsPerReq: number;
}

export interface MachineFacts {
  nproc: string;
  node: string;
  nginx: string;
  wrk: string;
  cpu: string;
  /** Commit of the code measured ('' outside a git checkout). */
  commit: string;
}

export function machineFacts(f: MachineFacts): MachineFacts {
  return { ...f, cpu: f.cpu.trim() };
}

const NOTES_START = '<!-- NOTES:START (kept across runs) -->';
const NOTES_END = '<!-- NOTES:END -->';

/** The targets, per connection count, on the same round. */
const TARGETS = {
  vsNginx: 0.4,
  vsHttpProxy: 1.25,
  p99VsNginx: 3,
  p99MaxMs: 100,
};

/** Row order of the tables, whatever order the round ran in. */
const ROW_ORDER = [
  'direct',
  'nginx',
  'http-proxy',
  'node-hello',
  'node-floor',
  'fulcrum',
  'fulcrum-nolog',
  'fulcrum-logfile',
];

function rank(target: string): number {
  const i = ROW_ORDER.indexOf(target);
  return i < 0 ? ROW_ORDER.length : i;
}

function keptNotes(previous: string): string {
  const a = previous.indexOf(NOTES_START);
  const b = previous.indexOf(NOTES_END);
  if (a < 0 || b < a) return `${NOTES_START}\n${NOTES_END}`;
  return previous.slice(a, b + NOTES_END.length);
}

const f0 = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const f3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : 'n/a');
const f2 = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : 'n/a');
const verdict = (ok: boolean): string => (ok ? '**PASS**' : '**FAIL**');

function find(rs: readonly Measurement[], target: string, c: number): Measurement | undefined {
  return rs.find((m) => m.target === target && m.connections === c);
}

function judge(rs: readonly Measurement[], subject: string, c: number): string[] {
  const me = find(rs, subject, c);
  const nginx = find(rs, 'nginx', c);
  const peer = find(rs, 'http-proxy', c);
  const direct = find(rs, 'direct', c);
  if (me === undefined) return [];
  const rows: string[] = [];
  if (nginx !== undefined) {
    const r = me.rps / nginx.rps;
    rows.push(
      `| ${subject} | ${c} | req/s vs nginx | ${f3(r)}× | ≥ ${TARGETS.vsNginx}× | ${verdict(r >= TARGETS.vsNginx)} |`,
    );
    const p = me.p99 / nginx.p99;
    rows.push(
      `| ${subject} | ${c} | p99 vs nginx | ${f3(p)}× | ≤ ${TARGETS.p99VsNginx}× | ${verdict(p <= TARGETS.p99VsNginx)} |`,
    );
  }
  if (peer !== undefined) {
    const r = me.rps / peer.rps;
    rows.push(
      `| ${subject} | ${c} | req/s vs http-proxy | ${f3(r)}× | ≥ ${TARGETS.vsHttpProxy}× | ${verdict(r >= TARGETS.vsHttpProxy)} |`,
    );
  }
  rows.push(
    `| ${subject} | ${c} | p99 | ${f2(me.p99)} ms | ≤ ${TARGETS.p99MaxMs} ms | ${verdict(me.p99 <= TARGETS.p99MaxMs)} |`,
  );
  rows.push(`| ${subject} | ${c} | errors | ${me.errors} | 0 | ${verdict(me.errors === 0)} |`);
  if (direct !== undefined)
    rows.push(`| ${subject} | ${c} | req/s vs direct (info) | ${f2(me.rps / direct.rps)}× | | |`);
  return rows;
}

export interface ReportInput {
  command: string;
  facts: MachineFacts;
  results: readonly Measurement[];
  durationS: number;
  warmupS: number;
  previous: string;
  /** False on a single-core machine: nothing was pinned. */
  pinned: boolean;
}

export function renderReport(input: ReportInput): string {
  const { facts, results } = input;
  const rounds = [...new Set(results.map((m) => m.round))];
  const conns = [...new Set(results.map((m) => m.connections))];
  const subjects = [...new Set(results.map((m) => m.target))]
    .filter((t) => t.startsWith('fulcrum'))
    .sort((a, b) => rank(a) - rank(b));
  const out: string[] = [];
  out.push('# Bench results');
  out.push('');
  const at = facts.commit === '' ? '' : ` at commit ${facts.commit}`;
  out.push(`Written by \`${input.command}\` (bench/run.ts)${at} on ${new Date().toISOString()}.`);
  out.push('');
  out.push('## Machine');
  out.push('');
  out.push(`- CPU: ${facts.cpu}, nproc ${facts.nproc}`);
  out.push(`- Node ${facts.node}; ${facts.nginx}; ${facts.wrk.split(' Copyright')[0]}`);
  out.push(
    '- Shared machine: other engineers run test suites on the same 2 cores during the day. The bench waits ' +
      '(bounded) for a low load before each round and prints the 1-minute load average before every ' +
      'measurement; a figure taken under load is low by an unknown amount, so compare rows of the same round.',
  );
  out.push('');
  out.push('## Method');
  out.push('');
  if (!input.pinned) {
    out.push(
      '- **Not pinned: this machine has a single core**, so the proxies, wrk and the backends shared it; ' +
        'the core assignment described below did not apply and the figures say little about the proxies.',
    );
  }
  out.push(
    `- Each proxy under test runs alone, pinned to core 0 (\`taskset -c 0\`): nginx with \`worker_processes 1\`, ` +
      'the `http-proxy` peer (bench/http-proxy-peer.ts, keep-alive agent), fulcrum started with ' +
      '`node src/cli/run.ts start -c <generated yaml> --force --memory-store` (round-robin, three backends, ' +
      'health checks every 2 s, access log on and written to /dev/null; nginx also logs each request to /dev/null).',
  );
  out.push(
    '- wrk and the backends share core 1. The backends are one nginx worker answering a fixed ' +
      `${Buffer.byteLength(BODY)}-byte JSON body on three ports (a \`return 200\` costs nginx a few µs, so backends never ` +
      'bound a Node proxy). The direct baseline is wrk straight at one backend: it is the ceiling of core 1, ' +
      'and a proxy near it is limited by the load generator, not by itself.',
  );
  out.push(
    `- Per target and connection count: a ${input.warmupS} s warm-up run, then \`wrk -tN -cC -d${input.durationS}s ` +
      '--latency --timeout 5s` (N = 1 at 64 connections, 2 at 256). All targets run in the same round; the ' +
      'round is repeated to check stability.',
  );
  out.push(
    '- Rows: `fulcrum` is fulcrum as shipped (raw-socket data plane); `node-floor` is the least a proxy on ' +
      'node:http and undici costs (bench/node-floor.ts: no routing, rewriting, timers or log), the stack ' +
      "fulcrum's data plane replaced; `fulcrum-nolog`, when run, is fulcrum with `log.access: false`; " +
      '`fulcrum-logfile`, when run, writes its access log (every field) to a file through `log.file`. The ' +
      'verdicts judge every fulcrum row against the targets of issue 2.',
  );
  out.push(
    '- "proxy CPU µs/req" is the user + system CPU time of the proxy process (and its children: the nginx ' +
      'worker) during the measured run, from /proc, divided by the requests wrk completed. It moves much ' +
      'less than requests/s when other work shares the machine, so compare changes by it.',
  );
  out.push('');
  for (const round of rounds) {
    const rs = results.filter((m) => m.round === round);
    out.push(`## Round ${round}`);
    out.push('');
    out.push(
      '| target | conns | req/s | p50 ms | p90 ms | p99 ms | proxy CPU µs/req | errors | load before |',
    );
    out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const c of conns) {
      const rows = rs.filter((x) => x.connections === c).sort((a, b) => rank(a.target) - rank(b.target));
      for (const m of rows) {
        out.push(
          `| ${m.target} | ${c} | ${f0(m.rps)} | ${f2(m.p50)} | ${f2(m.p90)} | ${f2(m.p99)} | ${f1(m.cpuUsPerReq)} | ${m.errors} | ${m.loadBefore} |`,
        );
      }
    }
    out.push('');
    out.push('| subject | conns | measure | value | target | verdict |');
    out.push('|---|---:|---|---:|---:|---|');
    for (const s of subjects) for (const c of conns) out.push(...judge(rs, s, c));
    out.push('');
  }
  out.push('## Notes');
  out.push('');
  out.push(keptNotes(input.previous));
  out.push('');
  const cost = keptCost(input.previous);
  if (cost !== '') out.push(cost, '');
  const workers = keptWorkers(input.previous);
  if (workers !== '') out.push(workers, '');
  return out.join('\n');
}
