// `npm run bench`: fulcrum beside nginx, the http-proxy npm package and a direct baseline,
// in one run, with wrk. Writes bench/RESULTS.md (see report.ts for the targets).
//
// Topology on a 2-core machine: the proxy under test (fulcrum, nginx or http-proxy) is
// pinned alone to core 0; wrk and the backends (one nginx worker serving a fixed body on three
// ports) share core 1. The backends are nginx rather than Node servers because a `return 200`
// costs nginx a few microseconds: the backends then take a small, equal slice of core 1 in
// every run, and the direct baseline (wrk straight at one backend, core 0 idle) shows the
// ceiling that core 1 allows. A proxied run close to that ceiling is limited by core 1, not by
// the proxy; the report says so when it happens.
//
// Options: --connections 64,256  --duration 10  --warmup 3  --rounds 2  (targets not run by default:
//          fulcrum-nolog, fulcrum-logfile, node-hello)
//          --targets direct,nginx,http-proxy,node-floor,fulcrum[,fulcrum-nolog,fulcrum-logfile,node-hello]
//          --out bench/RESULTS.md
//          --cpu-prof DIR (fulcrum runs write V8 CPU profiles there)  --max-load 1.5
//          --node-args=--trace-gc  --fulcrum-stdout DIR (investigations)
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeBackendConfig, writeProxyConfig } from './nginx.ts';
import { commandLine, cpuMs, sleep, startPinned, stop, waitReady, type Proc, runBench } from './procs.ts';
import { machineFacts, renderReport, type Measurement } from './report.ts';
import { NGINX, ensureTools } from './tools.ts';
import { runWrk } from './wrk.ts';
import { fulcrumYaml } from './fulcrum-yaml.ts';
import { freePort } from '../src/sim/free-port.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// A single-core machine cannot separate the proxy from the load: everything runs unpinned
// there and RESULTS.md says so (its figures then measure the machine more than the proxy).
const PINNED = availableParallelism() >= 2;
const PROXY_CPU = PINNED ? '0' : undefined;
const LOAD_CPU = PINNED ? '1' : undefined;

// fulcrum is fulcrum as shipped. node-floor (bench/node-floor.ts) is the least a proxy built on
// node:http and undici can cost: the stack fulcrum's data plane replaced with raw sockets.
const DEFAULT_TARGETS = ['direct', 'nginx', 'http-proxy', 'node-floor', 'fulcrum'] as const;
// Not run by default: fulcrum-nolog (access log off, to price the log); fulcrum-logfile (every
// access-log field written to a real file through log.file, not to /dev/null); node-hello (a
// node:http server answering by itself).
const ALL_TARGETS = [...DEFAULT_TARGETS, 'fulcrum-nolog', 'fulcrum-logfile', 'node-hello'] as const;
type Target = (typeof ALL_TARGETS)[number];

