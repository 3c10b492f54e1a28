// What an extra configured backend costs fulcrum in RSS, and where it lies: the memory row "per
// extra backend" of bench/cost.ts, alone and read more often. Starts the built fulcrum (dist/,
// with the bin's V8 flags, as bench/cost.ts does) on the cost bench's small config ("main") and
// on main plus one consistent-hash pool of WIDE (1,000) backends ("wide"), alternately, `--runs`
// times each, and reads VmRSS (with children) 2 s, 5 s and 15 s after it answers (cost.ts reads
// at 2 s). Per extra backend = (wide − main) ÷ WIDE, run by run.
//
//   node bench/backend-memory-probe.ts [--runs 3] [--heap] [--gc]
//
// --heap preloads a module (written to the temp dir; plain JavaScript, so Node strips no types)
// that logs process.memoryUsage() and V8's heap-space figures to stderr every second; the
// report then splits the per-backend RSS at each reading into V8 heap pages resident (used and
// not), malloc'd memory V8 knows of, ArrayBuffers/external, and the rest (RssAnon − those, and
// RssFile). --gc (implies --heap and --expose-gc) adds a reading 2 s after two forced full GCs
// that follow the 15 s one: what is left is live, the difference was garbage or free pages.
// FULCRUM_BENCH_ENTRY=/other/checkout/dist/cli/run.js measures another build (before/after).
// Backends: one nginx worker on every port, as in bench/cost.ts (nothing connects to the wide
// pool's: no health checks, no requests to that listener).
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { WIDE, allocatePorts, fulcrumYaml, writeBackends, type Ports } from './cost-configs.ts';
import { binNodeFlags } from './bin-flags.ts';
import { runBench, sleep, startPinned, stop, waitReady, type Proc } from './procs.ts';
import { NGINX } from './tools.ts';
import { selfSignedCert } from '../src/testing/tls-cert.ts';
import { freePort } from '../src/sim/free-port.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = process.env['FULCRUM_BENCH_ENTRY'] ?? join(ROOT, 'dist', 'cli', 'run.js');
const BIN_FLAGS = binNodeFlags(readFileSync(join(ROOT, 'bin', 'fulcrum.js'), 'utf8'));
const PINNED = availableParallelism() >= 2;
const READ_AT_S = [2, 5, 15] as const;
// FULCRUM_PROBE_NODE_FLAGS="--trace-gc" adds Node flags; fulcrum's stdout is then kept, in
// FULCRUM_PROBE_OUT (a directory) when set, which also receives /proc/PID/smaps at each reading.
const NODE_FLAGS = (process.env['FULCRUM_PROBE_NODE_FLAGS'] ?? '').split(' ').filter((f) => f !== '');
const OUT_DIR = process.env['FULCRUM_PROBE_OUT'];

const { values: opts } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    heap: { type: 'boolean', default: false },
    gc: { type: 'boolean', default: false },
  },
});
const runs = Number(opts.runs);
const gcMode = opts.gc;
const heapMode = opts.heap || gcMode;

// The preload: one JSON line per second on stderr; when the file named by FULCRUM_PROBE_GC
// appears, two full GCs first (once).
const PRELOAD = `import v8 from 'node:v8';
import { existsSync } from 'node:fs';
const gcFile = process.env.FULCRUM_PROBE_GC;
let collected = false;
const tick = () => {
  if (gcFile && !collected && existsSync(gcFile) && typeof globalThis.gc === 'function') {
    globalThis.gc(); globalThis.gc(); collected = true;
  }
  const m = process.memoryUsage();
  const h = v8.getHeapStatistics();
  const spaces = {};
  for (const s of v8.getHeapSpaceStatistics())
    spaces[s.space_name] = [s.space_used_size, s.physical_space_size, s.space_size];
  process.stderr.write('PROBE ' + JSON.stringify({ at: Date.now(), collected, rss: m.rss,
    heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers,
    physical: h.total_physical_size, malloced: h.malloced_memory, spaces }) + '\\n');
};
setInterval(tick, 1000).unref();
`;

