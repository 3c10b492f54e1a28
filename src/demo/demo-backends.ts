// Demo backends for `fulcrum demo`: tiny HTTP servers that say who they are in an
// `x-backend` header and a one-line body, with a health endpoint.
import { createServer, type Server } from 'node:http';

export interface DemoBackend {
  readonly name: string;
  readonly address: string;
  close(): Promise<void>;
}

export async function startDemoBackend(name: string, host: string, port: number): Promise<DemoBackend> {
  const server: Server = createServer((req, res) => {
    // Consume any body so keep-alive connections stay usable.
    req.resume();
    req.on('end', () => {
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
        res.end('ok\n');
        return;
      }
      const body = `hello from ${name} (${req.method} ${req.url})\n`;
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-backend': name,
      });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  return {
    name,
    address: `${host}:${boundPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
