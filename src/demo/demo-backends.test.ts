import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { startDemoBackend, type DemoBackend } from './demo-backends.ts';

const open: DemoBackend[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

function send(
  address: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  const i = address.lastIndexOf(':');
  const [host, port] = [address.slice(0, i), Number(address.slice(i + 1))];
  return new Promise((resolve, reject) => {
    const req = http.request({ host, port, method, path, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('demo backend', () => {
  it('greets every request with its name, method and path, and answers /healthz', async () => {
    const b = await startDemoBackend('app-1', '127.0.0.1', 0);
    open.push(b);
    const get = await send(b.address, 'GET', '/hello?x=1');
    expect(get).toMatchObject({ status: 200, body: 'hello from app-1 (GET /hello?x=1)\n' });
    expect(get.headers).toMatchObject({ 'x-backend': 'app-1', 'content-type': 'text/plain; charset=utf-8' });
    // No test routes: a POST to /echo is greeted like anything else, its body consumed.
    const post = await send(b.address, 'POST', '/echo', 'some body');
    expect(post).toMatchObject({ status: 200, body: 'hello from app-1 (POST /echo)\n' });
    expect(await send(b.address, 'GET', '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
  });

  it('stops listening on close', async () => {
    const b = await startDemoBackend('app-2', '127.0.0.1', 0);
    await b.close();
    await expect(send(b.address, 'GET', '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
