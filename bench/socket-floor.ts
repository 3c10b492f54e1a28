// The floor of the cost bench (bench/cost.ts, target `node-floor`): the least work a Node
// process can do to proxy the bench's requests on the same socket APIs fulcrum uses. It reads
// a request head up to its blank line, takes Content-Length, writes the head and the body on to
// a kept-alive backend connection (round-robin over the three main backends), and passes the
// response back the same way. No parsing beyond that, no routing, no header rewriting, no
// timers, retries, health, metrics or log: what fulcrum costs above it is fulcrum's own.
//
// Usage: node bench/socket-floor.ts PLAIN_PORT TLS_PORT HASH_PORT WIDE_PORT CERT KEY BACKEND...
// (every listener forwards to the same three backends: the hash rows measure no hash here.)
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

const [plain, tlsPort, hash, wide, cert, key, ...backendPorts] = process.argv.slice(2);
const backends = backendPorts.slice(0, 3).map(Number);
const idle: net.Socket[][] = backends.map(() => []);
let next = 0;

const HEAD_END = Buffer.from('\r\n\r\n');

/** Content-Length of a head (lower-case match is enough for nginx and wrk), 0 when absent. */
function contentLength(head: string): number {
  const at = head.search(/\r\ncontent-length:/i);
  if (at < 0) return 0;
  return parseInt(head.slice(at + 17, head.indexOf('\r', at + 17)), 10);
}

/** One client connection, one request at a time (wrk does not pipeline). */
function serve(client: net.Socket): void {
  let buf: Buffer | undefined;
  let bodyLeft = 0;
  let up: net.Socket | undefined;
  let upIndex = 0;
  let close = false;
  // The response in progress.
  let upBuf: Buffer | undefined;
  let respLeft = -1;

  const finish = (): void => {
    const u = up as net.Socket;
    up = undefined;
    u.removeAllListeners('data');
    (idle[upIndex] as net.Socket[]).push(u);
    if (close) client.end();
  };
  const onUpData = (d: Buffer): void => {
    if (respLeft < 0) {
      upBuf = upBuf === undefined ? d : Buffer.concat([upBuf, d]);
      const end = upBuf.indexOf(HEAD_END);
      if (end < 0) return;
      const head = upBuf.toString('latin1', 0, end + 2);
      respLeft = contentLength(head) - (upBuf.length - end - 4);
      // A client that asked to close is told so (the backend, asked to keep alive, said so).
      client.write(
        close
          ? Buffer.from(
              head.replace(/\r\n(connection|keep-alive):[^\r]*/gi, '') +
                'connection: close\r\n' +
                upBuf.toString('latin1', end + 2),
              'latin1',
            )
          : upBuf,
      );
      upBuf = undefined;
    } else {
      respLeft -= d.length;
      client.write(d);
    }
    if (respLeft <= 0) finish();
  };
  const upstream = (): net.Socket => {
    upIndex = next;
    next = (next + 1) % backends.length;
    let u = (idle[upIndex] as net.Socket[]).pop();
    while (u?.destroyed === true) u = (idle[upIndex] as net.Socket[]).pop();
    if (u === undefined) {
      u = net.connect({ port: backends[upIndex] as number, host: '127.0.0.1', noDelay: true });
      u.on('error', () => {});
    }
    u.on('data', onUpData);
    return u;
  };

  client.setNoDelay(true);
  client.on('error', () => {});
  client.on('data', (d: Buffer) => {
    if (bodyLeft > 0) {
      bodyLeft -= d.length;
      (up as net.Socket).write(d);
      return;
    }
    buf = buf === undefined ? d : Buffer.concat([buf, d]);
    const end = buf.indexOf(HEAD_END);
    if (end < 0) return;
    const head = buf.toString('latin1', 0, end + 2);
    close = /\r\nconnection: *close/i.test(head);
    bodyLeft = contentLength(head) - (buf.length - end - 4);
    respLeft = -1;
    up = upstream();
    // Backend connections stay open, as fulcrum's do: the client's close is the client's.
    up.write(
      close
        ? Buffer.from(head.replace(/\r\nconnection: *close/i, '') + buf.toString('latin1', end + 2))
        : buf,
    );
    buf = undefined;
  });
}

const listen = (server: net.Server, port: string | undefined): void => {
  server.listen(Number(port), '127.0.0.1');
};
for (const p of [plain, hash, wide]) listen(net.createServer({ noDelay: true }, serve), p);
listen(
  tls.createServer({ cert: readFileSync(cert as string), key: readFileSync(key as string) }, serve),
  tlsPort,
);
