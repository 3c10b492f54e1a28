// `fulcrum demo` (what `npm start` runs): three demo backends, a balancer over them from
// examples/demo.yaml, and the URLs and commands to try. Ctrl-C stops everything.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { startBalancer } from '../../main.ts';
import { FulcrumError } from '../../core/errors.ts';
import { startDemoBackend, type DemoBackend } from '../../demo/demo-backends.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface DemoFlags {
  port: string;
  adminPort: string;
}

/** examples/demo.yaml, found from this module whether it runs from src/ or dist/. */
export function demoConfigPath(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/demo.yaml');
}

export async function demoCommand(flags: DemoFlags, io: CliIo): Promise<number> {
  const port = Number(flags.port);
  const adminPort = Number(flags.adminPort);
  if (!Number.isInteger(port) || !Number.isInteger(adminPort)) {
    return reportError(
      new FulcrumError('FULCRUM_ERR_CLI_USAGE', '--port and --admin-port must be numbers'),
      io,
    );
  }
  const backends: DemoBackend[] = [];
  try {
    const doc = YAML.parse(await readFile(demoConfigPath(), 'utf8')) as DemoDoc;
    const pool = Object.values(doc.pools)[0];
    if (!pool) throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', 'examples/demo.yaml has no pool');
    for (const b of pool.backends) {
      const [host, p] = splitAddress(b.address);
      const backend = await startDemoBackend(b.name, host, p).catch((err: NodeJS.ErrnoException) => {
        throw new FulcrumError(
          'FULCRUM_ERR_LISTEN',
          `demo backend ${b.name} cannot listen on ${b.address}: ${err.code}`,
        );
      });
      backends.push(backend);
    }
    const listener = Object.values(doc.listeners)[0];
    if (!listener) throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', 'examples/demo.yaml has no listener');
    listener.address = `127.0.0.1:${port}`;
    doc.admin = { ...(doc.admin ?? {}), address: `127.0.0.1:${adminPort}` };
    const workDir = resolve(io.cwd, '.fulcrum');
    await mkdir(workDir, { recursive: true });
    const configFile = join(workDir, 'demo.yaml');
    doc.store = { sqlite: './demo-state.db' };
    await writeFile(configFile, YAML.stringify(doc));
    const balancer = await startBalancer({
      configFile,
      env: io.env,
      logDestination: join(workDir, 'demo.log'),
      author: 'fulcrum demo',
    });
    const url = `http://127.0.0.1:${port}`;
    io.out(
      [
        '',
        `fulcrum demo is running (config version ${balancer.controller.version?.version ?? '?'})`,
        '',
        `  balancer   ${url}/`,
        `  backends   ${backends.map((b) => `${b.name} ${b.address}`).join(', ')}`,
        `  admin      ${balancer.adminUrl}/  (dashboard)`,
        `  pools      ${balancer.adminUrl}/api/v1/pools`,
        `  metrics    ${balancer.adminUrl}/metrics`,
        `  logs       ${join(workDir, 'demo.log')}`,
        '',
        'Watch the rotation:',
        `  for i in $(seq 1 9); do curl -s ${url}/; done`,
        '',
        'Then try:',
        `  npx fulcrum status --admin ${balancer.adminUrl}`,
        `  npx fulcrum lint examples/demo.yaml`,
        '',
        'Press Ctrl-C to stop.',
        '',
      ].join('\n'),
    );
    await new Promise<void>((resolveStop) => {
      const stop = (): void => void balancer.close(2000).then(resolveStop);
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  } finally {
    await Promise.all(backends.map((b) => b.close()));
  }
}

interface DemoDoc {
  listeners: Record<string, { address: string }>;
  pools: Record<string, { backends: { name: string; address: string }[] }>;
  admin?: Record<string, unknown>;
  store?: Record<string, unknown>;
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
