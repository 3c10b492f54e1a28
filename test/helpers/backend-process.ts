// Fake backends (test/helpers/fake-backend.ts) in child processes, for tests that kill a
// backend with a real SIGKILL: the kernel closes its sockets as it would for a crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./backend-main.ts', import.meta.url));

export interface BackendProcess {
  readonly name: string;
  /** Fixed by the first start; a restart listens on the same port. */
  readonly port: number;
  readonly address: string;
  /** The running child, or undefined after kill(). */
  readonly child: ChildProcess | undefined;
  /** SIGKILL, resolved once the process is gone; throws unless it died of that signal. */
  kill(): Promise<void>;
  /** Start again on the same port (after kill()). */
  start(): Promise<void>;
}

function launch(
  name: string,
  port: number,
  timeoutMs = 15_000,
): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`backend ${name} not listening within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const onData = (d: Buffer): void => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stdout?.resume();
      resolve({ child, port: Number(m[1]) });
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`backend ${name} exited (${code ?? signal}) before listening: ${out}`));
    });
  });
}

export async function spawnBackend(name: string, port = 0): Promise<BackendProcess> {
  const first = await launch(name, port);
  let child: ChildProcess | undefined = first.child;
  const bound = first.port;
  return {
    name,
    port: bound,
    address: `127.0.0.1:${bound}`,
    get child() {
      return child;
    },
    async kill() {
      const c = child;
      if (c === undefined) return;
      child = undefined;
      if (c.exitCode !== null || c.signalCode !== null) throw new Error(`backend ${name} already exited`);
      const gone = new Promise<NodeJS.Signals | null>((r) => c.once('exit', (_code, signal) => r(signal)));
      c.kill('SIGKILL');
      const signal = await gone;
      if (signal !== 'SIGKILL') throw new Error(`backend ${name} exited by ${signal}, not SIGKILL`);
    },
    async start() {
      if (child !== undefined) throw new Error(`backend ${name} is running`);
      child = (await launch(name, bound)).child;
    },
  };
}
