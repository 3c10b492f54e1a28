// The one entry point for turning config text into a validated Config:
// parse (YAML/JSON, positions) → ${env:NAME} → schema → semantic rules.
// Every source (file, admin API, CLI, store) goes through loadConfigText, so
// "validate = apply minus start" holds by construction.
import { open } from 'node:fs/promises';
import { FulcrumError } from '../core/errors.ts';
import type { ErrorCode } from '../core/errors.ts';
import { sortIssues } from './issue.ts';
import type { ConfigIssue } from './issue.ts';
import { lineFinder, parseText } from './parse.ts';
import type { Config } from './schema.ts';
import { semanticIssues } from './semantic.ts';
import { validateSchema } from './validate.ts';

export type { ConfigIssue } from './issue.ts';
export { formatPath } from './issue.ts';

export interface LoadedConfig {
  /** Validated and normalised (durations ms, percentages 0..1, sizes bytes). */
  config: Config;
  /** The parsed document before schema defaults (after env substitution). */
  raw: unknown;
  /** The original text. */
  text: string;
  /** File path or "<api>". */
  source: string;
  /** Directory relative TLS paths resolve against, when it is not the source file's. */
  baseDir?: string;
  /** 1-based line of a YAML/JSON path like ['pools','app','backends',1,'weight'], when known. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

export type LoadResult = { ok: true; value: LoadedConfig } | { ok: false; issues: ConfigIssue[] };

export interface LoadOptions {
  source?: string;
  /** Variables for ${env:NAME}; defaults to process.env. */
  env?: Record<string, string | undefined>;
}

/**
 * The largest config text accepted, checked before parsing: 10,000 one-line backends take
 * about 0.6 MiB, and YAML with positions parses at a few hundred KiB/s on a busy core.
 */
export const MAX_CONFIG_BYTES = 2 * 1024 * 1024;

function tooLarge(source: string, bytes: number | undefined): FulcrumError {
  const size = bytes === undefined ? '' : ` (${bytes} bytes)`;
  return new FulcrumError(
    'FULCRUM_ERR_CONFIG_TOO_LARGE',
    `${source}: config is larger than the limit of ${MAX_CONFIG_BYTES} bytes (${MAX_CONFIG_BYTES / 1024 / 1024} MiB)${size}; it was not parsed`,
    { source, limit: MAX_CONFIG_BYTES, ...(bytes === undefined ? {} : { bytes }) },
  );
}

/**
 * Read a config file, refusing one over MAX_CONFIG_BYTES before reading it whole (its size
 * as stat reports it, then as read, for pipes and files that grow). Throws FULCRUM_ERR_CONFIG_READ
 * or FULCRUM_ERR_CONFIG_TOO_LARGE.
 */
export async function readConfigFile(file: string): Promise<string> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(file, 'r');
    const st = await handle.stat();
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.size > MAX_CONFIG_BYTES) throw tooLarge(file, st.size);
    const buf = Buffer.alloc(MAX_CONFIG_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_CONFIG_BYTES) throw tooLarge(file, undefined);
    }
    return buf.toString('utf8', 0, n);
  } catch (e) {
    if (e instanceof FulcrumError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new FulcrumError('FULCRUM_ERR_CONFIG_READ', `cannot read ${file}: ${why}`);
  } finally {
    await handle?.close();
  }
}

export function loadConfigText(text: string, options: LoadOptions = {}): LoadResult {
  const source = options.source ?? '<api>';
  // Before anything parses: a string's UTF-8 size is at least its length.
  if (text.length > MAX_CONFIG_BYTES || Buffer.byteLength(text) > MAX_CONFIG_BYTES) {
    const e = tooLarge(source, Buffer.byteLength(text));
    return { ok: false, issues: [{ path: '', message: e.message, code: 'FULCRUM_ERR_CONFIG_TOO_LARGE' }] };
  }
  const parsed = parseText(text, options.env ?? process.env);
  if (parsed.issues.some((i) => i.code === 'FULCRUM_ERR_CONFIG_PARSE')) {
    return { ok: false, issues: sortIssues(parsed.issues) };
  }
  if (parsed.raw === null || parsed.raw === undefined) {
    const message = 'the document is empty; a config needs at least version, listeners and pools';
    return {
      ok: false,
      issues: [{ path: '', message, code: 'FULCRUM_ERR_CONFIG_INVALID', line: 1, column: 1 }],
    };
  }

  // Env problems do not stop schema validation (an unresolved reference is still a
  // string), so one run reports everything that is wrong.
  const schema = validateSchema(parsed.raw, parsed.positionOf);
  if (!schema.ok || parsed.issues.length > 0) {
    return { ok: false, issues: sortIssues([...parsed.issues, ...(schema.ok ? [] : schema.issues)]) };
  }

  const semantic = semanticIssues(schema.config, parsed.positionOf, parsed.raw);
  if (semantic.length > 0) return { ok: false, issues: sortIssues(semantic) };

  return {
    ok: true,
    value: {
      config: schema.config,
      raw: parsed.raw,
      text,
      source,
      lineOf: lineFinder(text, parsed.positionOf),
    },
  };
}

/** Reads and loads a file; an unreadable file is one FULCRUM_ERR_CONFIG_READ issue. */
export async function loadConfigFile(
  file: string,
  options: { env?: Record<string, string | undefined> } = {},
): Promise<LoadResult> {
  let text: string;
  try {
    text = await readConfigFile(file);
  } catch (e) {
    const err = e as FulcrumError;
    return { ok: false, issues: [{ path: '', message: err.message, code: err.code }] };
  }
  return loadConfigText(text, { source: file, ...(options.env === undefined ? {} : { env: options.env }) });
}

/**
 * One FulcrumError for a failed load, for the admin API and the runtime: the most basic
 * stage that failed gives the code (read, then parse, then env, else invalid), and
 * `details.issues` carries every issue.
 */
/**
 * True when every issue is an unset variable or sits at the path of one: an unset variable
 * also fails the schema check of the value it left behind, and the variable is the cause.
 */
function onlyEnv(issues: readonly ConfigIssue[]): boolean {
  const envPaths = new Set(issues.filter((i) => i.code === 'FULCRUM_ERR_CONFIG_ENV').map((i) => i.path));
  return envPaths.size > 0 && issues.every((i) => envPaths.has(i.path));
}

export function configIssuesError(issues: readonly ConfigIssue[], source = '<api>'): FulcrumError {
  const has = (code: ErrorCode): boolean => issues.some((i) => i.code === code);
  const code: ErrorCode = has('FULCRUM_ERR_CONFIG_READ')
    ? 'FULCRUM_ERR_CONFIG_READ'
    : has('FULCRUM_ERR_CONFIG_TOO_LARGE')
      ? 'FULCRUM_ERR_CONFIG_TOO_LARGE'
      : has('FULCRUM_ERR_CONFIG_PARSE')
        ? 'FULCRUM_ERR_CONFIG_PARSE'
        : onlyEnv(issues)
          ? 'FULCRUM_ERR_CONFIG_ENV'
          : 'FULCRUM_ERR_CONFIG_INVALID';
  const first = issues[0];
  const where = first === undefined ? '' : `: ${first.path === '' ? '' : `${first.path}: `}${first.message}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new FulcrumError(code, `${source}: invalid config${where}${more}`, { source, issues: [...issues] });
}
