// The lint vocabulary: a rule is data (id, severity, prose, parameters) plus a pure check
// over a parsed config; a finding is one result of a check (see the glossary).
import type { Config } from '../schema.ts';

export type Severity = 'error' | 'warning' | 'info';

/** Most severe first; the runner sorts findings by this order, then by line. */
export const SEVERITY_ORDER: readonly Severity[] = ['error', 'warning', 'info'];

export type ConfigPath = readonly (string | number)[];

/**
 * What the linter reads of a loaded config. `LoadedConfig` from ../load.ts satisfies it; the
 * linter only needs this much, so tests and the audit can hand it any parsed config.
 */
export interface LintSource {
  /** `lint.suppress` is read from it; a config without a `lint` section suppresses nothing. */
  readonly config: Config;
  /** The document as written (before defaults), to tell an explicit key from a default. */
  readonly raw: unknown;
  /** File name (or "<stdin>", "api") that findings name. */
  readonly source: string;
  /** Directory relative TLS paths resolve against (default: the source file's). */
  readonly baseDir?: string | undefined;
  lineOf(path: ConfigPath): number | undefined;
}

export interface Finding {
  readonly ruleId: string;
  readonly severity: Severity;
  /** YAML path in the dotted form of formatPath: `pools.app.backends[1].weight`. */
  readonly path: string;
  readonly message: string;
  readonly remediation: string;
  readonly file: string;
  readonly line?: number;
  /**
   * Set when a `lint.suppress` entry of the config covers the finding: it is then reported with
   * severity info (so it fails nothing) and keeps the rule's severity and the reason here.
   */
  readonly suppressed?: { readonly reason: string; readonly severity: Severity };
}

/** What a check reports; the runner adds rule id, severity, remediation, file and line. */
export interface RuleHit {
  readonly path: ConfigPath;
  readonly message: string;
}

export type ParamValue = number | string | boolean | readonly string[];
export type RuleParams = Readonly<Record<string, ParamValue>>;

export interface RuleContext<P extends RuleParams = RuleParams> {
  readonly config: Config;
  /** True when the key at `path` was written in the file (not filled in by a default). */
  isExplicit(path: ConfigPath): boolean;
  /** The rule's parameters: catalog defaults overridden by the caller's. */
  readonly params: P;
  /** Directory relative file paths (TLS) resolve against. */
  readonly baseDir: string;
}

export interface LintRule<P extends RuleParams = RuleParams> {
  readonly id: string;
  readonly severity: Severity;
  readonly title: string;
  /** Why it matters, in one or two sentences an SRE would nod at. */
  readonly rationale: string;
  readonly remediation: string;
  readonly parameters: P;
  /** Descriptions of the parameters, for docs/lint-rules.md and `--help`. */
  readonly parameterDocs: { readonly [K in keyof P]: string };
  check(ctx: RuleContext<P>): RuleHit[];
}

/** Helper so each rule file keeps its parameter type while the catalog holds them all. */
export function defineRule<P extends RuleParams>(rule: LintRule<P>): LintRule<P> {
  return rule;
}
