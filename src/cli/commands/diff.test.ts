import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { captureIo } from '../../../test/helpers/cli.ts';
import { diffCommand } from './diff.ts';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-diff-'));

function configText(weights: number[], policy = 'weighted-round-robin'): string {
  return `version: 1
listeners:
  web:
    address: 127.0.0.1:8080
    routes: [{ pool: app }]
pools:
  app:
    policy: ${policy}
    backends:
${weights.map((w, i) => `      - { name: app-${i + 1}, address: 127.0.0.1:${9001 + i}, weight: ${w} }`).join('\n')}
    timeouts: { response: 30s }
`;
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const capture = (env: Record<string, string> = {}) => captureIo(env, dir);

/** A stand-in for the admin API: GET /api/v1/config answers `{ version, text, sha256 }`. */
async function fakeAdmin(
  text: string | null,
  token?: string,
): Promise<{ url: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.setHeader('content-type', 'application/json');
    if (req.method !== 'GET' || req.url !== '/api/v1/config') {
      res.statusCode = 404;
      return void res.end(
        JSON.stringify({ error: { code: 'FULCRUM_ERR_ADMIN_NOT_FOUND', message: 'no such endpoint' } }),
      );
    }
    if (text === null) {
      res.statusCode = 404;
      return void res.end(
        JSON.stringify({
          error: { code: 'FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND', message: 'no config applied yet' },
        }),
      );
    }
    if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      res.statusCode = 401;
      return void res.end(
        JSON.stringify({ error: { code: 'FULCRUM_ERR_ADMIN_UNAUTHORIZED', message: 'bad token' } }),
      );
    }
    res.end(JSON.stringify({ version: 7, text, sha256: 'x' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

describe('fulcrum diff --against FILE', () => {
  it('exits 0 with "No changes" for the same config', async () => {
    const a = write('a.yaml', configText([1, 1, 1]));
    const io = capture();
    expect(await diffCommand(a, { against: a, format: 'text' }, io)).toBe(0);
    expect(io.stdout).toContain('No changes');
  });

  it('exits 2 and prints the change and the share table', async () => {
    const before = write('before.yaml', configText([1, 1, 1]));
    const after = write('after.yaml', configText([10, 1, 1]));
    const io = capture();
    expect(await diffCommand(after, { against: before, format: 'text' }, io)).toBe(2);
    expect(io.stdout).toContain('~ pools.app.backends[0].weight: 1 → 10');
    expect(io.stdout).toMatch(/app-1 +33\.3% → 83\.3%/);
  });

  it('--format json carries changes and pools', async () => {
    const before = write('j-before.yaml', configText([1, 1]));
    const after = write('j-after.yaml', configText([1, 1], 'round-robin'));
    const io = capture();
    expect(await diffCommand(after, { against: before, format: 'json' }, io)).toBe(2);
    const doc = JSON.parse(io.stdout);
    expect(doc.changed).toBe(true);
    expect(doc.changes).toEqual([
      expect.objectContaining({
        kind: 'changed',
        path: 'pools.app.policy',
        before: 'weighted-round-robin',
        after: 'round-robin',
      }),
    ]);
    expect(doc.pools[0].status).toBe('unchanged');
  });

  it('exits 1 when a file cannot be read, 2 when FILE is invalid', async () => {
    const ok = write('ok.yaml', configText([1, 1]));
    const io = capture();
    expect(await diffCommand(ok, { against: 'missing.yaml', format: 'text' }, io)).toBe(1);
    expect(io.stderr).toContain('FULCRUM_ERR_CONFIG_READ');
    const bad = write('bad.yaml', 'version: 2\n');
    const io2 = capture();
    expect(await diffCommand(bad, { against: ok, format: 'text' }, io2)).toBe(2);
    expect(io2.stdout).toContain('version');
  });

  it('prefers --against over --admin (which the CLI always fills with its default)', async () => {
    const ok = write('both.yaml', configText([1, 1]));
    const io = capture();
    expect(await diffCommand(ok, { against: ok, admin: 'http://127.0.0.1:1', format: 'text' }, io)).toBe(0);
    expect(io.stdout).toContain('No changes');
  });
});

describe('fulcrum diff --admin URL', () => {
  it('diffs against the running config and sends the bearer token', async () => {
    const admin = await fakeAdmin(configText([1, 1, 1]), 's3cret');
    const file = write('next.yaml', configText([1, 1, 2]));
    const io = capture();
    expect(await diffCommand(file, { admin: admin.url, token: 's3cret', format: 'text' }, io)).toBe(2);
    expect(admin.seen[0]?.authorization).toBe('Bearer s3cret');
    expect(io.stdout).toContain(`against ${admin.url} (running version 7)`);
    expect(io.stdout).toContain('~ pools.app.backends[2].weight: 1 → 2');
    expect(io.stdout).toMatch(/app-3 +33\.3% → 50\.0%/);
  });

  it('takes the token from FULCRUM_ADMIN_TOKEN and exits 0 when nothing changes', async () => {
    const admin = await fakeAdmin(configText([1, 1]), 'from-env');
    const file = write('same.yaml', configText([1, 1]));
    const io = capture({ FULCRUM_ADMIN_TOKEN: 'from-env' });
    expect(await diffCommand(file, { admin: admin.url, format: 'json' }, io)).toBe(0);
    expect(JSON.parse(io.stdout)).toMatchObject({ changed: false, runningVersion: 7 });
  });

  it('exits 1 with the admin code when the token is wrong', async () => {
    const admin = await fakeAdmin(configText([1, 1]), 'right');
    const io = capture();
    expect(
      await diffCommand(
        write('t.yaml', configText([1, 1])),
        { admin: admin.url, token: 'wrong', format: 'text' },
        io,
      ),
    ).toBe(1);
    expect(io.stderr).toContain('bad token');
    expect(io.stderr).toContain('FULCRUM_ERR_ADMIN_UNAUTHORIZED');
  });

  it('treats a balancer without a config as empty: everything is added', async () => {
    const admin = await fakeAdmin(null);
    const io = capture();
    expect(
      await diffCommand(write('first.yaml', configText([1, 1])), { admin: admin.url, format: 'text' }, io),
    ).toBe(2);
    expect(io.stdout).toMatch(/^\+ pools: /m);
  });

  it('exits 1 with FULCRUM_ERR_ADMIN_UNREACHABLE when nothing listens', async () => {
    const admin = await fakeAdmin(null);
    await new Promise((r) => admin.server.close(r));
    servers.length = 0;
    const io = capture();
    expect(
      await diffCommand(write('u.yaml', configText([1, 1])), { admin: admin.url, format: 'text' }, io),
    ).toBe(1);
    expect(io.stderr).toContain('FULCRUM_ERR_ADMIN_UNREACHABLE');
    expect(io.stderr).toContain('ECONNREFUSED');
  });
});
