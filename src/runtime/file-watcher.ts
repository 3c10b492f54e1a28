// `fulcrum start --watch`: edits of the config file go through the same apply path as any
// other change. Saves are debounced (editors write in several steps); a bad edit keeps the
// running version and logs the issues and findings.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { isFulcrumError } from '../core/errors.ts';
import type { ConfigController } from './controller.ts';
import type pino from 'pino';

const DEBOUNCE_MS = 300;

export function watchConfigFile(
  file: string,
  deps: { controller: ConfigController; logger: pino.Logger },
): () => void {
  const path = resolve(file);
  let timer: NodeJS.Timeout | undefined;
  let last: string | undefined;
  const applyNow = async (): Promise<void> => {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      deps.logger.warn(
        { file: path, err: (err as Error).message },
        'watched config unreadable; running config kept',
      );
      return;
    }
    if (text === last) return;
    last = text;
    try {
      const r = await deps.controller.apply(text, {
        source: 'watch',
        origin: path,
        author: 'file watch',
        message: `edit of ${basename(path)}`,
      });
      deps.logger.info({ file: path, status: r.status, version: r.version }, 'watched config applied');
    } catch (err) {
      deps.logger.error(
        {
          file: path,
          code: isFulcrumError(err) ? err.code : undefined,
          err: (err as Error).message,
          details: isFulcrumError(err) ? err.details : undefined,
        },
        'watched config refused; running config kept',
      );
    }
  };
  // Watch the directory: editors often replace the file (rename), which ends a file watch.
  const watcher: FSWatcher = watch(dirname(path), (_event, name) => {
    if (name !== null && name !== basename(path)) return;
    clearTimeout(timer);
    timer = setTimeout(() => void applyNow(), DEBOUNCE_MS);
  });
  void readFile(path, 'utf8').then(
    (t) => (last = t),
    () => undefined,
  );
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
