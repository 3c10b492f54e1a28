// The Node peer of the bench: the `http-proxy` npm package in its usual setup, round-robin
// over the same three backends on a keep-alive agent, with X-Forwarded-* headers like fulcrum.
// Usage: node bench/http-proxy-peer.ts PORT BACKEND_PORT...
import http from 'node:http';
import httpProxy from 'http-proxy';

const [port, ...backendPorts] = process.argv.slice(2).map(Number);
if (port === undefined || backendPorts.length === 0) {
  console.error('usage: http-proxy-peer.ts PORT BACKEND_PORT...');
  process.exit(1);
}
const targets = backendPorts.map((p) => `http://127.0.0.1:${p}`);
// Same per-backend cap as fulcrum's default maxRequests.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const proxy = httpProxy.createProxyServer({ agent, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) {
    res.writeHead(502);
    res.end();
  } else {
    res.destroy();
  }
});

let next = 0;
http
  .createServer((req, res) => {
    const target = targets[next] as string;
    next = (next + 1) % targets.length;
    proxy.web(req, res, { target });
  })
  .listen(port, '127.0.0.1');
