// `fulcrum start -c FILE`: run the balancer until SIGTERM/SIGINT, then drain and exit 0.
// SIGHUP reloads the config file, SIGUSR1 reopens log files (docs/operations.md).
import { startBalancer, type Balancer } from '../../main.ts';
import { FulcrumError, errorMessage, isFulcrumError } from '../../core/errors.ts';
import { parseDuration } from '../../core/units.ts';
import { watchConfigFile } from '../../runtime/file-watcher.ts';
import type { StartPreference } from '../../runtime/start-rule.ts';
import {
  handOver,
  receiveHandover,
  reportReady,
  startedByHandover,
  type HandoverReceiver,
} from '../../runtime/handover.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface StartFlags {
  config: string;
  watch?: boolean;
  force?: boolean;
  memoryStore?: boolean;
  prefer?: StartPreference;
  shareAddress?: boolean;
  grace: string;
  listenAdmin?: string;
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
  let inherited: HandoverReceiver | undefined;
  try {
    if (startedByHandover()) inherited = await receiveHandover();
    balancer = await startBalancer({
      ...(inherited === undefined ? {} : { inherited }),
      ...(flags.shareAddress ? { shareAddresses: true } : {}),
      configFile: flags.config,
      env: io.env,
      ...(flags.memoryStore ? { memoryStore: true } : {}),
      ...(flags.force ? { force: true } : {}),
      ...(flags.prefer === undefined ? {} : { prefer: flags.prefer }),
      ...(flags.listenAdmin === undefined ? {} : { adminAddress: flags.listenAdmin }),
      author: io.env['USER'] ?? 'fulcrum start',
    });
  } catch (err) {
    return reportError(err, io);
  }
  if (inherited !== undefined) {
    balancer.logger.info({ pid: process.pid }, 'handover: serving on the inherited sockets');
    reportReady();
  }
  const stopWatch = flags.watch ? watchConfigFile(flags.config, balancer) : () => {};
  const { logger } = balancer;
  // SIGHUP (systemctl reload, certbot hooks): re-read the file and apply it; never exit.
  const reload = (): void => {
    logger.info({ signal: 'SIGHUP', file: flags.config }, 'reload requested');
    balancer.reload().then(
      (r) => logger.info({ status: r.status, version: r.version }, 'reload done'),
      (err: unknown) =>
        logger.error(
          {
            code: isFulcrumError(err) ? err.code : undefined,
            err: errorMessage(err),
            details: isFulcrumError(err) ? err.details : undefined,
          },
          'reload refused; running config kept',
        ),
    );
  };
  // SIGUSR1 (logrotate's postrotate): log files are opened again by path.
  const reopen = (): void => {
    try {
      balancer.reopenLog();
      logger.info({ signal: 'SIGUSR1' }, 'log files reopened');
    } catch (err) {
      logger.error({ signal: 'SIGUSR1', err: errorMessage(err) }, 'log files could not be reopened');
    }
  };
  process.on('SIGHUP', reload);
  process.on('SIGUSR1', reopen);
  await new Promise<void>((resolve) => {
    let stopping = false;
    let handing = false;
    const stop = (signal: string, handover = false): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'signal received');
      stopWatch();
      void balancer.close(graceMs, { handover }).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Replace this process (docs/operations.md): the new one takes the sockets, this one drains.
    process.on('SIGUSR2', () => {
      if (handing || stopping) return;
      if (balancer.workers > 1) {
        // The listening sockets live in the worker threads and cannot be passed on.
        balancer.logger.error(
          { code: 'FULCRUM_ERR_WORKERS_UNSUPPORTED', workers: balancer.workers },
          'handover refused: with workers > 1 start the new process beside this one with --share-address, then stop this one (SIGTERM drains it); still serving',
        );
        return;
      }
      handing = true;
      const { logger, proxy, adminServer } = balancer;
      handOver({ listeners: proxy.handoverListeners(), admin: adminServer, logger }).then(
        (newPid) => {
          logger.info({ pid: process.pid, newPid }, 'handover: replacement serving; draining this process');
          stop('SIGUSR2', true);
        },
        (err: unknown) => {
          handing = false;
          logger.error(
            { err: errorMessage(err), code: 'FULCRUM_ERR_HANDOVER' },
            'handover failed; still serving',
          );
        },
      );
    });
  });
  process.off('SIGHUP', reload);
  process.off('SIGUSR1', reopen);
  return EXIT.OK;
}