interface HeapLine {
  at: number;
  collected: boolean;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  physical: number;
  malloced: number;
  spaces: Record<string, [number, number, number]>;
}

/** One reading: /proc figures in KiB, and the preload's last line before it (bytes). */
interface Reading {
  label: string;
  rssKiB: number;
  anonKiB: number;
  fileKiB: number;
  /** Rss (KiB) of the process's own mappings by kind, from /proc/PID/smaps. */
  maps: Record<string, number>;
  heap?: HeapLine;
}

/**
 * Rss of a process's mappings by kind: `malloc main arena` ([heap]: the main thread's
 * malloc), `malloc thread arenas` (glibc gives other threads, V8's GC and compiler workers
 * among them, 64 MiB regions: a read-write part and the PROT_NONE rest), `anon rw` (the other
 * anonymous read-write mappings: V8's heap pages, large mallocs), `anon rwx` (V8's code
 * pages) and `file` (the binary, libraries).
 */
function smaps(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return out;
  }
  const maps: { start: number; end: number; perm: string; name: string; rss: number }[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m !== null) {
      const [, a, b, perm, name] = m as unknown as [string, string, string, string, string];
      maps.push({ start: parseInt(a, 16), end: parseInt(b, 16), perm, name, rss: 0 });
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    const last = maps[maps.length - 1];
    if (r !== null && last !== undefined) last.rss += Number(r[1]);
  }
  const ARENA = 64 * 1024 * 1024;
  maps.forEach((m, i) => {
    const next = maps[i + 1];
    const kind =
      m.name === '[heap]'
        ? 'malloc main arena'
        : m.name.startsWith('/')
          ? 'file'
          : m.name !== ''
            ? m.name
            : m.perm.startsWith('rw') &&
                m.start % ARENA === 0 &&
                next !== undefined &&
                next.start === m.end &&
                next.perm.startsWith('---') &&
                next.end - m.start === ARENA
              ? 'malloc thread arenas'
              : m.perm.startsWith('rwx')
                ? 'anon rwx'
                : m.perm.startsWith('rw')
                  ? 'anon rw'
                  : `anon ${m.perm}`;
    out[kind] = (out[kind] ?? 0) + m.rss;
  });
  return out;
}

/** VmRSS, RssAnon and RssFile + RssShmem (KiB) of a process and its direct children. */
function status(pid: number): { rss: number; anon: number; file: number } {
  const one = (p: number) => {
    try {
      const t = readFileSync(`/proc/${p}/status`, 'utf8');
      const f = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(t)?.[1] ?? 0);
      return { rss: f('VmRSS'), anon: f('RssAnon'), file: f('RssFile') + f('RssShmem') };
    } catch {
      return { rss: 0, anon: 0, file: 0 };
    }
  };
  const total = one(pid);
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    try {
      const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== pid) continue;
    } catch {
      continue;
    }
    const c = one(child);
    total.rss += c.rss;
    total.anon += c.anon;
    total.file += c.file;
  }
  return total;
}

function lastHeapLine(errFile: string, before: number): HeapLine | undefined {
  let last: HeapLine | undefined;
  for (const line of readFileSync(errFile, 'utf8').split('\n')) {
    if (!line.startsWith('PROBE ')) continue;
    const h = JSON.parse(line.slice(6)) as HeapLine;
    if (h.at <= before) last = h;
  }
  return last;
}

