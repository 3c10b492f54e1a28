// The diff for people in a terminal, like `terraform plan`: one line per changed path, then
// the predicted share table of every pool whose traffic would move.
import type { ConfigDiff, ConfigChange, PoolShareChange } from '../diff.ts';

export interface TextStyle {
  readonly color: boolean;
}

const SGR = { red: 31, green: 32, yellow: 33, bold: 1, dim: 2 } as const;

function paint(style: TextStyle, code: keyof typeof SGR, text: string): string {
  return style.color ? `\u001b[${SGR[code]}m${text}\u001b[0m` : text;
}

function changeLine(c: ConfigChange, style: TextStyle): string {
  if (c.kind === 'added') return paint(style, 'green', `+ ${c.path}: ${c.afterText}`);
  if (c.kind === 'removed') return paint(style, 'red', `- ${c.path}: ${c.beforeText}`);
  return paint(style, 'yellow', `~ ${c.path}: ${c.beforeText} → ${c.afterText}`);
}

const share = (x: number | undefined): string => (x === undefined ? '—' : `${(x * 100).toFixed(1)}%`);

function poolBlock(p: PoolShareChange, style: TextStyle): string[] {
  const note = p.status === 'added' ? ' (new pool)' : p.status === 'removed' ? ' (removed)' : '';
  const lines = [paint(style, 'bold', `pool ${p.pool}${note}`)];
  const nameWidth = Math.max(...p.backends.map((b) => b.backend.length));
  const beforeWidth = Math.max(...p.backends.map((b) => share(b.before).length));
  const afterWidth = Math.max(...p.backends.map((b) => share(b.after).length));
  for (const b of p.backends) {
    const moved = b.before !== b.after;
    const row = `  ${b.backend.padEnd(nameWidth)}  ${share(b.before).padStart(beforeWidth)} → ${share(b.after).padStart(afterWidth)}`;
    lines.push(moved ? row : paint(style, 'dim', row));
  }
  if (p.keysMoved !== undefined) lines.push(`  ${share(p.keysMoved)} of hash keys move to another backend`);
  return lines;
}

export function renderDiffText(diff: ConfigDiff, style: TextStyle): string {
  if (!diff.changed) return 'No changes. The running configuration matches.\n';
  const lines = diff.changes.map((c) => changeLine(c, style));
  const moved = diff.pools.filter((p) => p.status !== 'unchanged');
  if (moved.length > 0) {
    lines.push('', 'Predicted expected shares (before → after):');
    for (const p of moved) lines.push(...poolBlock(p, style));
  } else {
    lines.push('', 'Expected shares do not change.');
  }
  const count = (k: ConfigChange['kind']) => diff.changes.filter((c) => c.kind === k).length;
  lines.push(
    '',
    `${diff.changes.length} change${diff.changes.length === 1 ? '' : 's'}: ${count('added')} added, ${count('changed')} changed, ${count('removed')} removed.`,
  );
  return `${lines.join('\n')}\n`;
}
