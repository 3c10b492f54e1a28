// /readyz semantics: 503 only when this instance cannot serve; degraded states answer 200 with
// reasons (so a backend incident never takes every balancer out of rotation); ?strict=1 fails
// on those too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { startTestBalancer, type TestBalancer } from '../helpers/balancer.ts';

let app: FakeBackend[];
let other: FakeBackend[];
let tb: TestBalancer;
// Generous timeouts: a check must fail because the backend says so, not because the machine is busy.
const CHECK = { interval: '200ms', timeout: '2s', healthyThreshold: 1, unhealthyThreshold: 2 };

beforeAll(async () => {
  app = await startFakeBackends(3, 'app-');
  other = await startFakeBackends(2, 'other-');
  tb = await startTestBalancer({
    listeners: {
      web: {
        address: '127.0.0.1:0',
        routes: [{ match: { pathPrefix: '/other' }, pool: 'other' }, { pool: 'app' }],
      },
    },
    pools: {
      app: { backends: app.map((b) => ({ name: b.name, address: b.address })), healthCheck: CHECK },
      other: { backends: other.map((b) => ({ name: b.name, address: b.address })), healthCheck: CHECK },
    },
  });
});
afterAll(async () => {
  await tb.close();
  await Promise.all([...app, ...other].map((b) => b.close()));
});

interface Ready {
  status: number;
  body: { status: string; strict: boolean; reasons: string[] };
}

async function readyz(strict = false): Promise<Ready> {
  const res = await fetch(`${tb.adminUrl}/readyz${strict ? '?strict=1' : ''}`);
  return { status: res.status, body: (await res.json()) as Ready['body'] };
}

/** Poll until /readyz's body says `status` and its reasons match `reason`. */
async function readyzUntil(status: string, reason: RegExp): Promise<Ready> {
  const deadline = Date.now() + 10_000;
  let r = await readyz();
  while (!(r.body.status === status && reason.test(r.body.reasons.join(' | '))) && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 50));
    r = await readyz();
  }
  return r;
}

describe('/readyz', () => {
  it('answers 200 ready when every pool serves', async () => {
    const r = await readyzUntil('ready', /^$/);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', strict: false, reasons: [] });
    expect((await readyz(true)).status).toBe(200);
  });

  it('stays 200 (degraded, with reasons) while a pool is in panic; strict answers 503', async () => {
    app[0]?.setHealth('fail');
    app[1]?.setHealth('fail');
    const r = await readyzUntil('degraded', /pool "app" is in panic/);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe('degraded');
    const strict = await readyz(true);
    expect(strict.status).toBe(503);
    expect(strict.body.status).toBe('degraded');
  });

  it('stays 200 while one pool has no backend but another serves; 503 once no pool can serve', async () => {
    app[2]?.setHealth('fail');
    const oneDark = await readyzUntil('degraded', /pool "app" has no available backend/);
    expect(oneDark.status, JSON.stringify(oneDark.body)).toBe(200);
    expect((await readyz(true)).status).toBe(503);
    for (const b of other) b.setHealth('fail');
    const dark = await readyzUntil('not-ready', /no pool has an available backend/);
    expect(dark.status, JSON.stringify(dark.body)).toBe(503);
    expect(dark.body.status).toBe('not-ready');
    for (const b of [...app, ...other]) b.setHealth('ok');
    const back = await readyzUntil('ready', /^$/);
    expect(back.status, JSON.stringify(back.body)).toBe(200);
  });
});
