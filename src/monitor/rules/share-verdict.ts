// The wording BackendOverfed and BackendStarved share: one backend's share against what its
// weight entitles it to, with the causes the monitor named for it.
import type { ActiveSample } from '../alerts.ts';
import { pct, fmtMs, statusCommand } from './format.ts';
import type { RuleContext } from './rule-context.ts';

export function shareVerdictSamples(ctx: RuleContext, verdict: 'overfed' | 'starved'): ActiveSample[] {
  const out: ActiveSample[] = [];
  for (const p of ctx.pools) {
    const stats = p.stats;
    const cmd = statusCommand(p.name);
    for (const b of stats.backends) {
      if (b.verdict !== verdict) continue;
      const causes = p.causes[b.backend]?.fairness ?? [];
      const ratio = b.shareRatio === null ? '∞' : b.shareRatio.toFixed(2);
      out.push({
        labels: { pool: p.name, backend: b.backend },
        value: b.shareRatio ?? Number.POSITIVE_INFINITY,
        annotations: {
          summary: `backend ${b.backend} of pool ${p.name} gets ${ratio}× its expected share (${causes[0]?.kind ?? 'unknown'})`,
          description:
            `Backend ${b.backend} in pool ${p.name} (policy ${stats.policy}, measured by ${stats.measure}) got ` +
            `${pct(b.observedShare)} of the pool's ${stats.requests} requests over the last ${fmtMs(stats.windowMs)}; ` +
            `its effective weight entitles it to ${pct(b.expectedShare)} (share ratio ${ratio}, z=${b.z.toFixed(1)}). ` +
            `Likely cause: ${causes.map((c) => c.text).join('; ')}. Config version in force: ${ctx.version}. See more: ${cmd}`,
          cause: causes[0]?.text ?? '',
          cause_kind: causes[0]?.kind ?? '',
          command: cmd,
        },
      });
    }
  }
  return out;
}
