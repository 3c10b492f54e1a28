// Process entry of the CLI: bin/fulcrum.js runs the compiled copy; tests run this file directly.
import { tolerateClosedPipes } from './io.ts';
import { main } from './main.ts';

tolerateClosedPipes();
process.exitCode = await main(process.argv.slice(2));
