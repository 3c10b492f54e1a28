// Runs wrk pinned to a core and reads its summary. Only the figures the report needs are
// parsed: requests/s, the latency percentiles of `--latency`, and every error counter (a run
// with errors is reported as such, never silently averaged in).
import { spawn } from 'node:child_process';
import { cpuMs } from './procs.ts';

export interface WrkResult {
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  /** Total requests completed. */
  requests: number;
  /** Socket errors (connect + read + write + timeout) plus non-2xx/3xx answers. */
  errors: number;
  /** wrk's own summary, kept for the record when something looks off. */
  raw: string;
  /** CPU wrk itself used (its last reading, within 100 ms of its end): is the load generator the limit? */
  wrkCpuMs?: number;
}

export interface WrkOptions {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  /** CPU list for taskset (e.g. "1"); undefined runs unpinned. */
  cpus: string | undefined;
  /** More wrk arguments before the URL: `-H` headers, `-s` a Lua script. */
  extra?: readonly string[];
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };

/** "1.23ms" → 1.23; "850.00us" → 0.85. NaN when the text is not a wrk duration. */
export function parseDuration(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (m === null) return Number.NaN;
  return Number(m[1]) * (UNIT_MS[m[2] as string] as number);
}

export function parseWrk(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in /.exec(out);
  const pct = (p: string): number => {
    const m = new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(out);
    return m === null ? Number.NaN : parseDuration(m[1] as string);
  };
  let errors = 0;
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  if (sock !== null) for (let i = 1; i <= 4; i++) errors += Number(sock[i]);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  if (non2xx !== null) errors += Number(non2xx[1]);
  if (rps === null || total === null) throw new Error(`wrk printed no summary:\n${out}`);
  return {
    rps: Number(rps[1]),
    p50: pct('50'),
    p90: pct('90'),
    p99: pct('99'),
    requests: Number(total[1]),
    errors,
    raw: out,
  };
}

export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [
    `-t${o.threads}`,
    `-c${o.connections}`,
    `-d${o.durationS}s`,
    // A request stuck longer than this is counted as a timeout instead of vanishing.
    '--timeout',
    '5s',
    '--latency',
    ...(o.extra ?? []),
    o.url,
  ];
  const [cmd, argv] = o.cpus === undefined ? ['wrk', args] : ['taskset', ['-c', o.cpus, 'wrk', ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    let wrkCpuMs: number | undefined;
    const sampler = setInterval(() => {
      if (child.pid !== undefined) wrkCpuMs = cpuMs(child.pid) || wrkCpuMs;
    }, 100);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      if (code !== 0) {
        reject(new Error(`wrk exited ${code}: ${err}${out}`));
        return;
      }
      try {
        resolve({ ...parseWrk(out), ...(wrkCpuMs === undefined ? {} : { wrkCpuMs }) });
      } catch (e) {
        reject(e as Error);
      }
    });
  });
}
