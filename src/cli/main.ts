// `fulcrum <verb>`: parses flags with commander and hands each verb to its module under
// commands/, loaded only when its verb runs (a running balancer need not hold the drill, the
// demo or the audit report code). Exit codes (DESIGN.md): 0 clean, 1 could not run, 2 ran
// and found problems.
import { Command, CommanderError, Option } from 'commander';
import { DEFAULT_ADMIN } from './admin-client.ts';
import { EXIT, processIo, type CliIo } from './io.ts';
import { reportError } from './report-error.ts';

export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  let code: number = EXIT.OK;
  const set = (p: Promise<number>) => p.then((c) => void (code = c));
  const program = new Command('fulcrum')
    .description('An HTTP load balancer that cannot play favourites without saying so.')
    .version('0.1.0')
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Usage errors are printed once, with their code, by the catch below.
      outputError: () => {},
    })
    .exitOverride();

  const format = (choices: string[]) =>
    new Option('--format <format>', 'output format').choices(choices).default(choices[0]);
  const adminOpts = (cmd: Command) =>
    cmd
      .option('--admin <url>', 'admin API of the running balancer', DEFAULT_ADMIN)
      .option('--token <token>', 'admin token (default: $FULCRUM_ADMIN_TOKEN)');
  const target = (o: { admin: string; token?: string }) => ({
    admin: o.admin,
    token: o.token ?? io.env['FULCRUM_ADMIN_TOKEN'],
  });

  program
    .command('start')
    .description('run the balancer: data plane, admin API, health checks, monitor, audits')
    .requiredOption('-c, --config <file>', 'config file (YAML or JSON)')
    .option('--watch', 'apply edits of the config file as they are saved (bad edits are refused and logged)')
    .option('--force', 'start even if the config has lint errors')
    .option('--memory-store', 'keep config history in memory instead of store.sqlite')
    .option(
      '--share-address',
      'listen even where another process already listens (SO_REUSEPORT overlap on purpose)',
    )
    .addOption(
      new Option(
        '--prefer <which>',
        "when the store's latest version differs from the file: run the one changed last, the file, the store's, or refuse",
      )
        .choices(['newer', 'file', 'store', 'none'])
        .default('newer'),
    )
    .option('--grace <duration>', 'how long in-flight requests may finish on SIGTERM/SIGINT', '10s')
    .option('--listen-admin <address>', "this instance's admin address (overrides admin.address)")
    .action((o) => set(import('./commands/start.ts').then((m) => m.startCommand(o, io))));

  program
    .command('demo')
    .description('start three demo backends and a balancer over them, and print what to try')
    .option('--port <port>', 'balancer listener port', '8080')
    .option('--admin-port <port>', 'admin API port', '9901')
    .action((o) => set(import('./commands/demo.ts').then((m) => m.demoCommand(o, io))));

  program
    .command('store')
    .description('offline care of a SQLite store file')
    .command('check')
    .description('run the store integrity check and name the newest version that reads back intact')
    .argument('<file>', 'the SQLite store file (store.sqlite of the config)')
    .option(
      '--export <file>',
      "write that version's config text to this file (to start again on a new store)",
    )
    .action((file: string, o) =>
      set(import('./commands/store.ts').then((m) => m.storeCheckCommand(file, o, io))),
    );

  program
    .command('validate')
    .description('check a config file against the schema and semantic rules')
    .argument('<file>', 'config file')
    .addOption(format(['text', 'json']))
    .action((file: string, o) =>
      set(import('./commands/validate.ts').then((m) => m.validateCommand(file, o, io))),
    );

  const collect = (v: string, prev: string[]) => [...prev, ...v.split(',').filter(Boolean)];
  program
    .command('lint')
    .description('run the lint rule catalog over a config (the misconfigurations that validate cannot see)')
    .argument('<file>', 'config file')
    .option('--strict', 'fail on warnings too')
    .option('--rule <id>', 'only these rules (repeat or comma-separate)', collect, [])
    .option('--skip <id>', 'skip these rules (repeat or comma-separate)', collect, [])
    .addOption(format(['text', 'json', 'sarif']))
    .action((file: string, o) =>
      set(
        import('./commands/lint.ts').then((m) =>
          m.lintCommand(file, { ...o, strict: o.strict === true, rules: o.rule, skip: o.skip }, io),
        ),
      ),
    );

  adminOpts(
    program
      .command('diff')
      .description(
        'what would change against another file or the running balancer, with predicted shares (exit 2 = changes)',
      )
      .argument('<file>', 'config file')
      .option('--against <file>', 'compare with this file instead of the running balancer'),
  )
    .addOption(format(['text', 'json']))
    .action((file: string, o) =>
      set(import('./commands/diff.ts').then((m) => m.diffCommand(file, { ...o, ...target(o) }, io))),
    );

  program
    .command('alerts')
    .description('alerting rules')
    .command('rules')
    .description('print the built-in alerts as a Prometheus rule file (recording + alerting rules)')
    .addOption(format(['prometheus', 'json']))
    .action((o) => set(import('./commands/alerts.ts').then((m) => m.alertsRulesCommand(o, io))));

  adminOpts(
    program
      .command('audit')
      .description('run an audit now: against the running balancer, or offline against a file (lint, drift)'),
  )
    .option('-c, --config <file>', 'audit this file offline instead (checks: lint, drift)')
    .option('--against <file>', 'offline drift: the desired config to compare with')
    .option('--checks <names>', 'comma-separated checks (lint,drift,health,distribution)')
    .addOption(format(['text', 'json', 'markdown', 'html']))
    .option('-o, --output <file>', 'write the report to a file')
    .action((o) =>
      set(import('./commands/audit.ts').then((m) => m.auditCommand({ ...o, ...target(o) }, io))),
    );

  program
    .command('drill')
    .description('replay an incident on local processes; measure detection, recovery and failed requests')
    .argument(
      '[scenario]',
      'weight-skew | hash-hotspot | bad-health-check | backend-slowdown | backend-crash (default: all)',
    )
    .option('--short', 'the reduced run of the test suite')
    .addOption(format(['text', 'json']))
    .action((scenario: string | undefined, o) =>
      set(import('./commands/drill.ts').then((m) => m.drillCommand(scenario, o, io))),
    );

  adminOpts(
    program
      .command('apply')
      .description('validate, lint and push a config to the running balancer')
      .argument('<file>', 'config file')
      .option('-m, --message <text>', 'why this change (kept in history)')
      .option('--author <name>', 'who applies it (default: $USER)')
      .option('--force', 'apply despite lint errors')
      .option('--dry-run', 'show the diff and findings, change nothing')
      .option(
        '--guard <duration>',
        'watch errors, latency and shares for this long; roll back by itself on regression',
      )
      .option(
        '--canary <share>',
        'run it on this share of new requests first (like 10%, between 0% and 100%) beside the running config; the guard (--guard, default 60s) compares both over the same seconds, then promotes or rolls back',
      )
      .option(
        '--canary-instances <n>',
        'fleet: run it on n instances first (this one included); the guard compares them with the rest',
      )
      .addOption(format(['text', 'json'])),
  ).action((file: string, o) =>
    set(import('./commands/apply.ts').then((m) => m.applyCommand(file, { ...o, ...target(o) }, io))),
  );

  adminOpts(
    program
      .command('history')
      .description('list applied config versions')
      .option('--limit <n>', 'how many', '20')
      .addOption(format(['text', 'json'])),
  ).action((o) =>
    set(import('./commands/apply.ts').then((m) => m.historyCommand({ ...o, ...target(o) }, io))),
  );

  adminOpts(
    program
      .command('rollback')
      .description('apply an earlier config version (default: the one before the running one)')
      .argument('[version]', 'version number')
      .option('-m, --message <text>', 'why')
      .option('--author <name>', 'who rolls back (default: $USER)')
      .addOption(format(['text', 'json'])),
  ).action((version: string | undefined, o) =>
    set(import('./commands/apply.ts').then((m) => m.rollbackCommand(version, { ...o, ...target(o) }, io))),
  );

  adminOpts(
    program
      .command('status')
      .description(
        'pools, backends, health, share ratios and firing alerts (exit 2 while a critical alert fires)',
      )
      .option('--pool <name>', 'only this pool')
      .option('--fleet', 'the fleet view: instances, versions, fleet-wide shares, skewed instances')
      .addOption(format(['text', 'json'])),
  ).action((o) =>
    set(import('./commands/status.ts').then((m) => m.statusCommand({ ...o, ...target(o) }, io))),
  );

  adminOpts(
    program
      .command('drain')
      .description('take a backend out of rotation at runtime (recorded; survives reloads that keep it)')
      .argument('<pool>', 'pool name')
      .argument('<backend>', 'backend name')
      .option('--for <duration>', 'undrain by itself after this long (e.g. 30m); default: until undrained')
      .option('--reason <text>', 'why (kept in the event log, shown by status)')
      .addOption(format(['text', 'json'])),
  ).action((pool: string, backend: string, o) =>
    set(import('./commands/drain.ts').then((m) => m.drainCommand(pool, backend, { ...o, ...target(o) }, io))),
  );

  adminOpts(
    program
      .command('undrain')
      .description('put a backend drained at runtime back into rotation')
      .argument('<pool>', 'pool name')
      .argument('<backend>', 'backend name')
      .addOption(format(['text', 'json'])),
  ).action((pool: string, backend: string, o) =>
    set(
      import('./commands/drain.ts').then((m) => m.undrainCommand(pool, backend, { ...o, ...target(o) }, io)),
    ),
  );

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === 'commander.helpDisplayed' ||
        err.code === 'commander.version' ||
        err.code === 'commander.help'
      ) {
        return EXIT.OK;
      }
      io.err(`FULCRUM_ERR_CLI_USAGE: ${err.message.replace(/^error: /, '')} (see fulcrum --help)`);
      return EXIT.FAILED;
    }
    return reportError(err, io);
  }
}
