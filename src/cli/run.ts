// Process entry of the CLI: bin/fulcrum.js imports this file in a checkout (type stripping) and
// its compiled copy in dist/ when installed; tests run it directly.
import { tolerateClosedPipes } from './io.ts';
import { main } from './main.ts';

tolerateClosedPipes();
process.exitCode = await main(process.argv.slice(2));
