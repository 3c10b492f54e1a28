import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackend, type FakeBackend } from '../../test/helpers/fake-backend.ts';
import { parseExpectStatus, type ProbeOptions } from '../data-plane/pool-health-options.ts';
import { probe } from './health-probe.ts';

const base: ProbeOptions = {
  type: 'http',
  path: '/healthz',
  method: 'GET',
  headers: {},
  expectStatus: parseExpectStatus('200-399'),
  expectBody: undefined,
  timeout: 500,
  lameDuckHeader: undefined,
};

describe('parseExpectStatus', () => {
  it('parses single codes, ranges and lists', () => {
    expect(parseExpectStatus('200')).toEqual([[200, 200]]);
    expect(parseExpectStatus('200-399')).toEqual([[200, 399]]);
    expect(parseExpectStatus('200, 204,300-302')).toEqual([
      [200, 200],
      [204, 204],
      [300, 302],
    ]);
  });
});

describe('probe against a real loopback backend', () => {
  let b: FakeBackend;
  beforeAll(async () => {
    b = await startFakeBackend({ name: 'probe-target' });
  });
  afterAll(() => b.close());
  const target = () => ({ hostname: '127.0.0.1', port: b.port, address: b.address });

  it('passes on an expected status and fails on another', async () => {
    b.setHealth('ok');
    expect(await probe(target(), base)).toEqual({ ok: true, detail: 'status 200', lameDuck: false });
    b.setHealth('fail');
    expect(await probe(target(), base)).toEqual({ ok: false, detail: 'status 503', lameDuck: false });
    expect((await probe(target(), { ...base, expectStatus: parseExpectStatus('503') })).ok).toBe(true);
    b.setHealth('ok');
  });

  it('matches a body substring', async () => {
    expect((await probe(target(), { ...base, expectBody: 'ok' })).ok).toBe(true);
    const r = await probe(target(), { ...base, expectBody: 'ready' });
    expect(r).toMatchObject({ ok: false, detail: 'status 200, body lacks "ready"' });
  });

  it('sends the configured method and headers', async () => {
    const r = await probe(target(), {
      ...base,
      path: '/echo',
      method: 'OPTIONS',
      headers: { 'x-probe': 'yes' },
      expectBody: '"x-probe":"yes"',
    });
    expect(r.ok).toBe(true);
    expect((await probe(target(), { ...base, path: '/echo', expectBody: '"method":"OPTIONS"' })).ok).toBe(
      false,
    );
  });

  it('times out a hanging health endpoint within the timeout', async () => {
    b.setHealth('hang');
    const t0 = performance.now();
    const r = await probe(target(), { ...base, timeout: 200 });
    const took = performance.now() - t0;
    b.setHealth('ok');
    expect(r).toEqual({ ok: false, detail: 'timeout after 200ms', lameDuck: false });
    expect(took).toBeGreaterThanOrEqual(190);
  });

  it('reports the lame-duck header', async () => {
    b.setExtraHeaders({ 'x-lame-duck': '1' });
    const r = await probe(target(), { ...base, lameDuckHeader: 'x-lame-duck' });
    b.setExtraHeaders({});
    expect(r).toMatchObject({ ok: true, lameDuck: true });
  });

  it('tcp mode passes on connect', async () => {
    expect(await probe(target(), { ...base, type: 'tcp' })).toEqual({
      ok: true,
      detail: 'connected',
      lameDuck: false,
    });
  });
});

describe('probe against a closed port', () => {
  let port = 0;
  beforeAll(async () => {
    // Bind then close: the port is (almost certainly) refused afterwards.
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    port = (s.address() as net.AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
  });
  const target = () => ({ hostname: '127.0.0.1', port, address: `127.0.0.1:${port}` });

  it('http fails with ECONNREFUSED', async () => {
    expect(await probe(target(), base)).toEqual({ ok: false, detail: 'ECONNREFUSED', lameDuck: false });
  });

  it('tcp fails with ECONNREFUSED', async () => {
    expect(await probe(target(), { ...base, type: 'tcp' })).toEqual({
      ok: false,
      detail: 'ECONNREFUSED',
      lameDuck: false,
    });
  });
});
