#!/usr/bin/env node
// The package's bin: runs the compiled CLI (built by `npm install` through `prepare`).
import '../dist/cli/run.js';
