// `npm run bench:cost`: what each unit of work costs fulcrum beside nginx and haproxy, in one
// run: CPU per keep-alive request (64 and 256 connections), per new connection, per TLS
// request, per GiB of bodies both ways, per consistent-hash pick over 3 and over 1,000
// backends; and memory: idle RSS, per extra backend, per idle keep-alive connection, and RSS a
// while after the load ended. Writes the "Cost per unit" section of bench/RESULTS.md.
//
// Topology as in bench/run.ts: the proxy under test alone on core 0; wrk and the backends (one
// nginx worker) on core 1. CPU is the proxy's user + system time from /proc/PID/stat (process
// and its children), taken around each measured wrk run; RSS is VmRSS from /proc/PID/status.
// Rounds interleave the targets (each round starts one target later).
//
// Options: --targets nginx,haproxy,node-floor,fulcrum  --rounds 2  --duration 5  --warmup 2
//          --settle 60 (seconds after the load before the last RSS reading)
//          --idle-warm 2000 --idle 6000 (idle connections opened first, then the ones measured)
//          --rows ka64,ka256,close64,tls64,down,up,hash3,hash1000  --out bench/RESULTS.md
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  BIG,
  WIDE,
  allocatePorts,
  fulcrumYaml,
  writeBackends,
  writeHaproxy,
  writeNginx,
  type Ports,
  type Tls,
} from './cost-configs.ts';
import {
  renderCost,
  spliceSection,
  type CostRun,
  type MemoryReading,
  type RowResult,
} from './cost-report.ts';
import { commandLine, cpuMs, sleep, startPinned, stop, waitReady, type Proc, runBench } from './procs.ts';
import { binNodeFlags } from './bin-flags.ts';
import { HAPROXY, NGINX, ensureTools } from './tools.ts';
import { runWrk } from './wrk.ts';
import { selfSignedCert } from '../src/testing/tls-cert.ts';
import { freePort } from '../src/sim/free-port.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PINNED = availableParallelism() >= 2;
const PROXY_CPU = PINNED ? '0' : undefined;
const LOAD_CPU = PINNED ? '1' : undefined;

// The build an installed package runs (`npm run bench:cost` builds it first): from src/ Node
// would also strip the types of every module, whose compiler alone is 15 MB of RSS.
// FULCRUM_BENCH_ENTRY=/other/checkout/dist/cli/run.js measures another build (before/after).
const FULCRUM_ENTRY = process.env['FULCRUM_BENCH_ENTRY'] ?? join(ROOT, 'dist', 'cli', 'run.js');
// The Node flags the package's bin starts with (its `#!/usr/bin/env -S node ...` line), so the
// bench runs fulcrum as an installed `fulcrum start` runs; the node floor gets them too, so both
// run on the same tuned V8. FULCRUM_BENCH_NODE_FLAGS adds to them, e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/p" (FULCRUM_BENCH_BIN_FLAGS=0 leaves the bin's out, to compare).
const BIN_FLAGS =
  process.env['FULCRUM_BENCH_BIN_FLAGS'] === '0'
    ? []
    : binNodeFlags(readFileSync(join(ROOT, 'bin', 'fulcrum.js'), 'utf8'));
