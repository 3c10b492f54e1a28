// `fulcrum drill [SCENARIO] [--format text|json] [--short]`: replays an incident on local
// processes (backends, balancer, load) and measures detection and recovery. Without a
// scenario every scenario runs, and a last line names the scenarios that missed. Exit 0 all
// budgets met, 2 a scenario missed one, 1 could not run.
import { drillSummaryLine, renderDrillText, progressLine } from '../../drill/drill-report.ts';
import {
  runDrills,
  unknownScenario,
  type DrillOptions as DrillRunOptions,
  type DrillResult,
} from '../../drill/drill-runner.ts';
import { SCENARIOS, findScenario } from '../../drill/scenarios/index.ts';
import { FLEET_SCENARIO, runFleetDrill } from '../../drill/scenarios/fleet-diverging-view.ts';
import { FulcrumError, errorMessage, isFulcrumError } from '../../core/errors.ts';
import { EXIT, type CliIo } from '../io.ts';

export interface DrillOptions {
  format?: string;
  short?: boolean;
  /** Where the live progress line goes; default: stderr when it is a terminal and the format is text. */
  progress?: ((line: string) => void) | false;
}

function ttyProgress(): ((line: string) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (line) => void process.stderr.write(`\r\x1b[2K${line}`);
}

export async function drillCommand(
  scenario: string | undefined,
  opts: DrillOptions,
  io: CliIo,
): Promise<number> {
  try {
    const format = opts.format ?? 'text';
    if (format !== 'text' && format !== 'json') {
      throw new FulcrumError('FULCRUM_ERR_CLI_USAGE', `--format must be text or json (got "${format}")`);
    }
    // The fleet drill runs its own etcd and three instances: only when named.
    const fleet = scenario === FLEET_SCENARIO;
    const chosen = fleet
      ? []
      : scenario === undefined
        ? SCENARIOS
        : [
            findScenario(scenario) ??
              (() => {
                throw unknownScenario(scenario, [...SCENARIOS.map((s) => s.name), FLEET_SCENARIO]);
              })(),
          ];
    const write =
      opts.progress === false
        ? undefined
        : (opts.progress ?? (format === 'text' ? ttyProgress() : undefined));
    let last = 0;
    const drillOptions: DrillRunOptions = {
      short: opts.short === true,
      ...(write
        ? {
            onProgress: (p) => {
              const now = performance.now();
              if (now - last < 200 && p.phase === 'incident') return;
              last = now;
              write(progressLine(p));
            },
          }
        : {}),
    };
    const results: DrillResult[] = fleet
      ? [await runFleetDrill(drillOptions)]
      : await runDrills(chosen, drillOptions);
    if (write) write('');
    if (format === 'json') io.out(JSON.stringify(results.length === 1 ? results[0] : results, null, 2));
    else {
      io.out(results.map(renderDrillText).join('\n'));
      // Several scenarios: the last line says which missed (each report ends with its own verdict).
      if (results.length > 1) io.out(`\n${drillSummaryLine(results)}\n`);
    }
    return results.every((r) => r.verdict.passed) ? EXIT.OK : EXIT.PROBLEMS;
  } catch (err) {
    if (isFulcrumError(err)) {
      io.err(`fulcrum drill: ${err.message} (${err.code})`);
      return EXIT.FAILED;
    }
    io.err(`fulcrum drill: could not run: ${errorMessage(err)}`);
    return EXIT.FAILED;
  }
}
