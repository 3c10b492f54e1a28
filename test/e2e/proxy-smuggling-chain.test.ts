// Issue 11 through a real chain: haproxy (Debian's /usr/sbin/haproxy) in front of fulcrum and
// nginx (/usr/sbin/nginx) behind it, and fulcrum in front of haproxy in front of nginx, each started here with a temp config on a free port and
// stopped by PID. nginx's access log is the witness: every request line it parsed is one line.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Harness } from '../helpers/proxy-harness.ts';
import { eventually, RawClient } from '../helpers/raw-http.ts';
import { freePort } from '../../src/sim/free-port.ts';

const NGINX = '/usr/sbin/nginx';
const HAPROXY = '/usr/sbin/haproxy';

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

async function waitListening(port: number, what: string): Promise<void> {
  const deadline = performance.now() + 10_000;
  while (!(await accepts(port))) {
    if (performance.now() > deadline) throw new Error(`${what} did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let dir = '';
let nginx: ChildProcess | undefined;
let haproxy: ChildProcess | undefined;
let harness: Harness | undefined;
let haproxyPort = 0;
let fulcrumPort = 0;
/** fulcrum's listener whose pool is haproxy (in front of nginx). */
let backPort = 0;
const clients: RawClient[] = [];

function stop(p: ChildProcess | undefined): Promise<void> {
  if (p === undefined || p.exitCode !== null || p.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      p.kill('SIGKILL');
    }, 5000);
    p.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    p.kill('SIGTERM');
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-chain-'));
  const nginxPort = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${dir}/nginx-error.log;
pid ${dir}/nginx.pid;
events { worker_connections 64; }
http {
  log_format chain '$request_method $request_uri len=$content_length te=$http_transfer_encoding cookie=$http_cookie';
  access_log ${dir}/access.log chain;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_timeout 30s;
  server {
    listen 127.0.0.1:${nginxPort};
    location / { return 200 "nginx $request_method $request_uri\\n"; }
  }
}
`,
  );
  nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
  await waitListening(nginxPort, 'nginx');

  const haproxyToNginx = await freePort();
  harness = await startProxy({
    version: 1,
    listeners: {
      web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] },
      back: { address: '127.0.0.1:0', routes: [{ pool: 'hap' }] },
    },
    pools: {
      app: { backends: [{ name: 'nginx', address: `127.0.0.1:${nginxPort}` }], retries: { attempts: 0 } },
      hap: {
        backends: [{ name: 'haproxy', address: `127.0.0.1:${haproxyToNginx}` }],
        retries: { attempts: 0 },
      },
    },
  });
  fulcrumPort = harness.port();
  backPort = harness.port('back');

  haproxyPort = await freePort();
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    `global
  log stderr format raw local0 emerg
defaults
  mode http
  timeout connect 2s
  timeout client 10s
  timeout server 10s
  option http-keep-alive
frontend fe
  bind 127.0.0.1:${haproxyPort}
  default_backend be
backend be
  server fulcrum 127.0.0.1:${fulcrumPort}
frontend fe2
  bind 127.0.0.1:${haproxyToNginx}
  default_backend nginx
backend nginx
  server nginx 127.0.0.1:${nginxPort}
`,
  );
  haproxy = spawn(HAPROXY, ['-f', join(dir, 'haproxy.cfg'), '-db'], { stdio: 'ignore' });
  await waitListening(haproxyPort, 'haproxy');
  await waitListening(haproxyToNginx, 'haproxy (second frontend)');
}, 30_000);

afterAll(async () => {
  for (const c of clients) c.socket.destroy();
  await stop(haproxy);
  await harness?.close();
  await stop(nginx);
  if (dir !== '' && existsSync(dir)) rmSync(dir, { recursive: true, force: true });
});

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.open(port);
  clients.push(c);
  return c;
}

