// Secrets in config text and values, and how they are shown where they must not appear
// (unauthenticated admin reads, diffs, metrics, logs; docs/security.md#secrets):
// - admin.token and every `headers` value: replaced whole;
// - notifier URLs and etcd endpoints: cut to scheme://host:port (a path, query or userinfo is
//   often the credential, as in Slack's /services/T000/B000/SECRET).
// A value made only of `${env:NAME}` references stays as written: the name is not the secret
// (a `${env:NAME:-default}` is redacted: its default is a literal).
import { isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';

/** What stands in for a secret value. */
export const REDACTED = '(redacted)';

const DEFAULT_PORTS: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `https://hooks.example/services/T0/B0/SECRET?x=1` → `https://hooks.example:443`. */
export function redactUrl(text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return REDACTED;
  }
  if (u.hostname === '') return REDACTED;
  const port = u.port || DEFAULT_PORTS[u.protocol];
  return `${u.protocol}//${u.hostname}${port === undefined ? '' : `:${port}`}`;
}

export type SecretKind = 'secret' | 'url';

/** Whether the value at a config path is a secret, and which kind. */
export function secretKindAt(path: readonly (string | number)[]): SecretKind | undefined {
  const last = path[path.length - 1];
  if (last === 'token' || (path.length >= 2 && path[path.length - 2] === 'headers')) return 'secret';
  if (path[0] === 'monitor' && path[1] === 'notify' && (last === 'webhook' || last === 'alertmanager'))
    return 'url';
  if (path[0] === 'store' && path[1] === 'etcd' && path[2] === 'endpoints' && path.length === 4) return 'url';
  return undefined;
}

const ONLY_REFS = /^(?:\$\{env:[A-Za-z_][A-Za-z0-9_]*\})+$/;

/**
 * The config text with each secret scalar replaced in place (comments and layout kept).
 * Text that no longer parses is withheld whole rather than shown unredacted.
 */
export function redactConfigText(text: string): string {
  const doc = parseDocument(text, { uniqueKeys: false });
  if (doc.errors.length > 0) return `# ${REDACTED}: this text could not be parsed to redact its secrets\n`;
  const edits: { from: number; to: number; value: string }[] = [];
  const visit = (node: unknown, path: (string | number)[]): void => {
    const target = isAlias(node) ? node.resolve(doc) : node;
    if (isMap(target)) {
      for (const pair of target.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        visit(pair.value, [...path, String(key)]);
      }
    } else if (isSeq(target)) {
      target.items.forEach((item, i) => visit(item, [...path, i]));
    } else if (isScalar(target) && target.range) {
      const kind = secretKindAt(path);
      if (kind === undefined) return;
      const value = target.value;
      if (typeof value === 'string' && ONLY_REFS.test(value)) return;
      const shown = kind === 'url' && typeof value === 'string' ? redactUrl(value) : REDACTED;
      // A block scalar's range takes the line break after it: keep that.
      const [from, to] = target.range;
      edits.push({ from, to: from + text.slice(from, to).trimEnd().length, value: JSON.stringify(shown) });
    }
  };
  visit(doc.contents, []);
  // An anchor used at two secret paths is one edit.
  const unique = [...new Map(edits.map((e) => [e.from, e])).values()].sort((a, b) => b.from - a.from);
  let out = text;
  for (const e of unique) out = out.slice(0, e.from) + e.value + out.slice(e.to);
  return out;
}
