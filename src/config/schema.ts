// The configuration language v1: one zod schema that is the single home of every key, its
// type and its default. Each default is written once, at its key; a section that may be
// left out is `.prefault({})`, which fills it from its keys' defaults. Parsed values are
// normalised: durations in milliseconds, percentages as fractions (0..1), sizes in bytes.
// docs/config.md and schema/fulcrum.schema.json are derived from this file.
import { POLICY_NAMES } from '../balancer/registry.ts';
import { z } from 'zod';
import { parseAddress, parseDuration, parsePercent, parseSize } from '../core/units.ts';

// Defaults are prefaults: the input text ("2s") runs through the parser like a written value.
const duration = (def: string) =>
  z
    .string()
    .transform((text, ctx) => {
      const ms = parseDuration(text);
      if (ms === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be a duration like 500ms, 2s, 1m (got "${text}")` });
        return z.NEVER;
      }
      return ms;
    })
    .meta({ description: 'duration: 500ms, 2s, 1m, 1h', pattern: '^(0|\\d+(\\.\\d+)?(ms|s|m|h))$' })
    .prefault(def);

const percent = (def: string) =>
  z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const f = typeof v === 'number' ? v : parsePercent(v);
      if (f === undefined || f < 0 || f > 1) {
        ctx.addIssue({ code: 'custom', message: `must be a percentage between 0% and 100% (got "${v}")` });
        return z.NEVER;
      }
      // 99.9 / 100 is 0.9990000000000001 in binary; round off the noise so 99.9% is 0.999.
      return Math.round(f * 1e12) / 1e12;
    })
    .meta({ description: 'percentage: "50%" (or a fraction 0..1)', pattern: '^\\d+(\\.\\d+)?%$' })
    .prefault(def);

const size = (def: string) =>
  z
    .union([z.string(), z.number().int().nonnegative()])
    .transform((v, ctx) => {
      const n = typeof v === 'number' ? v : parseSize(v);
      if (n === undefined) {
        ctx.addIssue({ code: 'custom', message: `must be a size like 16KiB, 1MiB, 2GiB (got "${v}")` });
        return z.NEVER;
      }
      return n;
    })
    .prefault(def)
    .meta({ description: 'size: 512B, 16KiB, 1MiB, 2GiB' });

const address = z
  .string()
  .superRefine((a, ctx) => {
    if (parseAddress(a) !== undefined) return;
    ctx.addIssue({ code: 'custom', message: `${addressProblem(a)} (got "${a}")` });
  })
  .meta({ description: 'host:port' });

/** Names the usual mistake in a malformed address, so the message says what to change. */
function addressProblem(a: string): string {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(a))
    return 'must be host:port without a scheme, e.g. 127.0.0.1:8080';
  const port = /:(\d+)$/.exec(a)?.[1];
  if (port === undefined) return 'must be host:port; the port is missing, e.g. 127.0.0.1:8080';
  if (Number(port) > 65535) return 'port must be 0-65535';
  if (/^[0-9a-fA-F:]+:\d+$/.test(a) && a.split(':').length > 2)
    return 'an IPv6 host needs brackets, e.g. [::1]:8080';
  return 'must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080';
}

/** Bounded input: counts a config may hold (docs/security.md#limits); the size cap is in load.ts. */
export const LIMITS = {
  listeners: 100,
  routesPerListener: 1000,
  pools: 1000,
  backendsPerPool: 10_000,
  /** Across every pool: each backend costs a health checker, metrics series and state. */
  backendsTotal: 10_000,
  notifiers: 20,
  allowedEntries: 100,
} as const;

const name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, ".", "_" or "-"');

export const RETRY_ON = ['connect-failure', 'reset', 'timeout', '5xx', '502', '503', '504'] as const;
export type RetryOn = (typeof RETRY_ON)[number];

// YAML reads `on: [502, 503]` as numbers; accept them and normalise to the string names.
const retryOn = z
  .union([z.enum(RETRY_ON), z.literal([502, 503, 504])])
  .transform((v) => String(v) as RetryOn);

const routeSchema = z.strictObject({
  match: z
    .strictObject({
      host: z.string().min(1).optional().meta({ description: 'Host header, exact or "*.example.com"' }),
      pathPrefix: z.string().startsWith('/').optional(),
      headers: z.record(z.string(), z.string()).optional().meta({ description: 'exact header values' }),
    })
    .prefault({}),
  pool: name,
});

const listenerSchema = z.strictObject({
  address,
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      // Extra certificates chosen by the client's SNI name; the default cert answers the rest.
      sni: z
        .array(
          z.strictObject({
            serverName: z
              .string()
              .regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i, {
                message: 'must be a host name, exact or "*.example.com"',
              })
              .meta({ description: 'SNI host name, exact or "*.example.com"' }),
            cert: z.string().min(1),
            key: z.string().min(1),
          }),
        )
        .default([]),
    })
    .optional(),
  routes: z.array(routeSchema).min(1).max(LIMITS.routesPerListener),
  limits: z
    .strictObject({
      maxHeaderSize: size('16KiB'),
      maxBodySize: size('2GiB'),
    })
    .prefault({}),
  timeouts: z
    .strictObject({
      /** Time a client has to send the request headers. */
      header: duration('10s'),
      /** Idle time of a client keep-alive connection. */
      idle: duration('60s'),
      /** Time a client has to send a whole request. */
      request: duration('300s'),
    })
    .prefault({}),
  /** Upgrade protocols tunnelled for this listener; other Upgrade requests are plain requests. */
  upgrades: z
    .array(
      z
        .string()
        .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'must be a protocol name (a token)')
        .refine(
          (s) => s.toLowerCase() !== 'h2c',
          'h2c is never tunnelled: requests inside it would pass routing unseen',
        ),
    )
    .default(['websocket']),
});

const backendSchema = z.strictObject({
  name,
  address,
  weight: z.number().min(0, 'must be ≥ 0').default(1),
  maxRequests: z.number().int().min(1, 'must be ≥ 1').default(1024),
  drain: z.boolean().default(false),
  /** Relative capacity used by the fairness judge; equal capacity unless declared. */
  capacity: z.number().positive().optional(),
});

const healthCheckSchema = z.strictObject({
  type: z.enum(['http', 'tcp']).default('http'),
  path: z.string().startsWith('/').default('/healthz'),
  method: z.enum(['GET', 'HEAD', 'OPTIONS']).default('GET'),
  headers: z.record(z.string(), z.string()).prefault({}),
  // A bare `expectStatus: 200` is a YAML number; accept it as the string "200".
  expectStatus: z
    .union([z.string(), z.number().int()])
    .transform(String)
    .pipe(
      z.string().regex(/^\d{3}(-\d{3})?(,\s*\d{3}(-\d{3})?)*$/, 'must be like "200", "200-399" or "200,204"'),
    )
    .prefault('200-399')
    .meta({
      description: 'status codes: "200", "200-399" or "200,204"',
      pattern: '^\\d{3}(-\\d{3})?(,\\s*\\d{3}(-\\d{3})?)*$',
    }),
  expectBody: z.string().optional().meta({ description: 'substring the body must contain' }),
  interval: duration('2s'),
  timeout: duration('1s'),
  jitter: percent('10%'),
  healthyThreshold: z.number().int().min(1).default(2),
  unhealthyThreshold: z.number().int().min(1).default(3),
  /** State of a new backend before its first check; `unknown` takes no traffic until checked. */
  initialState: z.enum(['unknown', 'healthy']).default('unknown'),
});

const outlierSchema = z.strictObject({
  consecutiveErrors: z.number().int().min(0).default(5),
  consecutiveLocalFailures: z.number().int().min(0).default(5),
  interval: duration('10s'),
  baseEjectionTime: duration('30s'),
  maxEjectionTime: duration('300s'),
  maxEjectionPercent: percent('50%'),
  successRate: z
    .strictObject({
      minHosts: z.number().int().min(2).default(5),
      minRequests: z.number().int().min(1).default(100),
      stdevFactor: z.number().positive().default(1.9),
    })
    .optional(),
});

const flapSchema = z.strictObject({
  /** Health flips within `window` that count as flapping. */
  flips: z.number().int().min(2).default(4),
  window: duration('60s'),
  holdTime: duration('30s'),
  maxHoldTime: duration('300s'),
});

const retriesSchema = z.strictObject({
  /** Retries after the first try (0 = none). */
  attempts: z.number().int().min(0).max(10).default(1),
  on: z.array(retryOn).prefault(['connect-failure', 'reset']),
  perTryTimeout: duration('0'),
  /** Fraction of active requests that may be retries at once. */
  budget: percent('20%'),
  minRetryConcurrency: z.number().int().min(0).default(3),
  methods: z
    .array(z.string().regex(/^[A-Z]+$/))
    .default(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']),
  /** Request body bytes kept for replay; a retry is never attempted once more was streamed. */
  bufferSize: size('64KiB'),
});

const timeoutsSchema = z.strictObject({
  connect: duration('2s'),
  /** From request sent to response headers received, then the longest pause between body bytes. */
  response: duration('30s'),
  /** Idle upstream keep-alive sockets are closed after this (keep below the backends' own). */
  idle: duration('4s'),
});

const poolSchema = z.strictObject({
  policy: z.enum(POLICY_NAMES).default('round-robin'),
  /** Used by hash-keyed policies (consistent-hash); its defaults apply when it is left out. */
  hash: z
    .strictObject({
      key: z
        .string()
        .regex(/^(source-ip|path|header:[A-Za-z0-9-]+|cookie:[A-Za-z0-9_.-]+)$/, {
          message: 'must be source-ip, path, header:NAME or cookie:NAME',
        })
        .default('source-ip'),
      balanceFactor: z.number().min(1, 'must be ≥ 1').default(1.25),
    })
    .prefault({}),
  backends: z.array(backendSchema).min(1).max(LIMITS.backendsPerPool),
  healthCheck: healthCheckSchema.optional(),
  outlierDetection: outlierSchema.optional(),
  flapDampening: flapSchema.prefault({}),
  slowStart: duration('0'),
  panicThreshold: percent('50%'),
  lameDuckHeader: z.string().min(1).optional().meta({ description: 'response header that drains a backend' }),
  retries: retriesSchema.prefault({}),
  timeouts: timeoutsSchema.prefault({}),
});

// `name` labels the notifier in metrics and logs; without it the label is `webhook-0` etc.
// (never the URL, whose path or query often is the secret).
const notifierSchema = z.union([
  z.strictObject({
    name: name.optional(),
    webhook: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
  }),
  z.strictObject({
    name: name.optional(),
    alertmanager: z.url(),
    headers: z.record(z.string(), z.string()).optional(),
  }),
]);

const monitorSchema = z.strictObject({
  window: duration('60s'),
  fairness: z
    .strictObject({
      overfed: z.number().gt(1).default(1.25),
      starved: z.number().gt(0).lt(1).default(0.5),
      minRequestsPerBackend: z.number().int().min(1).default(100),
      for: duration('30s'),
    })
    .prefault({}),
  slo: z.strictObject({ target: percent('99.9%') }).prefault({}),
  notify: z.array(notifierSchema).max(LIMITS.notifiers).default([]),
});

export const AUDIT_CHECKS = ['lint', 'drift', 'health', 'distribution'] as const;

const auditSchema = z.strictObject({
  /** Cron expression; empty string disables scheduled audits. */
  schedule: z.string().default('*/15 * * * *'),
  checks: z.array(z.enum(AUDIT_CHECKS)).default([...AUDIT_CHECKS]),
  retention: z.number().int().min(1).default(200),
  distribution: z
    .strictObject({
      probes: z.number().int().min(10).default(600),
      tolerance: z.number().positive().lt(1).default(0.15),
      identityHeader: z.string().min(1).optional(),
    })
    .prefault({}),
});

const adminSchema = z.strictObject({
  address: address.default('127.0.0.1:9901'),
  token: z.string().min(1).optional(),
  /** Extra `Host` values the admin answers (a name, or name:port), e.g. behind a tunnel or a DNS name. */
  allowedHosts: z.array(z.string().min(1)).max(LIMITS.allowedEntries).default([]),
  /** Origins (scheme://host[:port]) whose pages may make mutating calls, besides the admin itself. */
  allowedOrigins: z.array(z.string().min(1)).max(LIMITS.allowedEntries).default([]),
});

const storeSchema = z.strictObject({
  sqlite: z.string().min(1).default('./.fulcrum/state.db'),
  etcd: z
    .strictObject({
      endpoints: z.array(z.url()).min(1),
      prefix: z.string().default('/fulcrum/'),
    })
    .optional(),
});

/** Access-log fields, in their default order (src/proxy/access-log.ts writes them). */
export const ACCESS_LOG_FIELDS = [
  'listener',
  'pool',
  'backend',
  'status',
  'durationMs',
  'requestId',
  'method',
  'path',
  'client',
  'host',
  'userAgent',
  'bytesIn',
  'bytesOut',
  'upstream',
  'connectMs',
  'firstByteMs',
  'retries',
  'error',
] as const;
export type AccessLogField = (typeof ACCESS_LOG_FIELDS)[number];

const accessLogObject = z.strictObject({
  enabled: z.boolean().default(true),
  format: z.enum(['json', 'logfmt']).default('json'),
  fields: z
    .array(z.enum(ACCESS_LOG_FIELDS))
    .min(1)
    .default([...ACCESS_LOG_FIELDS]),
  query: z.boolean().default(false),
});

// Instances sharing store.etcd and fleet.name form a fleet (docs/fleet.md).
const fleetSchema = z.strictObject({
  name,
  instance: name.optional(),
  report: duration('1s'),
});

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** `true`/`false` is shorthand for `{ enabled: true|false }` with every other default. */
  access: z
    .union([
      // The section first: on a typo inside it, validation reports that branch's issue.
      accessLogObject,
      z.boolean().transform((enabled) => ({ ...accessLogObject.parse({}), enabled })),
    ])
    .prefault(true),
  file: z.string().min(1).optional(),
});

/** Per-rule lint suppressions: a reviewed exception, kept in the config with its reason. */
const lintSchema = z.strictObject({
  suppress: z
    .array(
      z.strictObject({
        /** A lint rule id (checked against the catalog by the semantic checks). */
        rule: z.string().min(1),
        /** Dotted config path the suppression covers, with everything below it; unset = everywhere. */
        path: z.string().min(1).optional(),
        reason: z.string().trim().min(1),
      }),
    )
    .default([]),
});

/** Data-plane threads: `auto` = one per available core (read at start, like admin.address). */
const workersSchema = z
  .union([z.literal('auto'), z.int().min(1).max(64)])
  .default(1)
  .meta({ description: 'data-plane worker threads: a number 1-64, or "auto" (one per core)' });

export const configSchema = z.strictObject({
  version: z.literal(1),
  workers: workersSchema,
  listeners: z.record(name, listenerSchema).refine((l) => Object.keys(l).length <= LIMITS.listeners, {
    message: `must have at most ${LIMITS.listeners} listeners`,
  }),
  pools: z.record(name, poolSchema).refine((p) => Object.keys(p).length <= LIMITS.pools, {
    message: `must have at most ${LIMITS.pools} pools`,
  }),
  monitor: monitorSchema.prefault({}),
  audit: auditSchema.prefault({}),
  admin: adminSchema.prefault({}),
  store: storeSchema.prefault({}),
  fleet: fleetSchema.optional(),
  log: logSchema.prefault({}),
  lint: lintSchema.prefault({}),
});

/** A validated, normalised configuration (durations ms, percentages 0..1, sizes bytes). */
export type Config = z.output<typeof configSchema>;
export type ListenerConfig = Config['listeners'][string];
export type RouteConfig = ListenerConfig['routes'][number];
export type PoolConfig = Config['pools'][string];
export type BackendConfig = PoolConfig['backends'][number];
export type HealthCheckConfig = NonNullable<PoolConfig['healthCheck']>;
export type OutlierDetectionConfig = NonNullable<PoolConfig['outlierDetection']>;
export type FlapDampeningConfig = PoolConfig['flapDampening'];
export type RetriesConfig = PoolConfig['retries'];
export type PoolTimeoutsConfig = PoolConfig['timeouts'];
export type MonitorConfig = Config['monitor'];
export type AuditConfig = Config['audit'];
export type AdminConfig = Config['admin'];
export type StoreConfig = Config['store'];
export type FleetConfig = NonNullable<Config['fleet']>;
