// `drift`: the running config against the desired source of truth (the file the balancer
// was started from, re-read now, or the store's latest version). Any difference is an error
// finding carrying the diff: someone changed the balancer behind the source's back, or the
// source changed and was never applied. Runtime drains (`fulcrum drain`) are listed too, as
// info findings: recorded, intended overrides of the config, not unknown drift.
import { configChanges } from '../../config/diff.ts';
import { loadConfigText } from '../../config/load.ts';
import type { AuditCheck, AuditFinding, CheckContext } from '../types.ts';

/**
 * One difference, named from the running side: `added` = only the running config has it,
 * `removed` = only the desired source has it. Secrets (tokens, header values) are redacted.
 */
export interface DriftChange {
  /** Dotted config path: `pools.app.backends[1].weight`. */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly running?: unknown;
  readonly desired?: unknown;
}

/** The running config against the desired one (both normalised), one change per differing path. */
export function driftChanges(running: unknown, desired: unknown): DriftChange[] {
  return configChanges(desired, running).map((c) => ({
    path: c.path,
    kind: c.kind,
    ...('after' in c ? { running: c.after } : {}),
    ...('before' in c ? { desired: c.before } : {}),
  }));
}

/** Changes listed one per finding; beyond this they are summarised in one. */
const MAX_CHANGE_FINDINGS = 20;

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'undefined' : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** The change in words; the finding's `path` says where. */
export function describeChange(c: DriftChange): string {
  if (c.kind === 'added') return `running has ${show(c.running)}, the desired source has nothing`;
  if (c.kind === 'removed') return `desired ${show(c.desired)} is missing from the running config`;
  return `running ${show(c.running)}, desired ${show(c.desired)}`;
}

export const driftCheck: AuditCheck = {
  name: 'drift',
  description: 'the running config against the desired source (start file or latest stored version)',
  live: false,
  async run(ctx) {
    const desired = await ctx.desired();
    if (desired === undefined) return { findings: [], skipped: 'no desired source of truth to compare with' };
    const loaded = loadConfigText(desired.text, {
      source: desired.origin,
      ...(desired.env ? { env: desired.env } : {}),
    });
    if (!loaded.ok) {
      const first = loaded.issues[0];
      return {
        findings: [
          {
            ruleId: 'drift-desired-invalid',
            severity: 'error',
            message: `the desired source ${desired.origin} does not load (${loaded.issues.length} issue(s)${first ? `; first: ${first.path} ${first.message}` : ''}), so the running config cannot be compared with it`,
            remediation: `Fix ${desired.origin} (\`fulcrum validate\`), then apply it or restore it to what is running.`,
            data: { origin: desired.origin, issues: loaded.issues },
          },
        ],
      };
    }
    const changes = driftChanges(ctx.loaded.config, loaded.value.config);
    const remediation = `Apply ${desired.origin} to bring the balancer back to intent, or commit the running change to the source (\`fulcrum diff\` shows both sides).`;
    const findings: AuditFinding[] = changes.slice(0, MAX_CHANGE_FINDINGS).map((c) => ({
      ruleId: 'drift',
      severity: 'error',
      path: c.path,
      message: describeChange(c),
      remediation,
      data: c,
    }));
    if (changes.length > MAX_CHANGE_FINDINGS) {
      findings.push({
        ruleId: 'drift',
        severity: 'error',
        message: `${changes.length - MAX_CHANGE_FINDINGS} more difference(s) not listed`,
        remediation,
        data: { more: changes.slice(MAX_CHANGE_FINDINGS) },
      });
    }
    const overrides = runtimeOverrides(ctx);
    findings.push(...overrides);
    const notes = [`running config vs ${desired.origin}: ${changes.length} difference(s)`];
    if (overrides.length > 0) notes.push(`${overrides.length} intended runtime override(s) (drains)`);
    return {
      findings,
      notes,
      details: {
        origin: desired.origin,
        running: ctx.loaded.source,
        changes,
        overrides: overrides.map((o) => o.data),
      },
    };
  },
};

/** Runtime drains in force, one info finding each (a live audit only: offline there is no runtime). */
function runtimeOverrides(ctx: CheckContext): AuditFinding[] {
  if (ctx.snapshot === undefined || ctx.describeHealth === undefined) return [];
  const out: AuditFinding[] = [];
  for (const pool of ctx.describeHealth(ctx.snapshot)) {
    const configured = ctx.loaded.config.pools[pool.name]?.backends ?? [];
    for (const b of pool.backends) {
      const d = b.drain;
      if (d === null) continue;
      const i = configured.findIndex((c) => c.name === b.name);
      const until = d.until === undefined ? 'until undrained' : `until ${new Date(d.until).toISOString()}`;
      out.push({
        ruleId: 'drift-override',
        severity: 'info',
        path: i === -1 ? `pools.${pool.name}` : `pools.${pool.name}.backends[${i}]`,
        message: `${b.name} is drained at runtime by ${d.by} since ${new Date(d.at).toISOString()}, ${until}${d.reason === '' ? '' : ` (${d.reason})`}: an intended override, not drift`,
        remediation: `\`fulcrum undrain ${pool.name} ${b.name}\` puts it back; set \`drain: true\` in the config to make it permanent.`,
        data: { pool: pool.name, backend: b.name, address: b.address, drain: d },
      });
    }
  }
  return out;
}
