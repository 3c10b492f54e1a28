// The runner: picks the rules, merges parameters, runs every check and turns hits into
// findings that name the file, the YAML path and the line.
import { FulcrumError } from '../../core/errors.ts';
import { RULES, findRule } from './catalog.ts';
import { formatPath } from '../issue.ts';
import { configBaseDir } from '../tls-files.ts';
import { hasRawPath } from './raw-path.ts';
import { SEVERITY_ORDER, type Finding, type LintRule, type LintSource, type RuleParams } from './types.ts';

export interface LintOptions {
  /** Run only these rule ids (default: all). */
  rules?: readonly string[];
  /** Skip these rule ids. */
  skip?: readonly string[];
  /** Per-rule parameter overrides: `{ 'weight-skew': { maxRatio: 5 } }`. */
  params?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

/** Throws FULCRUM_ERR_CLI_USAGE for an id that is not in the catalog, so a typo never silently disables a rule. */
export function assertKnownRules(ids: readonly string[]): void {
  const unknown = ids.filter((id) => findRule(id) === undefined);
  if (unknown.length > 0) {
    throw new FulcrumError(
      'FULCRUM_ERR_CLI_USAGE',
      `unknown lint rule ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${RULES.map((r) => r.id).join(', ')}`,
      { unknown },
    );
  }
}

export function selectRules(options: LintOptions = {}): LintRule<RuleParams>[] {
  assertKnownRules([...(options.rules ?? []), ...(options.skip ?? []), ...Object.keys(options.params ?? {})]);
  const only = options.rules !== undefined && options.rules.length > 0 ? new Set(options.rules) : undefined;
  const skip = new Set(options.skip ?? []);
  return RULES.filter((r) => (only === undefined || only.has(r.id)) && !skip.has(r.id));
}

function mergeParams(
  rule: LintRule<RuleParams>,
  overrides: Readonly<Record<string, unknown>> | undefined,
): RuleParams {
  if (overrides === undefined) return rule.parameters;
  const merged: Record<string, RuleParams[string]> = { ...rule.parameters };
  for (const [key, value] of Object.entries(overrides)) {
    const def = rule.parameters[key];
    if (def === undefined) {
      throw new FulcrumError('FULCRUM_ERR_CLI_USAGE', `lint rule ${rule.id} has no parameter "${key}"`);
    }
    const ok = Array.isArray(def)
      ? Array.isArray(value) && value.every((v) => typeof v === 'string')
      : typeof value === typeof def;
    if (!ok) {
      throw new FulcrumError(
        'FULCRUM_ERR_CLI_USAGE',
        `lint rule ${rule.id} parameter "${key}" must be like ${JSON.stringify(def)}`,
      );
    }
    merged[key] = value as RuleParams[string];
  }
  return merged;
}

export function compareFindings(a: Finding, b: Finding): number {
  return (
    SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
    (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) ||
    a.path.localeCompare(b.path) ||
    a.ruleId.localeCompare(b.ruleId)
  );
}

export function lintConfig(loaded: LintSource, options: LintOptions = {}): Finding[] {
  const findings: Finding[] = [];
  const isExplicit = (path: readonly (string | number)[]): boolean => hasRawPath(loaded.raw, path);
  const baseDir = loaded.baseDir ?? configBaseDir(loaded.source);
  for (const rule of selectRules(options)) {
    const params = mergeParams(rule, options.params?.[rule.id]);
    for (const hit of rule.check({ config: loaded.config, isExplicit, params, baseDir })) {
      const line = loaded.lineOf(hit.path) ?? nearestLine(loaded, hit.path);
      const path = formatPath(hit.path);
      const suppression = loaded.config.lint?.suppress.find(
        (s) => s.rule === rule.id && covers(s.path, path),
      );
      findings.push({
        ruleId: rule.id,
        severity: suppression === undefined ? rule.severity : 'info',
        path,
        message: hit.message,
        remediation: rule.remediation,
        file: loaded.source,
        ...(line === undefined ? {} : { line }),
        ...(suppression === undefined
          ? {}
          : { suppressed: { reason: suppression.reason, severity: rule.severity } }),
      });
    }
  }
  return findings.sort(compareFindings);
}

/** A suppression path covers itself and everything below it; no path covers every finding. */
function covers(suppressed: string | undefined, path: string): boolean {
  if (suppressed === undefined) return true;
  return path === suppressed || path.startsWith(`${suppressed}.`) || path.startsWith(`${suppressed}[`);
}

/** A finding about a defaulted key points at the closest ancestor that is written in the file. */
function nearestLine(loaded: LintSource, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length - 1; n > 0; n--) {
    const line = loaded.lineOf(path.slice(0, n));
    if (line !== undefined) return line;
  }
  return undefined;
}
