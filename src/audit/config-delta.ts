// A structural diff of two parsed configs, path by path, for the drift check. Comparing
// normalised values (not text) means reformatting, key order and `2s` vs `2000ms` are no drift.

export interface ConfigChange {
  /** Dotted path in the style of lint findings: `pools.app.backends[1].weight`. */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly running?: unknown;
  readonly desired?: unknown;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  return base === '' ? key : `${base}.${key}`;
}

/** Changes that turn `desired` into `running`, in document order. */
export function configDelta(
  running: unknown,
  desired: unknown,
  path = '',
  out: ConfigChange[] = [],
): ConfigChange[] {
  if (Object.is(running, desired)) return out;
  if (Array.isArray(running) && Array.isArray(desired)) {
    const n = Math.max(running.length, desired.length);
    for (let i = 0; i < n; i++) {
      if (i >= running.length) out.push({ path: join(path, i), kind: 'removed', desired: desired[i] });
      else if (i >= desired.length) out.push({ path: join(path, i), kind: 'added', running: running[i] });
      else configDelta(running[i], desired[i], join(path, i), out);
    }
    return out;
  }
  if (isObject(running) && isObject(desired)) {
    for (const key of Object.keys(desired)) {
      const p = join(path, key);
      if (!(key in running) || running[key] === undefined) {
        if (desired[key] !== undefined) out.push({ path: p, kind: 'removed', desired: desired[key] });
      } else configDelta(running[key], desired[key], p, out);
    }
    for (const key of Object.keys(running)) {
      if ((!(key in desired) || desired[key] === undefined) && running[key] !== undefined) {
        out.push({ path: join(path, key), kind: 'added', running: running[key] });
      }
    }
    return out;
  }
  out.push({ path, kind: 'changed', running, desired });
  return out;
}
