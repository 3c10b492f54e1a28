// SARIF 2.1.0 for GitHub code scanning (upload-sarif): the catalog becomes tool.driver.rules
// and each finding a result located at file + startLine, with the YAML path as a logical
// location. Config issues that stop linting (invalid config) use the pseudo-rule
// `config-invalid` so CI still shows where the file is broken.
import type { ConfigIssue } from '../issue.ts';
import type { Finding, LintRule, RuleParams, Severity } from './types.ts';

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = {
  error: 'error',
  warning: 'warning',
  info: 'note',
};
const INFO_URI = 'https://github.com/fulcrum-lb/fulcrum/blob/main/docs/lint-rules.md';

export const CONFIG_INVALID_RULE_ID = 'config-invalid';

export interface SarifInput {
  /** The file as the CI checkout names it, relative to the repository root where possible. */
  readonly uri: string;
  readonly rules: readonly LintRule<RuleParams>[];
  readonly findings: readonly Finding[];
  readonly issues?: readonly ConfigIssue[];
}

function anchor(id: string): string {
  return `${INFO_URI}#${id}`;
}

export function toSarif(input: SarifInput): Record<string, unknown> {
  const rules: Record<string, unknown>[] = input.rules.map((r) => ({
    id: r.id,
    name: r.id
      .split('-')
      .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
      .join(''),
    shortDescription: { text: r.title },
    fullDescription: { text: r.rationale },
    help: { text: r.remediation, markdown: `${r.rationale}\n\n**Fix:** ${r.remediation}` },
    helpUri: anchor(r.id),
    defaultConfiguration: { level: LEVEL[r.severity] },
    properties: { tags: ['fulcrum', 'configuration'], parameters: r.parameters },
  }));
  const issues = input.issues ?? [];
  if (issues.length > 0) {
    rules.push({
      id: CONFIG_INVALID_RULE_ID,
      name: 'ConfigInvalid',
      shortDescription: { text: 'The config does not parse or breaks the schema' },
      fullDescription: { text: 'fulcrum refuses an invalid config; no lint rule ran.' },
      help: { text: 'Fix the reported path; `fulcrum validate FILE` lists every problem.' },
      defaultConfiguration: { level: 'error' },
    });
  }
  const indexOf = new Map(rules.map((r, i) => [r.id as string, i]));
  const location = (path: string, line: number | undefined) => ({
    physicalLocation: {
      artifactLocation: { uri: input.uri },
      // SARIF lines are 1-based; a finding without a line points at the top of the file.
      region: { startLine: line ?? 1 },
    },
    ...(path === '' ? {} : { logicalLocations: [{ fullyQualifiedName: path, kind: 'member' }] }),
  });
  const results = [
    ...issues.map((i) => ({
      ruleId: CONFIG_INVALID_RULE_ID,
      ruleIndex: indexOf.get(CONFIG_INVALID_RULE_ID),
      level: 'error',
      message: { text: `${i.path === '' ? '' : `${i.path}: `}${i.message} (${i.code})` },
      locations: [location(i.path, i.line)],
    })),
    ...input.findings.map((f) => ({
      ruleId: f.ruleId,
      ruleIndex: indexOf.get(f.ruleId),
      level: LEVEL[f.severity],
      message: { text: `${f.message}. Fix: ${f.remediation}` },
      locations: [location(f.path, f.line)],
      // Stable across unrelated edits that shift lines, so code scanning tracks one alert.
      partialFingerprints: { 'fulcrumFinding/v1': `${f.ruleId}:${f.path}` },
      ...(f.suppressed === undefined
        ? {}
        : { suppressions: [{ kind: 'inSource', justification: f.suppressed.reason }] }),
    })),
  ];
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'fulcrum', informationUri: INFO_URI, rules } },
        results,
        columnKind: 'utf16CodeUnits',
      },
    ],
  };
}
