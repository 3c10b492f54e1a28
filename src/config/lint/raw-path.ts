// Lookups in the document as written, before the schema filled in defaults.
import type { ConfigPath } from './types.ts';

/** True when every step of `path` exists in `raw` (an object key or an array index). */
export function hasRawPath(raw: unknown, path: ConfigPath): boolean {
  let node: unknown = raw;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(node) || step >= node.length) return false;
      node = node[step];
    } else {
      if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, step)) {
        return false;
      }
      node = (node as Record<string, unknown>)[step];
    }
  }
  return true;
}
