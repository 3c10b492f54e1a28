// Configs of the cost bench (bench/cost.ts): the backends, and nginx, haproxy and fulcrum set up
// to do the same work per request. Every proxy has two shapes:
//   main: a plain listener (round-robin over three backends), a TLS listener (same pool) and a
//         consistent-hash listener (three backends, keyed by the x-user-id header);
//   wide: main plus a consistent-hash listener over WIDE backends, to price an extra backend in
//         memory and a hash pick over a big pool.
// No active health checks anywhere (nginx OSS has none; a thousand probed backends would
// measure the prober), access logs on and written to /dev/null where the proxy has one.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BODY } from './nginx.ts';
import { freePort } from '../src/sim/free-port.ts';

/** Backends of the wide shape's big pool (the first three are the main backends). */
export const WIDE = 1000;
/** Size of the big bodies both ways. */
export const BIG = 1024 * 1024;

export interface Ports {
  /** The three main backends, then WIDE - 3 more (all served by one nginx). */
  backends: readonly number[];
  plain: number;
  tls: number;
  hash: number;
  /** Only listened on by the wide shape. */
  wideHash: number;
  admin: number;
}

/** The ports of one cost run, each distinct (freePort never gives one twice). */
export async function allocatePorts(): Promise<{ -readonly [K in keyof Ports]: Ports[K] }> {
  const backends: number[] = [];
  while (backends.length < WIDE) backends.push(await freePort());
  return {
    backends,
    plain: await freePort(),
    tls: await freePort(),
    hash: await freePort(),
    wideHash: await freePort(),
    admin: await freePort(),
  };
}

export interface Tls {
  cert: string;
  key: string;
}

function nginxCommon(prefix: string, name: string): string {
  const t = join(prefix, 'tmp', name);
  mkdirSync(t, { recursive: true, mode: 0o777 });
  chmodSync(t, 0o777);
  return `daemon off;
pid ${join(prefix, `${name}.pid`)};
error_log ${join(prefix, `${name}-error.log`)} warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; multi_accept on; }
http {
  client_body_temp_path ${t}/body;
  proxy_temp_path ${t}/proxy;
  fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi;
  scgi_temp_path ${t}/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;`;
}

/**
 * One nginx worker serving every backend port: the small fixed body on `/`, a BIG-byte file on
 * `/big`, and `/up` reading a request body of up to 2 MiB whole before answering. (A bare
 * `return` answers before the body arrives; a proxy then has to close the client connection,
 * and the row would measure reconnects. Buffered proxying to the worker's own `okPort`
 * without the body makes nginx read all of it first.)
 */
export function writeBackends(prefix: string, ports: readonly number[], okPort: number): string {
  const root = join(prefix, 'www');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'big'), Buffer.alloc(BIG, 'x'));
  const file = join(prefix, 'cost-backends.conf');
  writeFileSync(
    file,
    `worker_processes 1;
${nginxCommon(prefix, 'cost-backends')}
  access_log off;
  client_max_body_size 4m;
  client_body_buffer_size 2m;
  server {
${ports.map((p) => `    listen 127.0.0.1:${p}${p === ports[0] ? ' backlog=4096' : ''};`).join('\n')}
    root ${root};
    location = /big { default_type application/octet-stream; }
    location = /up { proxy_pass http://127.0.0.1:${okPort}/; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
    location / { default_type application/json; return 200 '${BODY.trim()}\\n'; }
  }
  server {
    listen 127.0.0.1:${okPort};
    location / { return 200 'ok\\n'; }
  }
}
`,
  );
  return file;
}

const list = (ports: readonly number[], line: (p: number, i: number) => string): string =>
  ports.map(line).join('\n');