/** nginx access-log lines so far. */
function seen(): string[] {
  const p = join(dir, 'access.log');
  if (!existsSync(p)) return [];
  return readFileSync(p, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n';

describe('issue 11 chain: haproxy → fulcrum → nginx', () => {
  it('the exact bytes: Connection: content-length smuggles nothing; the next client keeps its own request and cookie', async () => {
    const before = seen().length;
    const attacker = await client(haproxyPort);
    attacker.write(
      `POST /first HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`,
    );
    const r = await attacker.response();
    expect([r.status, r.body]).toEqual([200, 'nginx POST /first\n']);
    const victim = await client(haproxyPort);
    victim.write('GET /account HTTP/1.1\r\nHost: h\r\nCookie: session=secret\r\n\r\n');
    expect((await victim.response()).body).toBe('nginx GET /account\n');
    expect(await eventually(() => seen().length >= before + 2)).toBe(true);
    expect(seen().slice(before)).toEqual([
      'POST /first len=35 te=- cookie=-',
      'GET /account len=- te=- cookie=session=secret',
    ]);
  });

  it('a half-finished smuggled POST, straight to fulcrum: nginx never reads another client request as its body', async () => {
    const before = seen().length;
    const half = 'POST /steal HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\n\r\nx=';
    const attacker = await client(fulcrumPort);
    attacker.write(
      `POST /first HTTP/1.1\r\nHost: h\r\nConnection: Content-Length\r\nContent-Length: ${half.length}\r\n\r\n${half}`,
    );
    expect((await attacker.response()).status).toBe(200);
    const victim = await client(fulcrumPort);
    victim.write('GET /account HTTP/1.1\r\nHost: h\r\nCookie: session=secret\r\n\r\n');
    expect((await victim.response()).body).toBe('nginx GET /account\n');
    expect(await eventually(() => seen().length >= before + 2)).toBe(true);
    expect(seen().slice(before)).toEqual([
      `POST /first len=${half.length} te=- cookie=-`,
      'GET /account len=- te=- cookie=session=secret',
    ]);
  });

  it('Connection: host through the chain: nginx still gets Host (it answers 400 to an HTTP/1.1 request without one)', async () => {
    const c = await client(haproxyPort);
    c.write('GET /host HTTP/1.1\r\nHost: h\r\nConnection: host\r\n\r\n');
    expect((await c.response()).body).toBe('nginx GET /host\n');
  });

  it('a chunked upload with extensions and a trailer reaches nginx re-encoded; a malformed one is refused by fulcrum', async () => {
    const before = seen().length;
    const c = await client(fulcrumPort);
    c.write(
      'POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6;q="x y"\r\n world\r\n0\r\nX-Sum: 11\r\n\r\n',
    );
    expect((await c.response()).body).toBe('nginx POST /chunked\n');
    const bad = await client(fulcrumPort);
    bad.write('POST /bad HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n');
    const r = await bad.response();
    expect([r.status, r.headers['x-fulcrum-error']]).toEqual([400, 'FULCRUM_ERR_PROXY_BAD_CHUNK']);
    const after = await client(fulcrumPort);
    after.write('GET /after HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await after.response()).status).toBe(200);
    expect(await eventually(() => seen().length >= before + 2)).toBe(true);
    expect(seen().slice(before)).toEqual([
      'POST /chunked len=0 te=chunked cookie=-',
      'GET /after len=- te=- cookie=-',
    ]);
  });

  it('an absolute-form target through haproxy reaches nginx in origin-form', async () => {
    const before = seen().length;
    const c = await client(haproxyPort);
    c.write('GET http://h/abs?x=1 HTTP/1.1\r\nHost: h\r\n\r\n');
    expect((await c.response()).body).toBe('nginx GET /abs?x=1\n');
    expect(await eventually(() => seen().length >= before + 1)).toBe(true);
    expect(seen().slice(before)).toEqual(['GET /abs?x=1 len=- te=- cookie=-']);
  });
});

describe('issue 11 chain: fulcrum → haproxy → nginx', () => {
  it('the exact bytes and a half-finished smuggled POST: haproxy and nginx see only the requests fulcrum accepted', async () => {
    const before = seen().length;
    const a = await client(backPort);
    a.write(
      `POST /first HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: 35\r\n\r\n${SMUGGLED}`,
    );
    expect((await a.response()).body).toBe('nginx POST /first\n');
    const half = 'POST /steal HTTP/1.1\r\nHost: h\r\nContent-Length: 200\r\n\r\nx=';
    a.write(
      `POST /second HTTP/1.1\r\nHost: h\r\nConnection: content-length\r\nContent-Length: ${half.length}\r\n\r\n${half}`,
    );
    expect((await a.response()).body).toBe('nginx POST /second\n');
    const victim = await client(backPort);
    victim.write('GET /account HTTP/1.1\r\nHost: h\r\nCookie: session=secret\r\n\r\n');
    expect((await victim.response()).body).toBe('nginx GET /account\n');
    expect(await eventually(() => seen().length >= before + 3)).toBe(true);
    expect(seen().slice(before)).toEqual([
      'POST /first len=35 te=- cookie=-',
      `POST /second len=${half.length} te=- cookie=-`,
      'GET /account len=- te=- cookie=session=secret',
    ]);
  });
});