async function runOnce(
  shape: 'main' | 'wide',
  run: number,
  dir: string,
  ports: Ports,
  tls: { cert: string; key: string },
): Promise<Reading[]> {
  const file = join(dir, `fulcrum-${shape}.yaml`);
  writeFileSync(file, fulcrumYaml(ports, tls, shape === 'wide'));
  const errFile = join(dir, `fulcrum-${shape}-${run}.err`);
  const gcFile = join(dir, `gc-${shape}-${run}`);
  const extra = heapMode ? ['--import', join(dir, 'preload.mjs')] : [];
  if (gcMode) extra.push('--expose-gc');
  extra.push(...NODE_FLAGS);
  const proc: Proc = startPinned(
    `fulcrum-${shape}`,
    PINNED ? '0' : undefined,
    process.execPath,
    [...BIN_FLAGS, ...extra, ENTRY, 'start', '-c', file, '--force', '--memory-store'],
    errFile,
    { ...process.env, FULCRUM_PROBE_GC: gcFile },
    // With extra flags (--trace-gc) stdout is kept; otherwise the access log goes nowhere.
    NODE_FLAGS.length > 0 ? join(OUT_DIR ?? dir, `fulcrum-${shape}-${run}.out`) : undefined,
  );
  const pid = proc.child.pid as number;
  const readings: Reading[] = [];
  const read = (label: string) => {
    const s = status(pid);
    if (OUT_DIR !== undefined)
      writeFileSync(join(OUT_DIR, `smaps-${shape}-${run}-${label}`), readFileSync(`/proc/${pid}/smaps`));
    const heap = heapMode ? lastHeapLine(errFile, Date.now()) : undefined;
    readings.push({
      label,
      rssKiB: s.rss,
      anonKiB: s.anon,
      fileKiB: s.file,
      maps: smaps(pid),
      ...(heap === undefined ? {} : { heap }),
    });
  };
  try {
    // As bench/cost.ts: ready when the plain listener answers, then 300 ms, then the readings.
    await waitReady(proc, `http://127.0.0.1:${ports.plain}/`, 60_000);
    await sleep(300);
    if (proc.child.exitCode !== null) throw new Error(readFileSync(errFile, 'utf8').slice(-2000));
    const t0 = Date.now();
    for (const s of READ_AT_S) {
      await sleep(t0 + s * 1000 - Date.now());
      read(`${s}s`);
    }
    if (gcMode) {
      writeFileSync(gcFile, '');
      await sleep(2000);
      read('gc');
    }
  } finally {
    await stop(proc, 15_000);
  }
  return readings;
}

const kb = (kib: number) => (kib * 1024) / 1000 / WIDE; // KiB over WIDE backends → KB each
const perB = (bytes: number) => bytes / 1000 / WIDE;
const f1 = (n: number) => n.toFixed(1).padStart(6);

