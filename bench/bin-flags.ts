// The Node flags the package's bin starts with: the words after `node` on its
// `#!/usr/bin/env -S node ...` line (none for a plain `#!/usr/bin/env node`).
export function binNodeFlags(binText: string): string[] {
  const first = binText.split('\n', 1)[0] ?? '';
  const m = /^#!\/usr\/bin\/env(?: -S)? node(?: (.*))?$/.exec(first);
  if (m === null) throw new Error(`the bin's first line is not a node shebang: ${first}`);
  return (m[1] ?? '').split(' ').filter((f) => f !== '');
}
