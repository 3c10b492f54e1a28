// `fulcrum drain POOL BACKEND [--for D] [--reason TEXT]` and `fulcrum undrain POOL BACKEND`:
// take a backend out of rotation at runtime and back, through the admin API. The balancer
// records who, when and why; `fulcrum status` shows the drain while it holds.
import { FulcrumError } from '../../core/errors.ts';
import { parseDuration } from '../../core/units.ts';
import { adminCall, type AdminTarget } from '../admin-client.ts';
import { EXIT, type CliIo } from '../io.ts';
import { reportError } from '../report-error.ts';

export interface DrainFlags extends AdminTarget {
  for?: string;
  reason?: string;
  format: 'text' | 'json';
}

interface DrainState {
  by: string;
  reason: string;
  at: number;
  until?: number;
}

interface DrainAnswer {
  pool: string;
  backend: string;
  address: string;
  drain: DrainState | null;
  previous: DrainState | null;
  recorded: boolean;
}

function path(pool: string, backend: string): string {
  return `api/v1/pools/${encodeURIComponent(pool)}/backends/${encodeURIComponent(backend)}/drain`;
}

function authorHeader(io: CliIo): Record<string, string> {
  return { 'x-fulcrum-author': encodeURIComponent(io.env['USER'] ?? 'cli') };
}

/** `2026-12-01 23:10:00Z` */
export function when(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** One line describing a drain in force (status and drain print the same words). */
export function describeDrain(d: DrainState): string {
  const until = d.until === undefined ? 'until undrained' : `until ${when(d.until)}`;
  return `drained by ${d.by} at ${when(d.at)}, ${until}${d.reason === '' ? '' : `: ${d.reason}`}`;
}

export async function drainCommand(
  pool: string,
  backend: string,
  flags: DrainFlags,
  io: CliIo,
): Promise<number> {
  try {
    if (flags.for !== undefined) {
      const ms = parseDuration(flags.for);
      if (ms === undefined || ms <= 0)
        throw new FulcrumError(
          'FULCRUM_ERR_CLI_USAGE',
          `--for must be a duration like 10m (got "${flags.for}")`,
        );
    }
    const answer = await adminCall<DrainAnswer>(flags, path(pool, backend), {
      method: 'POST',
      body: JSON.stringify({
        ...(flags.for === undefined ? {} : { for: flags.for }),
        ...(flags.reason === undefined ? {} : { reason: flags.reason }),
      }),
      headers: { 'content-type': 'application/json', ...authorHeader(io) },
    });
    if (flags.format === 'json') io.out(JSON.stringify(answer, null, 2));
    else {
      io.out(
        `${answer.pool}/${answer.backend} (${answer.address}) ${describeDrain(answer.drain as DrainState)}`,
      );
      if (!answer.recorded)
        io.err('warning: the drain holds, but its event could not be written to the store');
    }
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}

export async function undrainCommand(
  pool: string,
  backend: string,
  flags: Omit<DrainFlags, 'for' | 'reason'>,
  io: CliIo,
): Promise<number> {
  try {
    const answer = await adminCall<DrainAnswer>(flags, path(pool, backend), {
      method: 'DELETE',
      headers: authorHeader(io),
    });
    if (flags.format === 'json') io.out(JSON.stringify(answer, null, 2));
    else if (answer.previous === null)
      io.out(
        `${answer.pool}/${answer.backend} (${answer.address}) was not drained at runtime: nothing changed`,
      );
    else io.out(`${answer.pool}/${answer.backend} (${answer.address}) undrained: back in rotation`);
    return EXIT.OK;
  } catch (err) {
    return reportError(err, io);
  }
}
