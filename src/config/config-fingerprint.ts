// What an apply compares to decide "unchanged": the config as parsed and normalised (so a
// re-encoded YAML or JSON file with the same meaning is the same config) plus the contents of
// the certificate files it names (so a renewed certificate at the same path is a change).
import { createHash } from 'node:crypto';
import type { Config } from './schema.ts';
import { configTlsDigest } from './tls-files.ts';

/** `config` must have its TLS paths resolved (resolveTlsPaths). */
export function configFingerprint(config: Config): string {
  return createHash('sha256')
    .update(canonicalJson(config))
    .update('\0')
    .update(configTlsDigest(config))
    .digest('hex');
}

/** JSON with object keys sorted, so key order in the source does not matter. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
