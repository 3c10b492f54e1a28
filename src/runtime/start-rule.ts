// What `fulcrum start -c FILE` runs when the store already has a history. The file is the
// config-as-code source of truth, but the store may hold something newer than it (an API
// apply, a rollback, a guard's rollback — often an emergency fix) that a restart after a crash
// must not silently undo. docs/config-management.md, "Restarting: file or history".
import { FulcrumError } from '../core/errors.ts';
import type { ConfigVersion } from '../store/store.ts';

/**
 * - `newer` (default): whichever changed last runs — the file when it was written after the
 *   latest version was committed, else the latest version (and a warning names both).
 * - `file`: the file runs and is committed over the latest version.
 * - `store`: the latest version runs.
 * - `none`: any difference refuses the start (FULCRUM_ERR_START_HISTORY_DIFFERS).
 */
export type StartPreference = 'newer' | 'file' | 'store' | 'none';
export const START_PREFERENCES: readonly StartPreference[] = ['newer', 'file', 'store', 'none'];

export interface StartChoice {
  /** The text to run. */
  text: string;
  /** The stored version that text is (no new version is committed), if any. */
  resume: ConfigVersion | undefined;
  /** Said at start when the file and the history differ (warn), undefined when they agree. */
  warning: string | undefined;
}

export function chooseStartText(o: {
  file: string;
  fileText: string;
  fileMtimeMs: number;
  latest: ConfigVersion | undefined;
  prefer: StartPreference;
}): StartChoice {
  const { latest } = o;
  if (latest === undefined) return { text: o.fileText, resume: undefined, warning: undefined };
  if (latest.text === o.fileText) return { text: latest.text, resume: latest, warning: undefined };
  const stored = `store version ${latest.version} (${latest.source} by ${latest.author} at ${new Date(latest.createdAt).toISOString()})`;
  const written = `${o.file} (written ${new Date(o.fileMtimeMs).toISOString()})`;
  const fileWins = o.prefer === 'file' || (o.prefer === 'newer' && o.fileMtimeMs > latest.createdAt);
  if (o.prefer === 'none') {
    throw new FulcrumError(
      'FULCRUM_ERR_START_HISTORY_DIFFERS',
      `${written} differs from ${stored}; start with --prefer file to run the file (committed as version ${latest.version + 1}) or --prefer store to run version ${latest.version}`,
      { file: o.file, storeVersion: latest.version },
    );
  }
  if (fileWins) {
    return {
      text: o.fileText,
      resume: undefined,
      warning: `${written} differs from ${stored}: running the file (${o.prefer === 'file' ? '--prefer file' : 'written after that version'}), committed as version ${latest.version + 1}`,
    };
  }
  return {
    text: latest.text,
    resume: latest,
    warning: `${written} differs from ${stored}: running version ${latest.version} (${o.prefer === 'store' ? '--prefer store' : 'committed after the file was written'}); the drift audit reports the difference — start with --prefer file, or apply the file, to run it`,
  };
}
