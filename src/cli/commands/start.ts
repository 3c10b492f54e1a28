// `fulcrum start -c FILE`: run the balancer until SIGTERM/SIGINT, then drain and exit 0.
import { startBalancer, type Balancer } from '../../main.ts';
import { FulcrumError } from '../../core/errors.ts';
import { parseDuration } from '../../core/units.ts';
import { watchConfigFile } from '../../runtime/file-watcher.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface StartFlags {
  config: string;
  watch?: boolean;
  force?: boolean;
  memoryStore?: boolean;
  grace: string;
  listenAdmin?: string;
  allowOverlap?: boolean;
}

export async function startCommand(flags: StartFlags, io: CliIo): Promise<number> {
  const graceMs = parseDuration(flags.grace);
  if (graceMs === undefined) {
    return reportError(
      new FulcrumError('FULCRUM_ERR_CLI_USAGE', `--grace must be a duration like 10s (got "${flags.grace}")`),
      io,
    );
  }
  let balancer: Balancer;
  try {
    balancer = await startBalancer({
      configFile: flags.config,
      env: io.env,
      ...(flags.memoryStore ? { memoryStore: true } : {}),
      ...(flags.force ? { force: true } : {}),
      ...(flags.listenAdmin === undefined ? {} : { adminAddress: flags.listenAdmin }),
      ...(flags.allowOverlap ? { allowOverlap: true } : {}),
      author: io.env['USER'] ?? 'fulcrum start',
    });
  } catch (err) {
    return reportError(err, io);
  }
  const stopWatch = flags.watch ? watchConfigFile(flags.config, balancer) : () => {};
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      balancer.logger.info({ signal }, 'signal received');
      stopWatch();
      void balancer.close(graceMs).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return EXIT.OK;
}
