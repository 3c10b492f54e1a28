// nginx configs of the bench: the backends (one nginx answering a small fixed body on three
// ports) and nginx as the reference proxy (worker_processes 1, keep-alive upstream pool,
// round-robin). Everything lives in a temp prefix so the system nginx is never touched.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The answer of every backend: small and fixed, like a typical JSON API reply. */
export const BODY = '{"ok":true,"service":"bench","items":[1,2,3,4,5,6,7,8],"note":"a small fixed reply"}\n';

function common(prefix: string, name: string): string {
  return `
daemon off;
pid ${join(prefix, `${name}.pid`)};
error_log ${join(prefix, `${name}-error.log`)} warn;
worker_rlimit_nofile 65536;
events { worker_connections 8192; multi_accept on; }`;
}

function temps(prefix: string): string {
  const t = join(prefix, 'tmp');
  mkdirSync(t, { recursive: true });
  return `
  client_body_temp_path ${t}/body;
  proxy_temp_path ${t}/proxy;
  fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi;
  scgi_temp_path ${t}/scgi;`;
}

/**
 * Backends: one worker serving the fixed body on three ports. Keep-alive connections are
 * never closed by request count (nginx's default closes them every 1000 requests, which
 * would make every proxy reconnect and measure that instead).
 */
export function writeBackendConfig(prefix: string, ports: readonly number[]): string {
  const file = join(prefix, 'backends.conf');
  const listens = ports.map((p) => `    listen 127.0.0.1:${p} backlog=4096;`).join('\n');
  writeFileSync(
    file,
    `worker_processes 1;${common(prefix, 'backends')}
http {${temps(prefix)}
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
${listens}
    location / {
      default_type application/json;
      add_header x-backend $server_port;
      return 200 '${BODY.trim()}\\n';
    }
  }
}
`,
  );
  return file;
}

/**
 * nginx as a proxy, doing the same work as fulcrum per request: round-robin over the three
 * backends on kept-alive upstream connections, X-Forwarded-* and a request id set, one
 * access-log line per request (written to /dev/null, as fulcrum's is in this bench).
 */
export function writeProxyConfig(
  prefix: string,
  port: number,
  backends: readonly number[],
  workers = 1,
): string {
  const file = join(prefix, `proxy-${workers}.conf`);
  const servers = backends.map((p) => `    server 127.0.0.1:${p};`).join('\n');
  writeFileSync(
    file,
    `worker_processes ${workers};${common(prefix, 'proxy')}
http {${temps(prefix)}
  access_log /dev/null combined buffer=64k;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  upstream backends {
${servers}
    keepalive 1024;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port} backlog=4096${workers > 1 ? ' reuseport' : ''};
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Request-Id $request_id;
      add_header x-request-id $request_id;
    }
  }
}
`,
  );
  return file;
}
