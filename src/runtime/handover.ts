// Replacing the running process without resetting a connection (nginx's binary upgrade, done
// with Node's handle passing): on SIGUSR2 the running fulcrum spawns its replacement with the
// same command line and an IPC channel. When the replacement binds a listener it asks for that
// address's sockets and the old process sends them (`child.send(msg, server)`): both accept
// from the SAME kernel sockets, so nothing queued in them is lost. Each socket is adopted the
// moment it arrives (before the event loop polls again), so no connection is accepted without
// a handler. Once the replacement serves it says so; the old process then stops accepting and
// drains (keep-alive clients get their next answer with `connection: close`). docs/operations.md.
import { spawn } from 'node:child_process';
import { Server } from 'node:net';
import type { Logger } from 'pino';
import { FulcrumError, errorMessage } from '../core/errors.ts';
import type { HandoverListener } from '../proxy/proxy-server.ts';

const ENV = 'FULCRUM_HANDOVER';
/** The key the admin server's socket is asked for by. */
export const ADMIN_SOCKET = '<admin>';
/** How long the replacement may take to start and warm. */
export const HANDOVER_TIMEOUT_MS = 60_000;

interface ManifestEntry {
  address: string;
  count: number;
  ticketKeys?: string;
}

type Message =
  | { fulcrum: 'handover'; kind: 'manifest'; listeners: ManifestEntry[] }
  | { fulcrum: 'handover'; kind: 'want'; address: string }
  | { fulcrum: 'handover'; kind: 'socket'; address: string; index: number }
  | { fulcrum: 'handover'; kind: 'ready'; pid: number };

function isMessage(m: unknown): m is Message {
  return typeof m === 'object' && m !== null && (m as { fulcrum?: unknown }).fulcrum === 'handover';
}

/** Replacement side: the old process's sockets, taken address by address when binding. */
export interface HandoverReceiver {
  /** Listener addresses the old process has sockets for (and their TLS ticket key). */
  has(address: string): { count: number; ticketKeys: Buffer | undefined } | undefined;
  /** Ask for an address's sockets; `adopt` is called synchronously as each arrives. */
  take(address: string, adopt: (server: Server, index: number) => void): Promise<void>;
}

/** This process was started by a handover (and its parent is waiting to hand its sockets over). */
export function startedByHandover(): boolean {
  return process.env[ENV] === '1' && typeof process.send === 'function';
}

/** Replacement side: wait for the old process's manifest. */
export function receiveHandover(timeoutMs = HANDOVER_TIMEOUT_MS): Promise<HandoverReceiver> {
  delete process.env[ENV];
  const adopters = new Map<
    string,
    { adopt: (s: Server, i: number) => void; left: number; done: () => void }
  >();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new FulcrumError('FULCRUM_ERR_HANDOVER', `no word from the old process within ${timeoutMs}ms`),
        ),
      timeoutMs,
    );
    let manifest: Map<string, ManifestEntry> | undefined;
    process.on('message', (m: unknown, handle: unknown) => {
      if (!isMessage(m)) return;
      if (m.kind === 'manifest' && manifest === undefined) {
        clearTimeout(timer);
        manifest = new Map(m.listeners.map((l) => [l.address, l]));
        const known = manifest;
        resolve({
          has(address) {
            const e = known.get(address);
            if (e === undefined) return undefined;
            return {
              count: e.count,
              ticketKeys: e.ticketKeys === undefined ? undefined : Buffer.from(e.ticketKeys, 'base64'),
            };
          },
          take(address, adopt) {
            const e = known.get(address);
            known.delete(address);
            if (e === undefined || e.count === 0) return Promise.resolve();
            return new Promise<void>((done) => {
              adopters.set(address, { adopt, left: e.count, done });
              process.send?.({ fulcrum: 'handover', kind: 'want', address } satisfies Message);
            });
          },
        });
      } else if (m.kind === 'socket' && handle instanceof Server) {
        const a = adopters.get(m.address);
        if (a === undefined) return;
        a.adopt(handle, m.index);
        if (--a.left === 0) {
          adopters.delete(m.address);
          a.done();
        }
      }
    });
  });
}

/** Replacement side: tell the old process this one serves, then let go of the channel. */
export function reportReady(): void {
  const ready: Message = { fulcrum: 'handover', kind: 'ready', pid: process.pid };
  process.send?.(ready, undefined, {}, () => process.disconnect?.());
}

/**
 * Old-process side: spawn the replacement, hand it the sockets it asks for; resolves with its
 * pid once it serves. On failure the replacement is stopped and this process keeps serving.
 */
export function handOver(o: {
  listeners: readonly HandoverListener[];
  admin: Server;
  logger: Logger;
  timeoutMs?: number;
}): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [ENV]: '1' },
  });
  o.logger.info({ pid: process.pid, newPid: child.pid }, 'handover: replacement started');
  const sockets = new Map<string, readonly Server[]>(o.listeners.map((l) => [l.address, l.servers]));
  sockets.set(ADMIN_SOCKET, [o.admin]);
  const timeoutMs = o.timeoutMs ?? HANDOVER_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (): void => {
      settled = true;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      child.removeAllListeners('message');
    };
    const fail = (why: string): void => {
      if (settled) return;
      settle();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      reject(new FulcrumError('FULCRUM_ERR_HANDOVER', `handover failed: ${why}; this process keeps serving`));
    };
    const timer = setTimeout(() => fail(`the replacement was not ready within ${timeoutMs}ms`), timeoutMs);
    child.once('error', (err) => fail(err.message));
    child.once('exit', (code, signal) =>
      fail(`the replacement exited (${code ?? signal}) before it was ready`),
    );
    const send = (m: Message, handle?: Server): void => {
      child.send(m, handle, {}, (err) => {
        if (err !== null) fail(`cannot pass the sockets: ${errorMessage(err)}`);
      });
    };
    child.on('message', (m: unknown) => {
      if (!isMessage(m) || settled) return;
      if (m.kind === 'want') {
        const servers = sockets.get(m.address) ?? [];
        servers.forEach((server, index) =>
          send({ fulcrum: 'handover', kind: 'socket', address: m.address, index }, server),
        );
      } else if (m.kind === 'ready') {
        settle();
        if (child.connected) child.disconnect();
        child.unref();
        resolve(m.pid);
      }
    });
    const manifest: ManifestEntry[] = [...sockets].map(([address, servers]) => {
      const keys = o.listeners.find((l) => l.address === address)?.ticketKeys;
      return {
        address,
        count: servers.length,
        ...(keys === undefined ? {} : { ticketKeys: keys.toString('base64') }),
      };
    });
    send({ fulcrum: 'handover', kind: 'manifest', listeners: manifest });
  });
}
