// The process and traffic metrics of issue 17 on a real balancer: build info, connections open
// and accepted per listener, request bytes per pool and backend (checked against the exact
// bytes of raw requests), dropped log lines (a FIFO nobody reads) and dropped notifications.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../../src/main.ts';
import { startFakeBackend, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

let backends: FakeBackend[] = [];
let lb: TestBalancer | undefined;
let raw: Balancer | undefined;
const fds: number[] = [];

afterEach(async () => {
  await lb?.close();
  lb = undefined;
  await raw?.close(500);
  raw = undefined;
  for (const fd of fds.splice(0)) closeSync(fd);
  await Promise.all(backends.map((b) => b.close()));
  backends = [];
});

function config(bs: FakeBackend[]): Record<string, unknown> {
  return {
    audit: { schedule: '' },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: { app: { backends: bs.map((b) => ({ name: b.name, address: b.address })) } },
  };
}

async function metrics(adminUrl: string): Promise<string> {
  return (await fetch(`${adminUrl}/metrics`)).text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function rawExchange(port: number, request: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    s.setTimeout(10_000, () => s.destroy(new Error('raw request timed out')));
  });
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 10_000;
  let v = await read();
  while (!ok(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

describe('runtime metrics', () => {
  it('build info, connections per listener and request bytes per backend', async () => {
    backends = [await startFakeBackend({ name: 'm1' })];
    lb = await startTestBalancer(config(backends), { force: true });
    const port = Number(new URL(lb.url()).port);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    const m0 = await metrics(lb.adminUrl);
    expect(value(m0, `fulcrum_build_info{version="${pkg.version}",node="${process.version}"}`)).toBe(1);
    expect(m0).toContain('# TYPE fulcrum_listener_connections_accepted_total counter');

    let bytesIn = 0;
    let bytesOut = 0;
    for (let i = 0; i < 5; i++) {
      const body = 'x'.repeat(i * 10);
      const req = `POST /b${i} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
      const res = await rawExchange(port, req);
      bytesIn += Buffer.byteLength(req);
      bytesOut += res.length;
    }
    const m1 = await until(
      () => metrics(lb?.adminUrl as string),
      (t) => value(t, 'fulcrum_listener_connections{listener="web"}') === 0,
    );
    expect(value(m1, 'fulcrum_listener_connections_accepted_total{listener="web"}')).toBe(5);
    expect(value(m1, 'fulcrum_listener_connections{listener="web"}')).toBe(0);
    expect(value(m1, 'fulcrum_request_bytes_total{pool="app",backend="m1",direction="in"}')).toBe(bytesIn);
    expect(value(m1, 'fulcrum_request_bytes_total{pool="app",backend="m1",direction="out"}')).toBe(bytesOut);

    // Two idle connections held open: open 2, accepted 7.
    const held = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(port, '127.0.0.1', () => resolve(s));
            s.on('error', reject);
          }),
      ),
    );
    const m2 = await until(
      () => metrics(lb?.adminUrl as string),
      (t) => value(t, 'fulcrum_listener_connections{listener="web"}') === 2,
    );
    expect(value(m2, 'fulcrum_listener_connections{listener="web"}')).toBe(2);
    expect(value(m2, 'fulcrum_listener_connections_accepted_total{listener="web"}')).toBe(7);
    for (const s of held) s.destroy();
    expect(value(m2, 'fulcrum_log_lines_dropped_total')).toBe(0);
  });

  it('counts log lines dropped by a destination slower than the log, exactly', async () => {
    backends = [await startFakeBackend({ name: 'm1' })];
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-metrics-'));
    const fifo = join(dir, 'log.fifo');
    execFileSync('mkfifo', [fifo]);
    // The reader end first (non-blocking), so the balancer's open for writing does not wait.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(reader);
    const file = join(dir, 'fulcrum.yaml');
    writeFileSync(
      file,
      YAML.stringify({ version: 1, log: { level: 'info', access: false }, ...config(backends) }),
    );
    raw = await startBalancer({
      configFile: file,
      env: {},
      memoryStore: true,
      adminAddress: '127.0.0.1:0',
      logDestination: fifo,
      force: true,
    });
    // 3 MiB of lines at once: more than the writer's two 1 MiB buffers and the pipe can hold.
    const line = 'y'.repeat(300);
    const written = 10_000;
    for (let i = 0; i < written; i++) raw.logger.info({ i, line }, 'filler');
    const m = await metrics(raw.adminUrl);
    const dropped = value(m, 'fulcrum_log_lines_dropped_total') as number;
    expect(dropped).toBeGreaterThan(0);
    // Read everything that did arrive: received filler lines + dropped = written.
    const buf = Buffer.alloc(1 << 16);
    let text = '';
    const deadline = Date.now() + 20_000;
    let received = 0;
    while (received + dropped < written && Date.now() < deadline) {
      let n: number;
      try {
        n = readSync(reader, buf, 0, buf.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      text += buf.toString('utf8', 0, n);
      const cut = text.lastIndexOf('\n');
      if (cut === -1) continue;
      received += text
        .slice(0, cut)
        .split('\n')
        .filter((l) => l.includes('"msg":"filler"')).length;
      text = text.slice(cut + 1);
      await new Promise((r) => setImmediate(r));
    }
    expect(received + dropped).toBe(written);
  });
});
