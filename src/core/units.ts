// Parsers for the config language's units. Pure; used by the schema and the CLI flags.

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const DURATION_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `2s`, `1.5m`, `1h`, or `0` → milliseconds. Returns undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2] as keyof typeof DURATION_MS]);
}

/** Milliseconds → the shortest exact duration text (`1500` → `1500ms`, `60000` → `1m`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const PERCENT_RE = /^(\d+(?:\.\d+)?)%$/;

/** `50%` → 0.5. Returns undefined when malformed. */
export function parsePercent(text: string): number | undefined {
  const m = PERCENT_RE.exec(text.trim());
  return m ? Number(m[1]) / 100 : undefined;
}

const SIZE_RE = /^(\d+(?:\.\d+)?)(B|KiB|MiB|GiB|KB|MB|GB)$/;
const SIZE_BYTES = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
} as const;

/** `16KiB`, `1MiB`, `2GiB`, `512B` → bytes. Returns undefined when malformed. */
export function parseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_BYTES[m[2] as keyof typeof SIZE_BYTES]);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** `127.0.0.1:8080`, `localhost:80`, `[::1]:9000` → host and port. Undefined when malformed. */
export function parseAddress(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: (m[1] ?? m[2]) as string, port };
}

/** True for addresses that can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}
