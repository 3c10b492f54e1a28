// Sections of bench/RESULTS.md that one bench writes and the others carry over unchanged,
// each between its own pair of HTML comment markers.
export interface Marked {
  readonly start: string;
  readonly end: string;
}

/** Replace (or append) a marked section of a RESULTS.md text. */
export function spliceMarked(previous: string, m: Marked, section: string): string {
  const a = previous.indexOf(m.start);
  const b = previous.indexOf(m.end);
  const block = `${m.start}\n${section}\n${m.end}`;
  if (a < 0 || b < a) return `${previous.trimEnd()}\n\n${block}\n`;
  return previous.slice(0, a) + block + previous.slice(b + m.end.length);
}

/** A marked section with its markers ('' when there is none), for another bench to carry over. */
export function keptMarked(previous: string, m: Marked): string {
  const a = previous.indexOf(m.start);
  const b = previous.indexOf(m.end);
  return a < 0 || b < a ? '' : previous.slice(a, b + m.end.length);
}