const { values: opts } = parseArgs({
  options: {
    connections: { type: 'string', default: '64,256' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    targets: { type: 'string', default: DEFAULT_TARGETS.join(',') },
    out: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
    'cpu-prof': { type: 'string' },
    // Investigations: extra node flags for fulcrum (e.g. "--trace-gc") and a directory that
    // receives fulcrum's stdout (access log, GC trace) instead of /dev/null.
    'node-args': { type: 'string', default: '' },
    'fulcrum-stdout': { type: 'string' },
    'max-load': { type: 'string', default: '1.5' },
    'load-wait': { type: 'string', default: '120' },
  },
});

const connections = opts.connections.split(',').map(Number);
const durationS = Number(opts.duration);
const warmupS = Number(opts.warmup);
const rounds = Number(opts.rounds);
const targets = opts.targets.split(',') as Target[];
for (const t of targets) if (!ALL_TARGETS.includes(t)) throw new Error(`unknown target ${t}`);

interface Running {
  url: string;
  proc: Proc | undefined;
}

function loadAvg(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Wait (bounded) for the 1-minute load to drop below --max-load: others share this machine. */
async function waitForQuiet(): Promise<void> {
  const max = Number(opts['max-load']);
  const until = Date.now() + Number(opts['load-wait']) * 1000;
  let said = false;
  while (loadAvg() > max && Date.now() < until) {
    if (!said) console.log(`bench: load ${loadAvg()} > ${max}, waiting up to ${opts['load-wait']} s`);
    said = true;
    await sleep(5000);
  }
}

async function startTarget(t: Target, dir: string, backends: readonly number[]): Promise<Running> {
  if (t === 'direct') return { url: `http://127.0.0.1:${backends[0]}/`, proc: undefined };
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  let proc: Proc;
  if (t === 'nginx') {
    const conf = writeProxyConfig(dir, port, backends);
    proc = startPinned(t, PROXY_CPU, NGINX, ['-p', dir, '-c', conf], join(dir, 'nginx-proxy.err'));
  } else if (t === 'node-hello' || t === 'node-floor') {
    proc = startPinned(
      t,
      PROXY_CPU,
      process.execPath,
      [
        join(ROOT, 'bench', 'node-floor.ts'),
        t === 'node-hello' ? 'hello' : 'proxy',
        String(port),
        ...backends.map(String),
      ],
      join(dir, `${t}.err`),
    );
  } else if (t === 'http-proxy') {
    proc = startPinned(
      t,
      PROXY_CPU,
      process.execPath,
      [join(ROOT, 'bench', 'http-proxy-peer.ts'), String(port), ...backends.map(String)],
      join(dir, 'http-proxy.err'),
    );
  } else {
    const file = join(dir, `${t}.yaml`);
    const logFile = t === 'fulcrum-logfile' ? join(dir, 'fulcrum-access.log') : undefined;
    writeFileSync(
      file,
      fulcrumYaml({
        port,
        adminPort: await freePort(),
        backends,
        accessLog: t !== 'fulcrum-nolog',
        ...(logFile === undefined ? {} : { logFile }),
      }),
    );
    const prof = opts['cpu-prof'];
    const nodeArgs = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(prof)}`];
    if (opts['node-args'] !== '') nodeArgs.push(...opts['node-args'].split(' '));
    const outDir = opts['fulcrum-stdout'];
    proc = startPinned(
      t,
      PROXY_CPU,
      process.execPath,
      [...nodeArgs, join(ROOT, 'src', 'cli', 'run.ts'), 'start', '-c', file, '--force', '--memory-store'],
      join(dir, `${t}.err`),
      process.env,
      outDir === undefined ? undefined : join(resolve(outDir), `${t}.log`),
    );
  }
  await waitReady(proc, url);
  return { url, proc };
}

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-'));
  const backendPorts = [await freePort(), await freePort(), await freePort()];
  const backendConf = writeBackendConfig(dir, backendPorts);
  const backends = startPinned(
    'backends',
    LOAD_CPU,
    NGINX,
    ['-p', dir, '-c', backendConf],
    join(dir, 'backends.err'),
  );
  const results: Measurement[] = [];
  try {
    for (const p of backendPorts) await waitReady(backends, `http://127.0.0.1:${p}/`);
    for (let round = 1; round <= rounds; round++) {
      await waitForQuiet();
      // Each round starts one target later, so no target is always the one measured last
      // (when other people's load tends to have changed most).
      const order = targets.map((_, i) => targets[(i + round - 1) % targets.length] as Target);
      for (const t of order) {
        const running = await startTarget(t, dir, backendPorts);
        try {
          for (const c of connections) {
            const threads = c >= 256 ? 2 : 1;
            const wrk = { url: running.url, connections: c, threads, cpus: LOAD_CPU };
            await runWrk({ ...wrk, durationS: warmupS });
            const loadBefore = loadAvg();
            const pid = running.proc?.child.pid;
            const cpu0 = pid === undefined ? 0 : cpuMs(pid);
            const r = await runWrk({ ...wrk, durationS });
            const cpuUsPerReq = pid === undefined ? Number.NaN : ((cpuMs(pid) - cpu0) * 1000) / r.requests;
            const m: Measurement = {
              round,
              target: t,
              connections: c,
              threads,
              loadBefore,
              cpuUsPerReq,
              ...r,
            };
            results.push(m);
            console.log(
              `round ${round} ${t.padEnd(14)} c=${String(c).padEnd(3)} ${r.rps.toFixed(0).padStart(7)} req/s` +
                `  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  cpu ${Number.isFinite(cpuUsPerReq) ? cpuUsPerReq.toFixed(1) : 'n/a'} µs/req` +
                `  errors ${r.errors}  load ${loadBefore}`,
            );
          }
        } finally {
          if (running.proc !== undefined) await stop(running.proc, 15_000);
        }
      }
    }
  } finally {
    await stop(backends);
  }
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const facts = machineFacts({
    nproc: commandLine('nproc', []),
    node: process.version,
    nginx: commandLine(NGINX, ['-v']),
    wrk: commandLine('wrk', ['-v']),
    cpu: commandLine('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]),
    commit: commandLine('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
  });
  const out = resolve(opts.out);
  let previous = '';
  try {
    previous = readFileSync(out, 'utf8');
  } catch {
    // First run: no notes to keep.
  }
  writeFileSync(out, renderReport({ command, facts, results, durationS, warmupS, previous, pinned: PINNED }));
  console.log(`bench: wrote ${out}`);
  rmSync(dir, { recursive: true, force: true });
}

await runBench(main);
