// Child processes of the bench: started pinned to a core, awaited until they answer HTTP,
// stopped by their own pid (never by name: other people's processes share this machine).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** File that receives the process's stderr (read back when it fails to start). */
  readonly errFile: string;
}

const live = new Set<Proc>();

/**
 * Start `cmd args` pinned to `cpus` with stdout discarded unless outFile is given (fulcrum's
 * access log would otherwise fill the disk or cost the bench process CPU) and stderr kept in
 * errFile.
 */
export function startPinned(
  name: string,
  cpus: string | undefined,
  cmd: string,
  args: readonly string[],
  errFile: string,
  env: NodeJS.ProcessEnv = process.env,
  outFile?: string,
): Proc {
  const [file, argv] = cpus === undefined ? [cmd, args] : ['taskset', ['-c', cpus, cmd, ...args]];
  const child = spawn(file, argv, {
    stdio: ['ignore', outFile === undefined ? 'ignore' : openSync(outFile, 'w'), openSync(errFile, 'w')],
    env,
  });
  const proc = { name, child, errFile };
  live.add(proc);
  child.on('exit', () => live.delete(proc));
  return proc;
}

/** Wait until `url` answers 200, or throw with the process's stderr after timeoutMs. */
export async function waitReady(proc: Proc, url: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.child.exitCode !== null) break;
    if ((await probe(url)) === 200) return;
    await sleep(100);
  }
  let err = '';
  try {
    err = readFileSync(proc.errFile, 'utf8').slice(-4000);
  } catch {
    // No stderr file: nothing more to say.
  }
  throw new Error(
    `${proc.name} did not answer ${url} within ${timeoutMs} ms (exit ${proc.child.exitCode})\n${err}`,
  );
}

function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export function stop(proc: Proc, graceMs = 5000): Promise<void> {
  const child = proc.child;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Kill whatever the bench started and is still running (on error or Ctrl-C). */
export function killAll(): void {
  for (const p of live) p.child.kill('SIGKILL');
}

/** A free TCP port on 127.0.0.1 (nginx needs port numbers in its config file). */

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** First line of a command's output, or '' when it cannot run. */
export function commandLine(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error !== undefined) return '';
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? '';
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

function statTimes(pid: number): { ppid: number; ticks: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command name (which may hold spaces): state is field 3.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
}

/**
 * CPU time (user + system, ms) used so far by a process and its direct children (nginx
 * workers). Unlike requests/s, CPU per request hardly moves when other work shares the
 * machine, so it is the figure to compare changes by.
 */
export function cpuMs(pid: number): number {
  let ticks = statTimes(pid)?.ticks ?? 0;
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    const s = statTimes(child);
    if (s !== undefined && s.ppid === pid) ticks += s.ticks;
  }
  return ticks * TICK_MS;
}

/**
 * Run a bench's main: every process it started is killed by PID when it fails or is
 * interrupted (Ctrl-C), and a failure sets the exit code.
 */
export async function runBench(main: () => Promise<void>): Promise<void> {
  process.on('SIGINT', () => {
    killAll();
    process.exit(130);
  });
  try {
    await main();
  } catch (err) {
    killAll();
    console.error(err);
    process.exitCode = 1;
  }
}
