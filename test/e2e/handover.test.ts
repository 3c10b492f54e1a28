// Replacing a running fulcrum process (SIGUSR2 handover): the replacement accepts from the same
// kernel sockets, the old process drains. Three replacements under 64 connections of load on
// fresh connections plus keep-alive clients cost no request. A second, accidental start on the
// same address is refused. Real processes (the CLI on the pinned node), real loopback backends.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../../src/core/errors.ts';
import { startBalancer } from '../../src/main.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startLoad } from '../helpers/load.ts';

const NODE = join(process.cwd(), 'node_modules/.bin/node');
const CLI = join(process.cwd(), 'src/cli/run.ts');

let backends: FakeBackend[];
let dir: string;
let configFile: string;
let first: ChildProcess | undefined;
const lines: Record<string, unknown>[] = [];
/** Every fulcrum pid seen, so afterAll can stop whatever still runs. */
const pids = new Set<number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(what: string, get: () => T | undefined, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function line(msg: string, match: (l: Record<string, unknown>) => boolean = () => true) {
  return lines.find((l) => l['msg'] === msg && match(l));
}

beforeAll(async () => {
  backends = await startFakeBackends(3);
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-handover-'));
  configFile = join(dir, 'fulcrum.yaml');
  writeFileSync(
    configFile,
    YAML.stringify({
      version: 1,
      log: { level: 'info', access: false },
      admin: { address: '127.0.0.1:0' },
      store: { sqlite: 'state.db' },
      listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
      pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })) } },
    }),
  );
  first = spawn(NODE, [CLI, 'start', '-c', configFile, '--grace', '5s'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (first.pid !== undefined) pids.add(first.pid);
  let buf = '';
  first.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
});

afterAll(async () => {
  for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGTERM');
  await until('every fulcrum to exit', () => ([...pids].some(alive) ? undefined : true), 15_000).catch(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  await Promise.all(backends.map((b) => b.close()));
});

describe('handover', () => {
  it('refuses an accidental second start on the address, and replaces the process 3 times under load with 0 failed requests', async () => {
    const started = await until('fulcrum started', () => line('fulcrum started'));
    const web = (started['listeners'] as Record<string, string>)['web'] as string;
    const port = Number(web.slice(web.lastIndexOf(':') + 1));
    const url = `http://127.0.0.1:${port}/`;

    // An accidental second balancer on the same address is refused; on purpose, it may overlap.
    const second = join(dir, 'second.yaml');
    writeFileSync(
      second,
      YAML.stringify({
        version: 1,
        log: { level: 'silent', access: false },
        listeners: { web: { address: `127.0.0.1:${port}`, routes: [{ pool: 'app' }] } },
        pools: { app: { backends: backends.map((b) => ({ name: b.name, address: b.address })) } },
      }),
    );
    let refused: unknown;
    try {
      await startBalancer({ configFile: second, env: {}, memoryStore: true, adminAddress: '127.0.0.1:0' });
    } catch (err) {
      refused = err;
    }
    expect(isFulcrumError(refused) && refused.code).toBe('FULCRUM_ERR_LISTEN_IN_USE');
    const overlap = await startBalancer({
      configFile: second,
      env: {},
      memoryStore: true,
      adminAddress: '127.0.0.1:0',
      shareAddresses: true,
    });
    await overlap.close(0);

    // 64 workers on a fresh connection per request, 8 on keep-alive connections.
    const fresh = startLoad({ url, concurrency: 64, headers: { connection: 'close' }, maxMs: 120_000 });
    const kept = startLoad({ url, concurrency: 8, maxMs: 120_000 });
    let pid = first?.pid as number;
    const replaced: number[] = [];
    try {
      for (let round = 0; round < 3; round++) {
        const sentBefore = fresh.result.sent;
        await until('load between handovers', () =>
          fresh.result.sent > sentBefore + 200 ? true : undefined,
        );
        process.kill(pid, 'SIGUSR2');
        const done = await until(`handover of ${pid}`, () =>
          line('handover: replacement serving; draining this process', (l) => l['pid'] === pid),
        );
        const next = done['newPid'] as number;
        pids.add(next);
        await until(`process ${pid} to exit`, () => (alive(pid) ? undefined : true));
        replaced.push(pid);
        pid = next;
      }
      const sentBefore = fresh.result.sent;
      await until('load after the last handover', () =>
        fresh.result.sent > sentBefore + 200 ? true : undefined,
      );
    } finally {
      const results = await Promise.all([fresh.stop(), kept.stop()]);
      for (const r of results) {
        expect(r.errors, JSON.stringify(r)).toEqual({});
        expect(r.failures, JSON.stringify(r)).toBe(0);
        expect(r.ok).toBeGreaterThan(600);
      }
    }
    expect(replaced).toHaveLength(3);
    expect(new Set([...replaced, pid]).size).toBe(4);
    expect(alive(pid)).toBe(true);
    // The replacement resumed the stored version: no restart added one.
    const last = lines.filter((l) => l['msg'] === 'fulcrum started').map((l) => l['version']);
    expect(last).toEqual([1, 1, 1, 1]);
    process.kill(pid, 'SIGTERM');
    await until(`process ${pid} to exit`, () => (alive(pid) ? undefined : true));
  }, 180_000);
});
