// Process entry of the CLI: bin/fulcrum.js runs the compiled copy; tests run this file directly.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2));
