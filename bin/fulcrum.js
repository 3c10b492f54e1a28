#!/usr/bin/env -S node --max-semi-space-size=4
// The package's bin. Plain JavaScript that any Node can parse: it checks the Node version
// before importing anything that needs Node >= 22.13 (node:sqlite, SO_REUSEPORT listeners),
// so an old Node gets a coded message instead of a crash in a module import.
//
// The V8 flag on the first line caps each young-generation semi-space at 4 MiB. In a bench
// A/B (bench/RESULTS.md) it cost no CPU the runs could tell and lowered RSS after load from
// 262 to 190 MB, per idle connection from 9-11 to 3-4 KiB and per extra backend from 39-41
// to 17-18 KB: with V8's default the young generation held 32-43 MB. V8
// reads the flag only at start, so it sits where every launch of the bin passes it (`env -S`:
// GNU coreutils 8.30, BSD); `node bin/fulcrum.js` without it runs with V8's default.
import { existsSync } from 'node:fs';

const MIN = [22, 13];
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < MIN[0] || (major === MIN[0] && minor < MIN[1])) {
  process.stderr.write(
    `FULCRUM_ERR_NODE_VERSION: fulcrum needs Node.js >= ${MIN.join('.')}, but ${process.execPath} is ${process.version}; ` +
      'install a newer Node (https://nodejs.org) or put it first on PATH\n',
  );
  process.exit(1);
}

// A checkout runs its TypeScript sources directly (Node strips the types); an installed
// package has no src/ and runs the dist/ that `npm pack` built (prepack).
const source = new URL('../src/cli/run.ts', import.meta.url);
const runSource = process.features.typescript !== undefined && process.features.typescript !== false;
await import(runSource && existsSync(source) ? source.href : '../dist/cli/run.js');
