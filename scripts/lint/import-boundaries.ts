// fulcrum/import-boundaries: the folders of src/ form layers, and an import may only point at
// a folder its own folder is allowed to use (docs/architecture.md, "Folders and directions").
// It also refuses import cycles between files: it reads every module of src/ once per lint
// run, finds the strongly connected components of the import graph, and reports each import
// that stays inside one. Type-only imports count too: a cycle of types is still two modules
// that cannot be understood apart.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Rule } from 'eslint';

export interface BoundaryOptions {
  /** The source root, relative to the working directory (default "src"). */
  root?: string;
  /** Folder → the folders it may import from (besides itself). Files directly in the root may import anything. */
  layers: Record<string, readonly string[]>;
}

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
const DYNAMIC = /\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|js)$/.test(name) && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Relative import specifiers of a module's text. */
export function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const re of [IMPORT, DYNAMIC]) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) out.push(m[1] as string);
  }
  return out;
}

/** Tarjan's strongly connected components; returns the component id of every node in a cycle. */
export function cyclicComponents(graph: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const component = new Map<string, number>();
  let next = 0;
  let components = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) !== index.get(v)) return;
    const members: string[] = [];
    for (;;) {
      const w = stack.pop() as string;
      onStack.delete(w);
      members.push(w);
      if (w === v) break;
    }
    if (members.length > 1) {
      for (const m of members) component.set(m, components);
      components++;
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return component;
}

let cache: { root: string; graph: Map<string, string[]>; cyclic: Map<string, number> } | undefined;

function graphOf(root: string): { graph: Map<string, string[]>; cyclic: Map<string, number> } {
  if (cache?.root === root) return cache;
  const graph = new Map<string, string[]>();
  for (const file of walk(root, [])) {
    const targets = importsOf(readFileSync(file, 'utf8')).map((s) => resolve(dirname(file), s));
    graph.set(file, targets);
  }
  cache = { root, graph, cyclic: cyclicComponents(graph) };
  return cache;
}

/** The first folder under root ('' for files directly in root), or undefined outside root. */
function folderOf(root: string, file: string): string | undefined {
  const rel = relative(root, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(sep);
  return parts.length === 1 ? '' : (parts[0] as string);
}

export const importBoundaries: Rule.RuleModule = {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the folder layers of src/, and no import cycle exists' },
    schema: [{ type: 'object', additionalProperties: true }],
    messages: {
      direction: '{{from}}/ may not import from {{to}}/ (allowed: {{allowed}}); see docs/architecture.md',
      unknown: '{{from}}/ is not in the layer table of fulcrum/import-boundaries',
      cycle: 'import cycle: {{file}} imports {{target}}, which leads back to it',
    },
  },
  create(context) {
    const options = (context.options[0] ?? { layers: {} }) as BoundaryOptions;
    const root = resolve(context.cwd, options.root ?? 'src');
    const file = resolve(context.filename);
    const from = folderOf(root, file);
    if (from === undefined || file.endsWith('.test.ts')) return {};
    const check = (node: Rule.Node, spec: unknown): void => {
      if (typeof spec !== 'string' || !spec.startsWith('.')) return;
      const target = resolve(dirname(file), spec);
      const to = folderOf(root, target);
      if (to === undefined) return;
      if (from !== '' && to !== from) {
        const allowed = options.layers[from];
        if (allowed === undefined) context.report({ node, messageId: 'unknown', data: { from } });
        else if (!allowed.includes(to))
          context.report({
            node,
            messageId: 'direction',
            data: { from, to: to === '' ? '(root)' : to, allowed: allowed.join(', ') || 'none' },
          });
      }
      const { cyclic } = graphOf(root);
      const mine = cyclic.get(file);
      if (mine !== undefined && cyclic.get(target) === mine)
        context.report({
          node,
          messageId: 'cycle',
          data: { file: relative(root, file), target: relative(root, target) },
        });
    };
    return {
      ImportDeclaration: (node) => check(node as Rule.Node, node.source.value),
      ExportNamedDeclaration: (node) => check(node as Rule.Node, node.source?.value),
      ExportAllDeclaration: (node) => check(node as Rule.Node, node.source.value),
      ImportExpression: (node) =>
        check(node as Rule.Node, node.source.type === 'Literal' ? node.source.value : undefined),
    };
  },
};

/** Forget the cached graph (tests lint several trees in one process). */
export function resetImportGraph(): void {
  cache = undefined;
}