function report(main: Reading[][], wide: Reading[][]): void {
  console.log(`\nper extra backend (KB = 1000 B), (wide − main) ÷ ${WIDE}, run by run; entry ${ENTRY}`);
  const labels = main[0]?.map((r) => r.label) ?? [];
  for (const label of labels) {
    const pairs = main.map((m, i) => [
      m.find((r) => r.label === label) as Reading,
      wide[i]?.find((r) => r.label === label) as Reading,
    ]);
    const rss = pairs.map(([m, w]) => kb((w as Reading).rssKiB - (m as Reading).rssKiB));
    const anon = pairs.map(([m, w]) => kb((w as Reading).anonKiB - (m as Reading).anonKiB));
    const file = pairs.map(([m, w]) => kb((w as Reading).fileKiB - (m as Reading).fileKiB));
    console.log(
      `  at ${label.padEnd(3)} RSS ${rss.map(f1).join(' ')}   anon ${anon.map(f1).join(' ')}   file ${file.map(f1).join(' ')}` +
        `   (main RSS ${pairs.map(([m]) => ((m as Reading).rssKiB / 1024).toFixed(1)).join(' ')} MiB)`,
    );
    const kinds = [
      ...new Set(
        pairs.flatMap(([m, w]) => [...Object.keys((m as Reading).maps), ...Object.keys((w as Reading).maps)]),
      ),
    ].sort();
    for (const k of kinds) {
      const v = pairs.map(([m, w]) => kb(((w as Reading).maps[k] ?? 0) - ((m as Reading).maps[k] ?? 0)));
      if (v.some((x) => Math.abs(x) >= 0.1))
        console.log(`        smaps ${k.padEnd(38)} ${v.map(f1).join(' ')}`);
    }
    if (!heapMode) continue;
    const d = (get: (h: HeapLine) => number) =>
      pairs.map(([m, w]) =>
        perB(get((w as Reading).heap as HeapLine) - get((m as Reading).heap as HeapLine)),
      );
    const sp = (name: string, i: 0 | 1 | 2) => d((h) => h.spaces[name]?.[i] ?? 0);
    const rows: [string, number[]][] = [
      ['heap used', d((h) => h.heapUsed)],
      ['heap committed', d((h) => h.heapTotal)],
      ['heap resident', d((h) => h.physical)],
      ['  old used', sp('old_space', 0)],
      ['  old resident', sp('old_space', 1)],
      ['  old committed', sp('old_space', 2)],
      ['  new resident', sp('new_space', 1)],
      ['  code resident', sp('code_space', 1)],
      ['  large obj resident', sp('large_object_space', 1)],
      ['malloced (V8)', d((h) => h.malloced)],
      ['external', d((h) => h.external)],
      ['  arrayBuffers', d((h) => h.arrayBuffers)],
      [
        'anon − heap resident − malloced − external',
        pairs.map(([m, w]) => {
          const rest = (r: Reading) =>
            r.anonKiB * 1024 -
            (r.heap as HeapLine).physical -
            (r.heap as HeapLine).malloced -
            (r.heap as HeapLine).external;
          return perB(rest(w as Reading) - rest(m as Reading));
        }),
      ],
    ];
    for (const [name, v] of rows) console.log(`        ${name.padEnd(44)} ${v.map(f1).join(' ')}`);
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-backend-mem-'));
  // nginx workers run as nobody: they must read the big file and write their temp dirs.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
  const tls = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
  selfSignedCert(tls.key, tls.cert, { cn: '127.0.0.1', days: 2, ip: '127.0.0.1' });
  const ports = await allocatePorts();
  const backendPorts = ports.backends;
  const backends = startPinned(
    'backends',
    PINNED ? '1' : undefined,
    NGINX,
    ['-p', dir, '-c', writeBackends(dir, backendPorts, await freePort())],
    join(dir, 'backends.err'),
  );
  const main: Reading[][] = [];
  const wide: Reading[][] = [];
  try {
    await waitReady(backends, `http://127.0.0.1:${backendPorts[0]}/`);
    for (let run = 1; run <= runs; run++) {
      // Alternate which shape goes first, so a drift of the machine hits both alike.
      const order = run % 2 === 1 ? (['main', 'wide'] as const) : (['wide', 'main'] as const);
      for (const shape of order) {
        let r: Reading[] | undefined;
        for (let attempt = 1; r === undefined; attempt++) {
          try {
            r = await runOnce(shape, run, dir, ports, tls);
          } catch (err) {
            // Other work on the machine can take a free port before fulcrum binds it: new ones.
            if (attempt === 3 || !/FULCRUM_ERR_LISTEN/.test(String(err))) throw err;
            console.log(`run ${run} ${shape}: a listener port was taken, again on new ports`);
            for (const k of ['plain', 'tls', 'hash', 'wideHash', 'admin'] as const)
              ports[k] = await freePort();
          }
        }
        (shape === 'main' ? main : wide).push(r);
        console.log(
          `run ${run} ${shape.padEnd(4)} ${r.map((x) => `${x.label} ${(x.rssKiB / 1024).toFixed(1)} MiB`).join('  ')}`,
        );
      }
    }
  } finally {
    await stop(backends);
  }
  report(main, wide);
  rmSync(dir, { recursive: true, force: true });
}

await runBench(main);
