// The dashboard's static files (hand-written ES modules, HTML, CSS) and uPlot, read once at
// start-up and served from memory by the admin server: GET / is the page, /assets/<hash>/*
// are its files. The hash covers every file, so assets can be cached forever and a new
// release is picked up by the next page load (the page itself is never cached).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface DashboardAssets {
  /** Serve GET / and /assets/*; false when the path is not a dashboard asset. */
  serve(path: string, res: ServerResponse): boolean;
  /** URL prefix of the current assets, `/assets/<hash>`. */
  readonly assetBase: string;
}

export interface DashboardAssetsOptions {
  /** Directory of index.html and the page's modules; default: src/admin/dashboard/static of the package. */
  staticDir?: string;
  /** Directory holding uPlot.esm.js and uPlot.min.css; default: resolved from the uplot package. */
  uplotDir?: string;
}

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly cache: string;
}

// Everything the page loads comes from the admin server itself; nothing inline, nothing remote.
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const ASSETS_PLACEHOLDER = /\{\{assets\}\}/g;

export function createDashboardAssets(options: DashboardAssetsOptions = {}): DashboardAssets {
  const staticDir = options.staticDir ?? join(packageRoot(), 'src', 'admin', 'dashboard', 'static');
  const files = new Map<string, Buffer>();
  if (existsSync(staticDir)) {
    for (const name of readdirSync(staticDir)) {
      if (TYPES[extname(name)] !== undefined) files.set(name, readFileSync(join(staticDir, name)));
    }
  }
  const uplotDir = options.uplotDir ?? resolveUplotDir();
  for (const [from, to] of [
    ['uPlot.esm.js', 'vendor/uplot.js'],
    ['uPlot.min.css', 'vendor/uplot.css'],
  ] as const) {
    const file = uplotDir === undefined ? undefined : join(uplotDir, from);
    // Without uPlot (a production install without dev dependencies) the page still works; the
    // charts say why they are missing. The stub keeps the module graph loadable.
    files.set(
      to,
      file !== undefined && existsSync(file)
        ? readFileSync(file)
        : Buffer.from(to.endsWith('.js') ? 'export default null;\n' : ''),
    );
  }

  const index = files.get('index.html');
  files.delete('index.html');
  const hash = createHash('sha256');
  for (const [name, body] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) hash.update(name).update(body);
  if (index) hash.update(index);
  const assetBase = `/assets/${hash.digest('hex').slice(0, 12)}`;

  const assets = new Map<string, Asset>();
  for (const [name, body] of files) {
    assets.set(`${assetBase}/${name}`, {
      body,
      type: TYPES[extname(name)] ?? 'application/octet-stream',
      cache: IMMUTABLE,
    });
  }
  const page: Asset = {
    body: index
      ? Buffer.from(index.toString('utf8').replace(ASSETS_PLACEHOLDER, assetBase))
      : Buffer.from(
          '<!doctype html><title>fulcrum</title><p>The dashboard files were not found at ' +
            escapeHtml(staticDir) +
            '. The admin API under /api/v1/ works without them.</p>\n',
        ),
    type: TYPES['.html'] as string,
    cache: 'no-cache',
  };

  return {
    assetBase,
    serve(path, res) {
      const asset = path === '/' || path === '/index.html' ? page : assets.get(path);
      if (asset === undefined) return false;
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.length,
        'cache-control': asset.cache,
        'content-security-policy': DASHBOARD_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      });
      res.end(asset.body);
      return true;
    },
  };
}

/**
 * The directory holding package.json: the same whether this module runs from src/ (tests,
 * `node src/...`) or from dist/ (the published bin), so the static files need no copying.
 */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return dirname(fileURLToPath(import.meta.url));
    dir = up;
  }
}

function resolveUplotDir(): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve('uplot'));
  } catch {
    return undefined;
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
