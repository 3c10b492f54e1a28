// `npm run bench:workers`: fulcrum with 1 and 2 data-plane workers beside nginx with 1 and 2
// worker processes, same backends, same load generator, interleaved rounds; then the
// per-request cost of the shared state (atomics, ticket, ring) measured in-process. Writes the
// "Workers" section of bench/RESULTS.md (kept by the other benches).
//
// Topology on this 2-core machine: a 1-worker proxy is pinned to core 0, wrk and the backends
// to core 1 (as in `npm run bench`). A 2-worker proxy gets both cores — and so must share them
// with wrk and the backends: the load generator, not the proxy, is then the limit, and the
// report says by how much (wrk's and the backends' own CPU per request are measured too).
//
// Options: --connections 64  --duration 10  --warmup 3  --rounds 2  --out bench/RESULTS.md
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeBackendConfig, writeProxyConfig } from './nginx.ts';
import { commandLine, cpuMs, startPinned, stop, waitReady, type Proc, runBench } from './procs.ts';
import { NGINX, ensureTools } from './tools.ts';
import { runWrk } from './wrk.ts';
import { measureSharedState, renderWorkers, spliceWorkers, type WorkersRow } from './workers-report.ts';
import { fulcrumYaml } from './fulcrum-yaml.ts';
import { freePort } from '../src/sim/free-port.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values: opts } = parseArgs({
  options: {
    connections: { type: 'string', default: '64' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '2' },
    out: { type: 'string', default: join(ROOT, 'bench', 'RESULTS.md') },
  },
});

interface Target {
  readonly id: string;
  readonly proxy: 'fulcrum' | 'nginx';
  readonly workers: 1 | 2;
}

const TARGETS: readonly Target[] = [
  { id: 'fulcrum-1', proxy: 'fulcrum', workers: 1 },
  { id: 'fulcrum-2', proxy: 'fulcrum', workers: 2 },
  { id: 'nginx-1', proxy: 'nginx', workers: 1 },
  { id: 'nginx-2', proxy: 'nginx', workers: 2 },
];

async function startTarget(
  t: Target,
  dir: string,
  backends: readonly number[],
): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const cpus = t.workers === 1 ? '0' : '0,1';
  let proc: Proc;
  if (t.proxy === 'nginx') {
    const conf = writeProxyConfig(dir, port, backends, t.workers);
    proc = startPinned(t.id, cpus, NGINX, ['-p', dir, '-c', conf], join(dir, `${t.id}.err`));
  } else {
    const file = join(dir, `${t.id}.yaml`);
    writeFileSync(
      file,
      fulcrumYaml({ port, adminPort: await freePort(), backends, accessLog: true, workers: t.workers }),
    );
    proc = startPinned(
      t.id,
      cpus,
      process.execPath,
      [join(ROOT, 'src', 'cli', 'run.ts'), 'start', '-c', file, '--force', '--memory-store'],
      join(dir, `${t.id}.err`),
    );
  }
  await waitReady(proc, url);
  return { url, proc };
}

async function main(): Promise<void> {
  ensureTools();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-bench-workers-'));
  const backendPorts = [await freePort(), await freePort(), await freePort()];
  const backends = startPinned(
    'backends',
    undefined,
    NGINX,
    ['-p', dir, '-c', writeBackendConfig(dir, backendPorts)],
    join(dir, 'backends.err'),
  );
  const rows: WorkersRow[] = [];
  const rounds = Number(opts.rounds);
  try {
    for (const p of backendPorts) await waitReady(backends, `http://127.0.0.1:${p}/`);
    for (let round = 1; round <= rounds; round++) {
      const order = TARGETS.map((_, i) => TARGETS[(i + round - 1) % TARGETS.length] as Target);
      for (const t of order) {
        const running = await startTarget(t, dir, backendPorts);
        try {
          for (const c of opts.connections.split(',').map(Number)) {
            // With one proxy core, wrk and the backends keep core 1 to themselves; with two,
            // they run wherever the kernel puts them, beside the proxy.
            const cpus = t.workers === 1 ? '1' : undefined;
            // wrk gets a thread per proxy worker, so the generator is not one core short on its own.
            const wrk = { url: running.url, connections: c, threads: t.workers, cpus };
            await runWrk({ ...wrk, durationS: Number(opts.warmup) });
            const pid = running.proc.child.pid as number;
            const bpid = backends.child.pid as number;
            const [p0, b0] = [cpuMs(pid), cpuMs(bpid)];
            const r = await runWrk({ ...wrk, durationS: Number(opts.duration) });
            const row: WorkersRow = {
              round,
              target: t.id,
              proxy: t.proxy,
              workers: t.workers,
              connections: c,
              rps: r.rps,
              p99Ms: r.p99,
              errors: r.errors,
              cpuUsPerReq: ((cpuMs(pid) - p0) * 1000) / r.requests,
              backendUsPerReq: ((cpuMs(bpid) - b0) * 1000) / r.requests,
              wrkUsPerReq: r.wrkCpuMs === undefined ? Number.NaN : (r.wrkCpuMs * 1000) / r.requests,
            };
            rows.push(row);
            console.log(
              `round ${round} ${t.id.padEnd(10)} c=${c} ${r.rps.toFixed(0).padStart(7)} req/s  cpu ${row.cpuUsPerReq.toFixed(1)} µs/req  wrk ${row.wrkUsPerReq.toFixed(1)}  backends ${row.backendUsPerReq.toFixed(1)}  errors ${r.errors}`,
            );
          }
        } finally {
          await stop(running.proc, 15_000);
        }
      }
    }
  } finally {
    await stop(backends);
    rmSync(dir, { recursive: true, force: true });
  }
  const shared = measureSharedState();
  const out = resolve(opts.out);
  let previous = '';
  try {
    previous = readFileSync(out, 'utf8');
  } catch {
    // First run: the section is appended to an empty report.
  }
  const section = renderWorkers({
    command: `npm run bench:workers${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    commit: commandLine('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']),
    durationS: Number(opts.duration),
    rows,
    shared,
  });
  writeFileSync(out, spliceWorkers(previous, section));
  console.log(`bench: wrote ${out}`);
}

await runBench(main);
