// `fulcrum start -c FILE` over a store whose latest version differs from the file: the one
// changed last runs (a restart after a crash never silently undoes an API apply), --prefer
// file|store decides explicitly, --prefer none refuses. Real SQLite store file, real restarts.
import { mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFulcrumError } from '../../src/core/errors.ts';
import { startBalancer, type Balancer, type StartOptions } from '../../src/main.ts';
import { startFakeBackends, type FakeBackend } from '../helpers/fake-backend.ts';
import { testWorkers } from '../helpers/balancer.ts';

let backends: FakeBackend[];
let dir: string;
let configFile: string;

function configText(weights: [number, number], tag: string): string {
  return YAML.stringify({
    version: 1,
    ...testWorkers(),
    log: { level: 'info', access: false },
    store: { sqlite: 'state.db' },
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: 'app' }] } },
    pools: {
      app: {
        backends: backends.map((b, i) => ({
          name: `${b.name}-${tag}`,
          address: b.address,
          weight: weights[i],
        })),
      },
    },
  });
}

/** Write the config file with a modification time `agoMs` in the past (negative: the future). */
function writeConfig(text: string, agoMs: number): void {
  writeFileSync(configFile, text);
  const t = new Date(Date.now() - agoMs);
  utimesSync(configFile, t, t);
}

let logN = 0;
async function start(extra: Partial<StartOptions> = {}): Promise<{ b: Balancer; log: string }> {
  const log = join(dir, `log-${++logN}.ndjson`);
  const b = await startBalancer({
    configFile,
    env: {},
    adminAddress: '127.0.0.1:0',
    logDestination: log,
    ...extra,
  });
  return { b, log };
}

function weights(b: Balancer): string {
  const pool = b.controller.snapshot?.pools.get('app');
  return (pool?.state.hosts ?? []).map((h) => `${h.name}:${h.configuredWeight}`).join(' ');
}

beforeAll(async () => {
  backends = await startFakeBackends(2);
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-start-history-'));
  configFile = join(dir, 'fulcrum.yaml');
});
afterAll(async () => {
  await Promise.all(backends.map((b) => b.close()));
});

describe('start over an existing history', () => {
  it('runs the one changed last, commits nothing when they agree, and obeys --prefer', async () => {
    const fileA = configText([1, 1], 'a');
    writeConfig(fileA, 60_000);
    // 1. First start: the file becomes version 1. An API apply makes version 2.
    let { b } = await start();
    expect(b.controller.version?.version).toBe(1);
    await b.controller.apply(configText([2, 1], 'api'), { source: 'api', author: 'oncall' });
    expect(b.controller.version?.version).toBe(2);
    await b.close(0);

    // 2. A restart (after a crash) with the older file runs version 2 and commits nothing.
    const restarted = await start();
    const log = restarted.log;
    b = restarted.b;
    expect(b.controller.version?.version).toBe(2);
    expect(weights(b)).toBe('b0-api:2 b1-api:1');
    expect((await b.store.latestVersion())?.version).toBe(2);
    await b.close(0);
    expect(readFileSync(log, 'utf8')).toMatch(
      /differs from store version 2 \(api by oncall .*running version 2/,
    );

    // 3. --prefer none refuses, naming both.
    let refused: unknown;
    try {
      await start({ prefer: 'none' });
    } catch (err) {
      refused = err;
    }
    expect(isFulcrumError(refused) && refused.code).toBe('FULCRUM_ERR_START_HISTORY_DIFFERS');
    expect(String((refused as Error).message)).toMatch(/fulcrum\.yaml .* differs from store version 2/);

    // 4. --prefer file runs the file, committed as version 3.
    ({ b } = await start({ prefer: 'file' }));
    expect(b.controller.version?.version).toBe(3);
    expect(b.controller.version?.text).toBe(fileA);
    expect(weights(b)).toBe('b0-a:1 b1-a:1');
    await b.close(0);

    // 5. File and latest version agree: run it, no new version.
    ({ b } = await start());
    expect(b.controller.version?.version).toBe(3);
    expect((await b.store.latestVersion())?.version).toBe(3);
    await b.controller.apply(configText([1, 2], 'api2'), { source: 'api' });
    expect(b.controller.version?.version).toBe(4);
    await b.close(0);

    // 6. --prefer store runs version 4 even though the file is newer.
    const fileB = configText([3, 1], 'b');
    writeConfig(fileB, -60_000);
    ({ b } = await start({ prefer: 'store' }));
    expect(b.controller.version?.version).toBe(4);
    expect(weights(b)).toBe('b0-api2:1 b1-api2:2');
    await b.close(0);

    // 7. The file edited after the latest version (a deploy by restart) runs, as version 5.
    ({ b } = await start());
    expect(b.controller.version?.version).toBe(5);
    expect(weights(b)).toBe('b0-b:3 b1-b:1');
    await b.close(0);
  }, 60_000);
});
