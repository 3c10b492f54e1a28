// Starts a real etcd (one member, or a cluster) for the fleet drill and for tests: loopback only, free ports, a temp data dir,
// stopped and removed afterwards. Tests skip themselves when no etcd binary is installed
// (Debian package: etcd-server).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../sim/free-port.ts';

export interface EtcdServer {
  endpoint: string;
  stop(): Promise<void>;
}

/** True when an `etcd` binary is on PATH. */
export function hasEtcd(): boolean {
  return spawnSync('etcd', ['--version'], { stdio: 'ignore' }).status === 0;
}

async function waitReady(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  // Plain HTTP /health, not an etcd3 client: the client's circuit breaker would stay open
  // for 5 s after the first refused connection.
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr()}`);
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) });
      if (res.ok && ((await res.json()) as { health?: string }).health === 'true') return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd did not become ready within about 10 s: ${stderr()}`);
}

/**
 * Ports come from freePort(), which lets each go again before etcd binds it: another process
 * (a second copy of the suite, say) can take one in between, and etcd exits with "address
 * already in use". Only that failure starts again, on fresh ports, a bounded number of times.
 */
const PORT_ATTEMPTS = 3;
export async function onFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (attempt >= PORT_ATTEMPTS || !String(e).includes('address already in use')) throw e;
    }
  }
}

export function startEtcd(): Promise<EtcdServer> {
  return onFreshPorts(startEtcdOnce);
}

async function startEtcdOnce(): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-etcd-'));
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const child = spawn(
    'etcd',
    [
      '--name=test',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${endpoint}`,
      `--advertise-client-urls=${endpoint}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=test=${peer}`,
      '--logger=zap',
      '--log-level=error',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (err.length < 8192) err += chunk.toString();
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitReady(endpoint, child, () => err);
  } catch (e) {
    await stop();
    throw e;
  }
  return { endpoint, stop };
}

export interface EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly running: boolean;
  /** SIGTERM (or SIGKILL), then wait for the exit; the data dir stays for a restart. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Start again on the same ports and data dir (rejoins the cluster). */
  start(): Promise<void>;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  readonly endpoints: string[];
  /** Stop every member and remove the data dirs. */
  stop(): Promise<void>;
}

/**
 * A real `size`-member etcd cluster on loopback: ephemeral ports, one data dir per member in a
 * temp dir, each member stopped by its PID.
 */
export function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  return onFreshPorts(() => startEtcdClusterOnce(size));
}

async function startEtcdClusterOnce(size: number): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-etcd-cluster-'));
  const specs: { name: string; client: string; peer: string }[] = [];
  for (let i = 0; i < size; i++) {
    specs.push({
      name: `m${i}`,
      client: `http://127.0.0.1:${await freePort()}`,
      peer: `http://127.0.0.1:${await freePort()}`,
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peer}`).join(',');
  const members = specs.map((spec) => {
    let child: ChildProcess | undefined;
    let err = '';
    const exited = (c: ChildProcess): boolean => c.exitCode !== null || c.signalCode !== null;
    const member = {
      name: spec.name,
      endpoint: spec.client,
      get running() {
        return child !== undefined && !exited(child);
      },
      stderr: () => err,
      spawn(): ChildProcess {
        err = '';
        const c = spawn(
          'etcd',
          [
            `--name=${spec.name}`,
            `--data-dir=${join(dir, spec.name)}`,
            `--listen-client-urls=${spec.client}`,
            `--advertise-client-urls=${spec.client}`,
            `--listen-peer-urls=${spec.peer}`,
            `--initial-advertise-peer-urls=${spec.peer}`,
            `--initial-cluster=${initialCluster}`,
            '--initial-cluster-state=new',
            '--initial-cluster-token=fulcrum-test',
            // Loopback: short heartbeats, so a lost member or leader is noticed quickly.
            '--heartbeat-interval=100',
            '--election-timeout=1000',
            '--logger=zap',
            '--log-level=error',
          ],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        c.stderr?.on('data', (chunk: Buffer) => {
          if (err.length < 8192) err += chunk.toString();
        });
        child = c;
        return c;
      },
      async stop(signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM') {
        const c = child;
        if (c === undefined || exited(c)) return;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill(signal);
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited(c)) {
          c.kill('SIGKILL');
          await gone;
        }
      },
      async start() {
        if (member.running) return;
        const c = member.spawn();
        await waitReady(spec.client, c, () => err);
      },
    };
    return member;
  });
  const stopAll = async () => {
    await Promise.all(members.map((m) => m.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Members wait for each other's votes: spawn all, then wait for each to be healthy.
    const children = members.map((m) => m.spawn());
    await Promise.all(members.map((m, i) => waitReady(m.endpoint, children[i] as ChildProcess, m.stderr)));
  } catch (e) {
    await stopAll();
    throw e;
  }
  return {
    members: members.map((m): EtcdMember => ({
      name: m.name,
      endpoint: m.endpoint,
      get running() {
        return m.running;
      },
      stop: (signal) => m.stop(signal),
      start: () => m.start(),
    })),
    endpoints: members.map((m) => m.endpoint),
    stop: stopAll,
  };
}