const NODE_FLAGS = [
  ...BIN_FLAGS,
  ...(process.env['FULCRUM_BENCH_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== ''),
];

// node-floor: bench/socket-floor.ts, the least a Node proxy on fulcrum's socket APIs can do.
const TARGETS = ['nginx', 'haproxy', 'node-floor', 'fulcrum'] as const;
type Target = (typeof TARGETS)[number];

export interface RowSpec {
  id: string;
  /** What the row measures, for the report. */
  label: string;
  listener: 'plain' | 'tls' | 'hash' | 'wideHash';
  path: string;
  connections: number;
  threads: number;
  extra: readonly string[];
  /** Bytes of body per request for per-GiB rows; undefined for per-request rows. */
  bodyBytes?: number;
  shape: 'main' | 'wide';
}

const ROWS: readonly RowSpec[] = [
  {
    id: 'ka64',
    label: 'small GET, keep-alive, 64 connections',
    listener: 'plain',
    path: '/',
    connections: 64,
    threads: 1,
    extra: [],
    shape: 'main',
  },
  {
    id: 'ka256',
    label: 'small GET, keep-alive, 256 connections',
    listener: 'plain',
    path: '/',
    connections: 256,
    threads: 2,
    extra: [],
    shape: 'main',
  },
  {
    id: 'close64',
    label: 'new connection per request (Connection: close), 64 clients',
    listener: 'plain',
    path: '/',
    connections: 64,
    threads: 1,
    extra: ['-H', 'Connection: close'],
    shape: 'main',
  },
  {
    id: 'tls64',
    label: 'TLS 1.3 keep-alive, 64 connections',
    listener: 'tls',
    path: '/',
    connections: 64,
    threads: 1,
    extra: [],
    shape: 'main',
  },
  {
    id: 'down',
    label: '1 MiB responses, 8 connections',
    listener: 'plain',
    path: '/big',
    connections: 8,
    threads: 1,
    extra: [],
    bodyBytes: BIG,
    shape: 'main',
  },
  {
    id: 'up',
    label: '1 MiB uploads, 8 connections',
    listener: 'plain',
    path: '/up',
    connections: 8,
    threads: 1,
    extra: ['-s', 'UPLOAD'],
    bodyBytes: BIG,
    shape: 'main',
  },
  {
    id: 'hash3',
    label: 'consistent-hash pick, 3 backends, 64 connections',
    listener: 'hash',
    path: '/',
    connections: 64,
    threads: 1,
    extra: ['-H', 'x-user-id: user-42'],
    shape: 'main',
  },
  {
    id: 'hash1000',
    label: `consistent-hash pick, ${WIDE} backends, 64 connections`,
    listener: 'wideHash',
    path: '/',
    connections: 64,
    threads: 1,
    extra: ['-H', 'x-user-id: user-42'],
    shape: 'wide',
  },
];

const { values: opts } = parseArgs({
  options: {
    targets: { type: 'string', default: TARGETS.join(',') },
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    settle: { type: 'string', default: '60' },
    'idle-warm': { type: 'string', default: '2000' },
    idle: { type: 'string', default: '6000' },
    rows: { type: 'string', default: ROWS.map((r) => r.id).join(',') },
    out: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
  },
});
const targets = opts.targets.split(',') as Target[];
for (const t of targets) if (!TARGETS.includes(t)) throw new Error(`unknown target ${t}`);
const rows = opts.rows.split(',').map((id) => {
  const r = ROWS.find((x) => x.id === id);
  if (r === undefined) throw new Error(`unknown row ${id}`);
  return r;
});
const rounds = Number(opts.rounds);
const durationS = Number(opts.duration);
const warmupS = Number(opts.warmup);
const settleS = Number(opts.settle);
const idleConns = Number(opts.idle);
const idleWarm = Number(opts['idle-warm']);

/** Resident set (KiB) of a process and its direct children, from /proc/PID/status. */
function rssKiB(pid: number): number {
  const one = (p: number): number => {
    try {
      return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  let total = one(pid);
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    try {
      const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) total += one(child);
    } catch {
      // The process ended while we looked.
    }
  }
  return total;
}

function makeTls(dir: string): Tls {
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  selfSignedCert(key, cert, { cn: '127.0.0.1', days: 2, ip: '127.0.0.1' });
  // haproxy wants certificate and key in one file.
  writeFileSync(`${cert}.pem`, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
  return { cert, key };
}

async function startTarget(t: Target, dir: string, ports: Ports, tls: Tls, wide: boolean): Promise<Proc> {
  const shape = wide ? 'wide' : 'main';
  let proc: Proc;
  if (t === 'nginx') {
    proc = startPinned(
      `nginx-${shape}`,
      PROXY_CPU,
      NGINX,
      ['-p', dir, '-c', writeNginx(dir, ports, tls, wide)],
      join(dir, `nginx-${shape}.err`),
    );
  } else if (t === 'haproxy') {
    proc = startPinned(
      `haproxy-${shape}`,
      PROXY_CPU,
      HAPROXY,
      ['-db', '-f', writeHaproxy(dir, ports, tls, wide)],
      join(dir, `haproxy-${shape}.err`),
    );
  } else if (t === 'node-floor') {
    proc = startPinned(
      `node-floor-${shape}`,
      PROXY_CPU,
      process.execPath,
      [
        ...BIN_FLAGS,
        join(ROOT, 'bench', 'socket-floor.ts'),
        ...[ports.plain, ports.tls, ports.hash, ports.wideHash].map(String),
        tls.cert,
        tls.key,
        ...ports.backends.slice(0, 3).map(String),
      ],
      join(dir, `node-floor-${shape}.err`),
    );
  } else {
    const file = join(dir, `fulcrum-${shape}.yaml`);
    writeFileSync(file, fulcrumYaml(ports, tls, wide));
    proc = startPinned(
      `fulcrum-${shape}`,
      PROXY_CPU,
      process.execPath,
      [...NODE_FLAGS, FULCRUM_ENTRY, 'start', '-c', file, '--force', '--memory-store'],
      join(dir, `fulcrum-${shape}.err`),
    );
  }
  await waitReady(proc, `http://127.0.0.1:${ports.plain}/`, 60_000);
  // A proxy that failed to bind could leave another process answering on the port.
  await sleep(300);
  if (proc.child.exitCode !== null)
    throw new Error(`${proc.name} exited: ${readFileSync(proc.errFile, 'utf8').slice(-2000)}`);
  return proc;
}

/** Open `n` keep-alive connections, one answered request each, and keep them open. */
async function openIdle(port: number, n: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const one = (): Promise<Socket> =>
    new Promise((res, rej) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.setEncoding('latin1');
      s.once('error', rej);
      s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n'));
      s.on('data', (d: string) => {
        got += d;
        if (got.includes('\r\n\r\n') && got.endsWith('\n')) {
          s.removeAllListeners('data');
          res(s);
        }
      });
    });
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(Array.from({ length: Math.min(100, n - i) }, one));
    sockets.push(...batch);
  }
  return sockets;
}

function url(row: RowSpec, ports: Ports): string {
  const port = ports[row.listener];
  return `${row.listener === 'tls' ? 'https' : 'http'}://127.0.0.1:${port}${row.path}`;
}

async function measure(
  t: Target,
  round: number,
  row: RowSpec,
  pid: number,
  ports: Ports,
  script: string,
): Promise<RowResult> {
  const extra = row.extra.map((a) => (a === 'UPLOAD' ? script : a));
  const wrk = {
    url: url(row, ports),
    connections: row.connections,
    threads: row.threads,
    cpus: LOAD_CPU,
    extra,
  };
  await runWrk({ ...wrk, durationS: warmupS });
  const cpu0 = cpuMs(pid);
  const r = await runWrk({ ...wrk, durationS });
  const cpu = cpuMs(pid) - cpu0;
  const perUnit =
    row.bodyBytes === undefined ? (cpu * 1000) / r.requests : cpu / ((r.requests * row.bodyBytes) / 2 ** 30);
  const res: RowResult = {
    round,
    target: t,
    row: row.id,
    rps: r.rps,
    p99: r.p99,
    requests: r.requests,
    errors: r.errors,
    perUnit,
  };
  console.log(
    `round ${round} ${t.padEnd(8)} ${row.id.padEnd(9)} ${r.rps.toFixed(0).padStart(7)} req/s  p99 ${r.p99.toFixed(2)} ms  ` +
      `${perUnit.toFixed(1)} ${row.bodyBytes === undefined ? 'µs/req' : 'ms/GiB'}  errors ${r.errors}`,
  );
  if (r.errors > 0) console.log(r.raw);
  return res;
}

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-cost-'));
  // nginx workers run as nobody: they must read the big file and write their temp dirs.
  chmodSync(dir, 0o755);
  const tls = makeTls(dir);
  const script = join(dir, 'upload.lua');
  writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.body = string.rep("x", ${BIG})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`,
  );
  const ports = await allocatePorts();
  const backendPorts = ports.backends;
  const backends = startPinned(
    'backends',
    LOAD_CPU,
    NGINX,
    ['-p', dir, '-c', writeBackends(dir, backendPorts, await freePort())],
    join(dir, 'backends.err'),
  );
  const results: RowResult[] = [];
  const memory: MemoryReading[] = [];
  const wantWide = rows.some((r) => r.shape === 'wide');
  try {
    await waitReady(backends, `http://127.0.0.1:${backendPorts[0]}/`);
    for (let round = 1; round <= rounds; round++) {
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
      for (const t of order) {
        const proc = await startTarget(t, dir, ports, tls, false);
        const pid = proc.child.pid as number;
        try {
          await sleep(2000);
          const idle = rssKiB(pid);
          // The first connections a process takes grow its heaps and compile its accept path
          // (a bare Node server: ~9 KiB each for the first 2,000, ~1.8 for the next 6,000), so
          // the cost of an idle connection is read past them: what each one more costs.
          const warm = await openIdle(ports.plain, idleWarm);
          await sleep(1000);
          const warmed = rssKiB(pid);
          const sockets = await openIdle(ports.plain, idleConns);
          await sleep(1000);
          const withIdle = rssKiB(pid);
          for (const s of [...warm, ...sockets]) s.destroy();
          const reading: MemoryReading = {
            round,
            target: t,
            idleKiB: idle,
            firstConnsKiB: (warmed - idle) / Math.max(1, idleWarm),
            perIdleConnKiB: (withIdle - warmed) / idleConns,
          };
          for (const row of rows)
            if (row.shape === 'main') results.push(await measure(t, round, row, pid, ports, script));
          if (round === rounds) {
            reading.loadEndKiB = rssKiB(pid);
            await sleep(settleS * 1000);
            reading.settledKiB = rssKiB(pid);
          }
          memory.push(reading);
          console.log(`round ${round} ${t.padEnd(8)} memory ${JSON.stringify(reading)}`);
        } finally {
          await stop(proc, 15_000);
        }
        if (!wantWide) continue;
        const wideProc = await startTarget(t, dir, ports, tls, true);
        try {
          await sleep(2000);
          const reading = memory.find((m) => m.round === round && m.target === t) as MemoryReading;
          reading.wideKiB = rssKiB(wideProc.child.pid as number);
          for (const row of rows)
            if (row.shape === 'wide')
              results.push(await measure(t, round, row, wideProc.child.pid as number, ports, script));
        } finally {
          await stop(wideProc, 15_000);
        }
      }
    }
  } finally {
    await stop(backends);
  }
  const run: CostRun = {
    command: `npm run bench:cost${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    at: new Date().toISOString(),
    commit: commandLine('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    versions: [
      process.version,
      commandLine(NGINX, ['-v']),
      commandLine(HAPROXY, ['-v']),
      commandLine('wrk', ['-v']).split(' Copyright')[0] ?? '',
    ],
    durationS,
    warmupS,
    settleS,
    idleConns,
    idleWarm,
    wide: WIDE,
    pinned: PINNED,
    rows: rows.map((r) => ({ id: r.id, label: r.label, perGiB: r.bodyBytes !== undefined })),
    results,
    memory,
  };
  const out = resolve(opts.out);
  let previous = '';
  try {
    previous = readFileSync(out, 'utf8');
  } catch {
    // No RESULTS.md yet: the section becomes the file.
  }
  writeFileSync(out, spliceSection(previous, renderCost(run)));
  console.log(`bench: wrote the cost section of ${out}`);
  rmSync(dir, { recursive: true, force: true });
}

await runBench(main);
