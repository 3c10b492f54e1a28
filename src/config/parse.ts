// Text → plain document: YAML (JSON is YAML) with positions kept, then `${env:NAME}`
// substitution on string scalar values. Substituting on parsed scalars rather than on the
// text means a variable's value is always data: a secret holding `: ` or a newline can
// never add keys to the config.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { Document, Node } from 'yaml';
import { formatPath } from './issue.ts';
import type { ConfigIssue, DocPath, Position } from './issue.ts';

export type Env = Record<string, string | undefined>;
export interface ParsedText {
  /** The document as plain data after substitution; undefined when parsing failed. */
  raw: unknown;
  issues: ConfigIssue[];
  /** 1-based position of the node at `path`; for a map key, the key itself. */
  positionOf(path: DocPath): Position | undefined;
}

// `${env:NAME}`, `${env:NAME:-default}`; `$${env:NAME}` is a literal `${env:NAME}`.
const REF_RE = /\$(\$?)\{env:([^}]*)\}/g;
const REF_BODY_RE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

function parsedWithPositions(text: string): {
  doc: Document;
  at: (offset: number) => Position;
  positionOf: (path: DocPath) => Position | undefined;
} {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): Position => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const positionOf = (path: DocPath): Position | undefined => {
    const offset = offsetOf(doc, path);
    return offset === undefined ? undefined : at(offset);
  };
  return { doc, at, positionOf };
}

/**
 * Lines of paths in `text` for as long as a loaded config is kept (the running one, the
 * history's): the parsed document behind `first` (a dozen nodes per backend, ~1.5 KB) is held
 * only weakly, so a running config of a thousand backends does not keep it alive; a lookup
 * after the collector took it parses the text again, to the same positions.
 */
export function lineFinder(
  text: string,
  first: (path: DocPath) => Position | undefined,
): (path: DocPath) => number | undefined {
  let ref = new WeakRef(first);
  return (path) => {
    let positionOf = ref.deref();
    if (positionOf === undefined) {
      positionOf = parsedWithPositions(text).positionOf;
      ref = new WeakRef(positionOf);
    }
    return positionOf(path)?.line;
  };
}

export function parseText(text: string, env: Env): ParsedText {
  const { doc, at, positionOf } = parsedWithPositions(text);

  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e): ConfigIssue => {
      const p = at(e.pos[0]);
      return {
        path: '',
        message: parseMessage(e.code, e.message, text, e.pos[0]),
        code: 'FULCRUM_ERR_CONFIG_PARSE',
        line: p.line,
        column: p.column,
      };
    });
    return { raw: undefined, issues, positionOf };
  }

  const issues: ConfigIssue[] = [];
  substitute(doc.contents, [], env, (path, node, message, hint) => {
    const p = node.range ? at(node.range[0]) : undefined;
    issues.push({
      path: formatPath(path),
      message,
      code: 'FULCRUM_ERR_CONFIG_ENV',
      ...(p === undefined ? {} : { line: p.line, column: p.column }),
      hint,
    });
  });

  let raw: unknown;
  try {
    // Bounded alias expansion guards against "billion laughs" documents.
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    issues.push({
      path: '',
      message: (e as Error).message,
      code: 'FULCRUM_ERR_CONFIG_PARSE',
      line: 1,
      column: 1,
    });
  }
  return { raw, issues, positionOf };
}

/** yaml's message, reworded where it speaks of the library rather than of the config. */
function parseMessage(code: string, message: string, text: string, offset: number): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^(?:"([^"]*)"|'([^']*)'|([^:\s]+))/.exec(text.slice(offset));
    const name = key?.[1] ?? key?.[2] ?? key?.[3];
    return name === undefined ? 'duplicate key' : `duplicate key "${name}": each key may appear once`;
  }
  if (code === 'MULTIPLE_DOCS')
    return 'a config is one YAML document; remove the second `---` and what follows';
  return message;
}

function substitute(
  node: unknown,
  path: (string | number)[],
  env: Env,
  report: (path: DocPath, node: Node, message: string, hint: string) => void,
): void {
  if (isScalar(node)) {
    if (typeof node.value !== 'string' || !node.value.includes('${')) return;
    node.value = node.value.replace(REF_RE, (whole, escaped: string, body: string) => {
      if (escaped === '$') return whole.slice(1);
      const m = REF_BODY_RE.exec(body);
      if (!m) {
        report(
          path,
          node,
          `malformed reference ${whole}`,
          'write ${env:NAME} or ${env:NAME:-default}; NAME is letters, digits and _, not starting with a digit',
        );
        return whole;
      }
      const value = env[m[1] as string];
      const fallback = m[2];
      // Like the shell's `:-`, the default also replaces a variable that is set but empty.
      if (fallback !== undefined && (value === undefined || value === '')) return fallback;
      if (value === undefined) {
        report(
          path,
          node,
          `environment variable ${m[1]} is not set`,
          'set the variable, or give a default: ${env:NAME:-value}',
        );
        return whole;
      }
      return value;
    });
  } else if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? pair.key.value : pair.key;
      substitute(pair.value, [...path, String(key)], env, report);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => substitute(item, [...path, i], env, report));
  }
  // Aliases are skipped: their anchor is substituted where it is defined.
}

/** Source offset of the node at `path`, or of the deepest ancestor that exists. */
function offsetOf(doc: Document, path: DocPath): number | undefined {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (pair === undefined) return offset;
      // Point at the key, which is where a reader looks (and where a missing child's
      // parent is named).
      offset = rangeStart(pair.key) ?? rangeStart(pair.value) ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      if (node === undefined) return offset;
      offset = rangeStart(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}
