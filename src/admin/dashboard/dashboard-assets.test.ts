import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterEach, describe, expect, it } from 'vitest';
import { createDashboardAssets, DASHBOARD_CSP, type DashboardAssets } from './dashboard-assets.ts';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const servers: Server[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A real server on an ephemeral port answering like the admin server: assets, else 404. */
async function serve(assets: DashboardAssets): Promise<string> {
  const server = createServer((req, res) => {
    if (!assets.serve(new URL(req.url ?? '/', 'http://x').pathname, res)) {
      res.writeHead(404);
      res.end();
    }
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'fulcrum-dash-'));
  dirs.push(d);
  return d;
}

describe('dashboard assets', () => {
  it('serves the page with a strict CSP, no caching, and every file it references with its type, cached forever', async () => {
    const assets = createDashboardAssets();
    const base = await serve(assets);
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    expect(page.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).not.toContain('unsafe');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).not.toContain('{{assets}}');
    // No inline script or style: the CSP would block them.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1] as string);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const ref of refs) expect(ref.startsWith(`${assets.assetBase}/`), ref).toBe(true);
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
    };
    for (const ref of refs) {
      const r = await fetch(base + ref);
      expect(r.status, ref).toBe(200);
      expect(r.headers.get('content-type')).toBe(types[ref.split('.').pop() as string]);
      expect(r.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await r.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });

  it('serves uPlot from node_modules and the modules the entry point imports', async () => {
    const assets = createDashboardAssets();
    const base = await serve(assets);
    const uplot = await (await fetch(`${base}${assets.assetBase}/vendor/uplot.js`)).text();
    expect(uplot).toContain('export { uPlot as default }');
    const app = await (await fetch(`${base}${assets.assetBase}/app.js`)).text();
    const imports = [...app.matchAll(/from '\.\/([\w.-]+)'/g)].map((m) => m[1] as string);
    expect(imports).toContain('overview.js');
    for (const file of imports)
      expect((await fetch(`${base}${assets.assetBase}/${file}`)).status, file).toBe(200);
  });

  it('answers false for anything else: API paths, unknown files, assets of another build', async () => {
    const assets = createDashboardAssets();
    const base = await serve(assets);
    for (const path of [
      '/api/v1/pools',
      '/assets/app.js',
      '/assets/000000000000/app.js',
      `${assets.assetBase}/nope.js`,
      `${assets.assetBase}/../package.json`,
      `${assets.assetBase}/index.html`,
    ]) {
      expect((await fetch(base + path)).status, path).toBe(404);
    }
  });

  it('changes the asset hash when any file changes, so cached assets are never stale', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'index.html'), '<script type="module" src="{{assets}}/app.js"></script>');
    writeFileSync(join(dir, 'app.js'), 'export const a = 1;');
    const one = createDashboardAssets({ staticDir: dir }).assetBase;
    expect(createDashboardAssets({ staticDir: dir }).assetBase).toBe(one);
    writeFileSync(join(dir, 'app.js'), 'export const a = 2;');
    expect(createDashboardAssets({ staticDir: dir }).assetBase).not.toBe(one);
  });

  it('still serves a working page without uPlot (a production install without it): the module is a stub', async () => {
    const assets = createDashboardAssets({ uplotDir: join(tempDir(), 'missing') });
    const base = await serve(assets);
    expect((await fetch(`${base}/`)).status).toBe(200);
    const stub = await fetch(`${base}${assets.assetBase}/vendor/uplot.js`);
    expect(stub.status).toBe(200);
    expect(await stub.text()).toBe('export default null;\n');
  });

  it('explains itself when the static files are missing instead of failing the admin server', async () => {
    const assets = createDashboardAssets({ staticDir: join(tempDir(), 'nowhere') });
    const r = await fetch(`${await serve(assets)}/`);
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('dashboard files were not found');
  });

  it('finds the static files relative to the package root when compiled into dist/', async () => {
    // A package laid out like an installed one: dist/ holds the compiled module, src/ and
    // node_modules/ come from this checkout.
    const pkg = tempDir();
    writeFileSync(join(pkg, 'package.json'), '{"name":"fulcrum","type":"module"}');
    symlinkSync(join(repoRoot, 'src'), join(pkg, 'src'));
    symlinkSync(join(repoRoot, 'node_modules'), join(pkg, 'node_modules'));
    const out = join(pkg, 'dist', 'admin', 'dashboard');
    mkdirSync(out, { recursive: true });
    const js = ts.transpileModule(readFileSync(join(here, 'dashboard-assets.ts'), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2023 },
    }).outputText;
    writeFileSync(join(out, 'dashboard-assets.js'), js);
    const mod = (await import(pathToFileURL(join(out, 'dashboard-assets.js')).href)) as {
      createDashboardAssets: typeof createDashboardAssets;
    };
    const assets = mod.createDashboardAssets();
    expect(assets.assetBase).toBe(createDashboardAssets().assetBase);
    const base = await serve(assets);
    expect(await (await fetch(`${base}/`)).text()).toContain(`${assets.assetBase}/app.js`);
    expect(await (await fetch(`${base}${assets.assetBase}/vendor/uplot.js`)).text()).toContain('uPlot');
  });
});
