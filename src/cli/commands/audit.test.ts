import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuditRunRecord } from '../../store/store.ts';
import type { CliIo } from '../io.ts';
import { auditCommand } from './audit.ts';

const dir = mkdtempSync(join(tmpdir(), 'fulcrum-audit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (t) => void stdout.push(t),
    err: (t) => void stderr.push(t),
    env: {},
    cwd: dir,
  };
}

const cfg = (weight: number) => `version: 1
listeners:
  web: { address: 127.0.0.1:8080, routes: [{ pool: app }] }
pools:
  app:
    policy: weighted-round-robin
    healthCheck: { path: /healthz }
    backends:
      - { name: a, address: 127.0.0.1:9001, weight: ${weight} }
      - { name: b, address: 127.0.0.1:9002 }
      - { name: c, address: 127.0.0.1:9003 }
`;
writeFileSync(join(dir, 'good.yaml'), cfg(1));
writeFileSync(join(dir, 'skewed.yaml'), cfg(10));
writeFileSync(join(dir, 'broken.yaml'), 'version: 1\nlisteners: {}\n');

describe('fulcrum audit --config (offline)', () => {
  it('exits 0 on a clean file and prints the report', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'good.yaml', against: 'good.yaml' }, io)).toBe(0);
    expect(io.stdout.join('')).toMatch(/^audit .*: PASS/);
    expect(io.stdout.join('')).toContain('PASS    drift');
  });

  it('exits 2 on a lint error and on drift against --against, naming both', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'skewed.yaml', against: 'good.yaml', format: 'json' }, io)).toBe(2);
    const run = JSON.parse(io.stdout.join('')) as AuditRunRecord & {
      checks: { name: string; findings: { ruleId: string; path?: string }[] }[];
    };
    expect(run.status).toBe('fail');
    expect(run.checks.find((c) => c.name === 'lint')!.findings.map((f) => f.ruleId)).toContain('weight-skew');
    expect(run.checks.find((c) => c.name === 'drift')!.findings).toEqual([
      expect.objectContaining({ ruleId: 'drift', path: 'pools.app.backends[0].weight' }),
    ]);
  });

  it('skips drift without --against, and runs only the checks asked for', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'good.yaml', checks: 'drift', format: 'json' }, io)).toBe(0);
    const run = JSON.parse(io.stdout.join('')) as { checks: { name: string; status: string }[] };
    expect(run.checks).toEqual([expect.objectContaining({ name: 'drift', status: 'skipped' })]);
  });

  it('writes one self-contained HTML file with --output', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'skewed.yaml', format: 'html', output: 'report.html' }, io)).toBe(2);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('weight-skew');
    expect(html).not.toMatch(/src=|href=/);
    expect(io.stdout.join('')).toContain('report written to report.html');
  });

  it('exits 1 when it cannot run: unreadable file, live-only check offline, unknown check, bad format', async () => {
    for (const opts of [
      { config: 'missing.yaml' },
      { config: 'good.yaml', checks: 'health' },
      { config: 'good.yaml', checks: 'lint,nope' },
      { config: 'good.yaml', format: 'pdf' },
    ]) {
      const io = capture();
      expect(await auditCommand(opts, io), JSON.stringify(opts)).toBe(1);
      expect(io.stderr.join('')).toMatch(/FULCRUM_ERR_/);
    }
  });

  it('--config wins over the default --admin the CLI fills in', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'good.yaml', admin: 'http://127.0.0.1:1' }, io)).toBe(0);
  });

  it('exits 2 on an invalid file, listing its problems', async () => {
    const io = capture();
    expect(await auditCommand({ config: 'broken.yaml' }, io)).toBe(2);
    expect(io.stdout.join('\n')).toContain('broken.yaml');
  });
});

describe('fulcrum audit --admin (live)', () => {
  it('POSTs /api/v1/audits with the checks and prints the returned run; exit follows its status', async () => {
    const seen: { url?: string; method?: string; auth?: string; body: string }[] = [];
    const run: AuditRunRecord = {
      id: 'r1',
      startedAt: 0,
      endedAt: 5,
      status: 'fail',
      trigger: 'api',
      configVersion: 2,
      checks: [
        {
          name: 'drift',
          status: 'fail',
          durationMs: 1,
          findings: [
            { ruleId: 'drift', severity: 'error', message: 'x: running 1, desired 2', remediation: 'apply' },
          ],
        },
      ],
    };
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        seen.push({ url: req.url, method: req.method, auth: req.headers.authorization, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(run));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const admin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const io = capture();
      expect(
        await auditCommand({ admin, token: 't0k', checks: ['drift', 'lint'], format: 'markdown' }, io),
      ).toBe(2);
      expect(seen).toEqual([
        { url: '/api/v1/audits', method: 'POST', auth: 'Bearer t0k', body: '{"checks":["drift","lint"]}' },
      ]);
      expect(io.stdout.join('')).toContain('# fulcrum audit: FAIL');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('exits 1 when the admin API is unreachable', async () => {
    const io = capture();
    expect(await auditCommand({ admin: 'http://127.0.0.1:1' }, io)).toBe(1);
    expect(io.stderr.join('')).toContain('FULCRUM_ERR_ADMIN_UNREACHABLE');
  });
});
