// The external programs the bench needs, installed from Debian when missing so the bench
// runs on a fresh machine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const NGINX = '/usr/sbin/nginx';
export const HAPROXY = '/usr/sbin/haproxy';

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status})`);
}

/** Install nginx, haproxy, openssl and wrk (and taskset's util-linux) with apt-get, through sudo when not root. */
export function ensureTools(): void {
  const missing: string[] = [];
  if (!existsSync(NGINX)) missing.push('nginx');
  if (!existsSync(HAPROXY)) missing.push('haproxy');
  if (!onPath('openssl')) missing.push('openssl');
  if (!onPath('wrk')) missing.push('wrk');
  if (!onPath('taskset')) missing.push('util-linux');
  if (missing.length === 0) return;
  console.log(`bench: installing ${missing.join(', ')} with apt-get`);
  const root = process.getuid?.() === 0;
  const apt = (args: string[]): void =>
    root ? run('apt-get', args) : run('sudo', ['DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args]);
  process.env['DEBIAN_FRONTEND'] = 'noninteractive';
  apt(['update']);
  apt(['install', '-y', ...missing]);
}
