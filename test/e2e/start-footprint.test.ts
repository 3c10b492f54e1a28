// What `fulcrum start` loads: the CLI and the balancer's composition root import neither the
// etcd client (gRPC and protobuf, ~40 MB of RSS) nor the drill or demo code; those load when
// an etcd store or their verb is asked for. Each case runs in a fresh Node process that
// records every module it resolves.
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** URLs of every module a fresh process resolves while importing `entries` (paths from the root). */
function loadedBy(entries: readonly string[]): string[] {
  const code = `
    import { registerHooks } from 'node:module';
    const seen = [];
    registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); seen.push(r.url); return r; } });
    for (const e of ${JSON.stringify(entries.map((e) => new URL(e, `file://${ROOT}/`).href))}) await import(e);
    process.stdout.write(JSON.stringify(seen));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(out) as string[];
}

const etcd = (urls: string[]): string[] => urls.filter((u) => u.includes('/node_modules/etcd3/'));
const ours = (urls: string[], folder: string): string[] => urls.filter((u) => u.includes(`/src/${folder}/`));

describe('start footprint', () => {
  it('the CLI and the balancer load no etcd client, drill or demo code', () => {
    const urls = loadedBy(['src/cli/main.ts', 'src/main.ts']);
    expect(urls.length).toBeGreaterThan(50);
    expect(etcd(urls)).toEqual([]);
    expect(ours(urls, 'drill')).toEqual([]);
    expect(ours(urls, 'demo')).toEqual([]);
  }, 30_000);

  it('the etcd store and the drill verb load what they need (the check above can see them)', () => {
    expect(etcd(loadedBy(['src/store/etcd-store.ts'])).length).toBeGreaterThan(0);
    expect(ours(loadedBy(['src/cli/commands/drill.ts']), 'drill').length).toBeGreaterThan(0);
  }, 30_000);
});
