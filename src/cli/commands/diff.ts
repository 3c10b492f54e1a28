// `fulcrum diff FILE [--against FILE | --admin URL] [--token T] [--format text|json]`: what
// would change, by path, and the predicted expected share of every backend before → after.
// Exit 0 no change, 2 changes (like `terraform plan -detailed-exitcode`) or an invalid FILE,
// 1 could not run (unreadable file, admin unreachable or refusing, bad flags).
import { resolve } from 'node:path';
import { diffConfigs, type ConfigDiff } from '../../config/diff.ts';
import { renderDiffText } from '../../config/diff/format-text.ts';
import {
  configIssuesError,
  loadConfigFile,
  loadConfigText,
  type ConfigIssue,
  type LoadResult,
} from '../../config/load.ts';
import { redactConfigText } from '../../config/redact.ts';
import type { Config } from '../../config/schema.ts';
import { FulcrumError, isFulcrumError } from '../../core/errors.ts';
import { DEFAULT_ADMIN, adminCall } from '../admin-client.ts';
import { EXIT } from '../io.ts';
import type { CliIo } from '../io.ts';
import { wantsColor } from '../io.ts';
import { formatIssue } from './validate.ts';

export interface DiffCommandOptions {
  against?: string;
  admin?: string;
  token?: string;
  format: 'text' | 'json';
}

const ADMIN_TIMEOUT_MS = 5000;

interface Baseline {
  /** What the file is compared with, for the header: a file name or the admin URL. */
  readonly label: string;
  readonly config: Config | undefined;
  /** Running config version when read from the admin API. */
  readonly version?: number;
  /** The admin sent the text with its secrets redacted (no token presented). */
  readonly redacted?: boolean;
}

function issuesError(what: string, issues: readonly ConfigIssue[]): FulcrumError {
  return configIssuesError(issues, what);
}

async function fetchRunning(admin: string, token: string | undefined, io: CliIo): Promise<Baseline> {
  let running: { version?: unknown; text?: unknown; redacted?: unknown };
  try {
    running = await adminCall<{ version?: unknown; text?: unknown; redacted?: unknown }>(
      { admin, token },
      'api/v1/config',
      {
        timeoutMs: ADMIN_TIMEOUT_MS,
      },
    );
  } catch (e) {
    // A balancer that has no config yet: everything in FILE is an addition.
    if (isFulcrumError(e) && e.code === 'FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND')
      return { label: admin, config: undefined };
    throw e;
  }
  if (typeof running.text !== 'string') {
    throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', `the admin API at ${admin} sent no config text`, {
      admin,
    });
  }
  const version = typeof running.version === 'number' ? { version: running.version } : {};
  const source = `${admin} (running config)`;
  const loaded = loadConfigText(running.text, { source, env: io.env });
  if (!loaded.ok) throw issuesError(source, loaded.issues);
  return { label: admin, config: loaded.value.config, ...version, redacted: running.redacted === true };
}

async function baseline(opts: DiffCommandOptions, io: CliIo): Promise<Baseline> {
  // --against wins over --admin: the CLI fills --admin with its default, so both arrive together.
  if (opts.against !== undefined) {
    const result: LoadResult = await loadConfigFile(resolve(io.cwd, opts.against), { env: io.env });
    if (!result.ok) throw issuesError(opts.against, result.issues);
    return { label: opts.against, config: result.value.config };
  }
  return fetchRunning(opts.admin ?? DEFAULT_ADMIN, opts.token ?? io.env.FULCRUM_ADMIN_TOKEN, io);
}

export async function diffCommand(file: string, opts: DiffCommandOptions, io: CliIo): Promise<number> {
  const fail = (e: FulcrumError): number => {
    if (opts.format === 'json') io.out(JSON.stringify(e.toJSON(), null, 2));
    else io.err(`fulcrum diff: ${e.message} (${e.code})`);
    return EXIT.FAILED;
  };

  const next = await loadConfigFile(resolve(io.cwd, file), { env: io.env });
  if (!next.ok) {
    if (next.issues.some((i) => i.code === 'FULCRUM_ERR_CONFIG_READ'))
      return fail(issuesError(file, next.issues));
    // An invalid FILE is a problem found, as with validate and lint.
    if (opts.format === 'json') io.out(JSON.stringify({ file, valid: false, issues: next.issues }, null, 2));
    else for (const issue of next.issues) io.out(formatIssue(file, issue));
    return EXIT.PROBLEMS;
  }

  let base: Baseline;
  try {
    base = await baseline(opts, io);
  } catch (e) {
    if (isFulcrumError(e)) return fail(e);
    throw e;
  }

  // Against redacted running text, redact FILE alike: secrets are then not compared, rather
  // than every one of them reported as changed.
  const redactedNext = base.redacted
    ? loadConfigText(redactConfigText(next.value.text), { source: file, env: io.env })
    : undefined;
  const nextConfig = redactedNext?.ok ? redactedNext.value.config : next.value.config;
  const diff: ConfigDiff = diffConfigs(base.config, nextConfig);
  if (opts.format === 'json') {
    io.out(
      JSON.stringify(
        {
          file,
          against: base.label,
          ...(base.version === undefined ? {} : { runningVersion: base.version }),
          ...diff,
        },
        null,
        2,
      ),
    );
  } else {
    const version = base.version === undefined ? '' : ` (running version ${base.version})`;
    io.out(`${file} against ${base.label}${version}\n\n${renderDiffText(diff, { color: wantsColor(io) })}`);
    if (base.redacted) io.out('secrets not compared: the admin redacted them (pass --token to compare them)');
  }
  return diff.changed ? EXIT.PROBLEMS : EXIT.OK;
}