export function writeNginx(prefix: string, p: Ports, tls: Tls, wide: boolean): string {
  const file = join(prefix, `nginx-${wide ? 'wide' : 'main'}.conf`);
  const three = p.backends.slice(0, 3);
  const proxy = (upstream: string): string => `
      proxy_pass http://${upstream};
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;`;
  const upstream = (name: string, ports: readonly number[], hash: boolean): string => `
  upstream ${name} {${hash ? '\n    hash $http_x_user_id consistent;' : ''}
${list(ports, (port) => `    server 127.0.0.1:${port};`)}
    keepalive 1024;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
  }`;
  const server = (listen: string, name: string): string => `
  server {
    listen ${listen};
    location / {${proxy(name)}
    }
  }`;
  writeFileSync(
    file,
    `worker_processes 1;
${nginxCommon(prefix, `nginx-${wide ? 'wide' : 'main'}`)}
  access_log /dev/null combined buffer=64k;
  client_max_body_size 4m;
  ssl_certificate ${tls.cert};
  ssl_certificate_key ${tls.key};
  ssl_protocols TLSv1.3;
  ssl_session_cache shared:SSL:1m;
${upstream('app', three, false)}
${upstream('hash3', three, true)}
${wide ? upstream('wide', p.backends, true) : ''}
${server(`127.0.0.1:${p.plain} backlog=4096`, 'app')}
${server(`127.0.0.1:${p.tls} ssl backlog=4096`, 'app')}
${server(`127.0.0.1:${p.hash} backlog=4096`, 'hash3')}
${wide ? server(`127.0.0.1:${p.wideHash} backlog=4096`, 'wide') : ''}
}
`,
  );
  return file;
}

export function writeHaproxy(prefix: string, p: Ports, tls: Tls, wide: boolean): string {
  const file = join(prefix, `haproxy-${wide ? 'wide' : 'main'}.cfg`);
  const three = p.backends.slice(0, 3);
  const backend = (name: string, ports: readonly number[], hash: boolean): string => `
backend ${name}
  ${hash ? 'balance hdr(x-user-id)\n  hash-type consistent' : 'balance roundrobin'}
  http-reuse always
${list(ports, (port, i) => `  server s${i} 127.0.0.1:${port}`)}`;
  const front = (name: string, bind: string, to: string): string => `
frontend ${name}
  bind ${bind}
  http-request set-header X-Request-Id %[unique-id]
  http-request set-header X-Forwarded-Proto https if { ssl_fc }
  default_backend ${to}`;
  writeFileSync(
    file,
    `global
  nbthread 1
  maxconn 9000
  tune.ssl.default-dh-param 2048
  ssl-default-bind-options ssl-min-ver TLSv1.3

defaults
  mode http
  option http-keep-alive
  option forwardfor
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-keep-alive 300s
  unique-id-format %{+X}o%ci%cp%fi%fp%Ts%rt%pid
${front('plain', `127.0.0.1:${p.plain}`, 'app')}
${front('tls', `127.0.0.1:${p.tls} ssl crt ${tls.cert}.pem`, 'app')}
${front('hash3', `127.0.0.1:${p.hash}`, 'hash3')}
${wide ? front('wide', `127.0.0.1:${p.wideHash}`, 'wide') : ''}
${backend('app', three, false)}
${backend('hash3', three, true)}
${wide ? backend('wide', p.backends, true) : ''}
`,
  );
  return file;
}

export function fulcrumYaml(p: Ports, tls: Tls, wide: boolean): string {
  const backends = (ports: readonly number[]): string =>
    list(ports, (port, i) => `      - { name: b${i + 1}, address: 127.0.0.1:${port} }`);
  const three = p.backends.slice(0, 3);
  return `version: 1
listeners:
  plain:
    address: 127.0.0.1:${p.plain}
    routes: [{ pool: app }]
  tls:
    address: 127.0.0.1:${p.tls}
    tls: { cert: ${tls.cert}, key: ${tls.key} }
    routes: [{ pool: app }]
  hash:
    address: 127.0.0.1:${p.hash}
    routes: [{ pool: hash3 }]
${
  wide
    ? `  wide:
    address: 127.0.0.1:${p.wideHash}
    routes: [{ pool: wide }]
`
    : ''
}pools:
  app:
    policy: round-robin
    backends:
${backends(three)}
  hash3:
    policy: consistent-hash
    hash: { key: "header:x-user-id" }
    backends:
${backends(three)}
${
  wide
    ? `  wide:
    policy: consistent-hash
    hash: { key: "header:x-user-id" }
    backends:
${backends(p.backends)}
`
    : ''
}admin:
  address: 127.0.0.1:${p.admin}
audit:
  schedule: ""
log:
  access: true
`;
}
