// The floor of Node itself on this bench, to tell fulcrum's own cost from the runtime's:
//   hello: a node:http server answering the fixed body (no proxying at all);
//   proxy: the least a Node proxy can do — node:http server, round-robin, undici dispatch,
//          status + raw headers + body passed through; no routing, headers rewriting, timers,
//          retries, metrics or access log.
// Usage: node bench/node-floor.ts hello|proxy PORT BACKEND_PORT...
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import { BODY } from './nginx.ts';

const [mode, portText, ...rest] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'hello') {
  const body = Buffer.from(BODY);
  http
    .createServer({ noDelay: true }, (_req, res) => {
      res.writeHead(200, ['content-type', 'application/json', 'content-length', String(body.length)]);
      res.end(body);
    })
    .listen(port, '127.0.0.1');
} else {
  const pools = rest.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 1024, pipelining: 1 }));
  let next = 0;

  class Pass implements Dispatcher.DispatchHandler {
    res: http.ServerResponse;
    constructor(res: http.ServerResponse) {
      this.res = res;
    }
    onConnect(): void {}
    onHeaders(status: number, raw: Buffer[]): boolean {
      const headers: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = (raw[i] as Buffer).toString('latin1');
        if (name.toLowerCase() !== 'connection')
          headers.push(name, (raw[i + 1] as Buffer).toString('latin1'));
      }
      this.res.writeHead(status, headers);
      return true;
    }
    onData(chunk: Buffer): boolean {
      return this.res.write(chunk);
    }
    onComplete(): void {
      this.res.end();
    }
    onError(): void {
      this.res.destroy();
    }
  }

  http
    .createServer({ noDelay: true }, (req, res) => {
      const pool = pools[next] as Pool;
      next = (next + 1) % pools.length;
      pool.dispatch(
        { method: req.method ?? 'GET', path: req.url ?? '/', headers: ['host', req.headers.host ?? ''] },
        new Pass(res),
      );
    })
    .listen(port, '127.0.0.1');
}
