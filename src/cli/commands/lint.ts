// `fulcrum lint FILE [--strict] [--rule ID ...] [--skip ID ...] [--format text|json|sarif]`.
// Exit 0 clean (warnings and info pass unless --strict), 2 errors (or warnings with
// --strict) or an invalid config, 1 could not run (unreadable file, unknown rule id).
import { dirname, relative, resolve, sep } from 'node:path';
import { loadConfigFile } from '../../config/load.ts';
import { RULES } from '../../config/lint/catalog.ts';
import { countBySeverity, renderFindingsText } from '../../config/lint/format-text.ts';
import { assertKnownRules, lintConfig, selectRules } from '../../config/lint/lint-config.ts';
import { toSarif } from '../../config/lint/sarif.ts';
import { FulcrumError, isFulcrumError } from '../../core/errors.ts';
import { EXIT, wantsColor } from '../io.ts';
import type { CliIo } from '../io.ts';
import { formatIssue } from './validate.ts';

export interface LintCommandOptions {
  strict: boolean;
  rules: string[];
  skip: string[];
  format: 'text' | 'json' | 'sarif';
}

function reportFailure(e: FulcrumError, format: LintCommandOptions['format'], io: CliIo): number {
  if (format === 'text') io.err(`fulcrum lint: ${e.message} (${e.code})`);
  else io.out(JSON.stringify(e.toJSON(), null, 2));
  return EXIT.FAILED;
}

export async function lintCommand(file: string, opts: LintCommandOptions, io: CliIo): Promise<number> {
  try {
    assertKnownRules([...opts.rules, ...opts.skip]);
  } catch (e) {
    if (isFulcrumError(e)) return reportFailure(e, opts.format, io);
    throw e;
  }
  const absolute = resolve(io.cwd, file);
  // SARIF wants a repository-relative URI with forward slashes.
  const uri = relative(io.cwd, absolute).split(sep).join('/');
  const result = await loadConfigFile(absolute, { env: io.env });

  if (!result.ok) {
    const unreadable = result.issues.find((i) => i.code === 'FULCRUM_ERR_CONFIG_READ');
    if (unreadable !== undefined) {
      return reportFailure(
        new FulcrumError('FULCRUM_ERR_CONFIG_READ', unreadable.message, { file }),
        opts.format,
        io,
      );
    }
    if (opts.format === 'sarif') {
      io.out(JSON.stringify(toSarif({ uri, rules: RULES, findings: [], issues: result.issues }), null, 2));
    } else if (opts.format === 'json') {
      io.out(JSON.stringify({ file, valid: false, issues: result.issues, findings: [] }, null, 2));
    } else {
      for (const issue of result.issues) io.out(formatIssue(file, issue));
      io.out(
        `${file}: invalid config, not linted (${result.issues.length} problem${result.issues.length === 1 ? '' : 's'})`,
      );
    }
    return EXIT.PROBLEMS;
  }

  const options = { rules: opts.rules, skip: opts.skip };
  const findings = lintConfig({ ...result.value, source: file, baseDir: dirname(absolute) }, options);
  const counts = countBySeverity(findings);
  const failed = counts.error > 0 || (opts.strict && counts.warning > 0);
  const exit = failed ? EXIT.PROBLEMS : EXIT.OK;

  if (opts.format === 'sarif') {
    io.out(JSON.stringify(toSarif({ uri, rules: selectRules(options), findings }), null, 2));
  } else if (opts.format === 'json') {
    io.out(
      JSON.stringify(
        { file, valid: true, strict: opts.strict, passed: !failed, summary: counts, findings },
        null,
        2,
      ),
    );
  } else {
    io.out(renderFindingsText(file, findings, wantsColor(io)));
    if (!failed && counts.warning > 0 && !opts.strict) io.out('(warnings do not fail without --strict)');
  }
  return exit;
}
