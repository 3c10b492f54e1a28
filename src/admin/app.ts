// The admin API: built without listening (tests call handle() through a real server on
// port 0). JSON everywhere, one error shape {error: {code, message, details}}.
// Reads need no token on loopback; every mutating call needs the token when one is set,
// and when the admin listens off loopback every call needs it. Whatever the token, /api/
// calls must name the admin in Host and mutating calls must be ones a cross-origin page
// cannot send (browser-guard.ts); config text is served with its secrets redacted unless the
// caller presents the token (docs/security.md).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FulcrumError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import { parseDuration } from '../core/units.ts';
import { formatShare, parseCanaryShare } from '../runtime/canary.ts';
import type { ConfigController } from '../runtime/controller.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import type { ConfigVersion, Store } from '../store/store.ts';
import { diffConfigs } from '../config/diff.ts';
import { loadConfigText } from '../config/load.ts';
import { redactConfigText } from '../config/redact.ts';
import { checkHost, checkMutation, type GuardPolicy } from './browser-guard.ts';
import { parseJsonBody, readBody, sendError, sendJson, tokenMatches } from './http-kit.ts';
import { serveEvents } from './events-stream.ts';
import type { PoolHealthView } from '../health/health-manager.ts';
import type { PoolStatsView } from '../monitor/monitor.ts';
import { poolViews } from '../monitor/pool-view.ts';

export interface HealthView {
  describe(snapshot: Snapshot): readonly PoolHealthView[];
  readinessReasons(snapshot: Snapshot): string[];
}

export interface MonitorView {
  metrics(): Promise<{ contentType: string; body: string }>;
  poolStats(): readonly PoolStatsView[];
  alerts(): unknown[];
  degradedReasons(): string[];
  series(): unknown;
}

export interface AuditView {
  runNow(trigger: 'api' | 'cli', checks?: string[]): Promise<unknown>;
  /** Schedule in force, runs, missed ticks, next run. */
  stats(): unknown;
}

export interface GuardView {
  start(options: {
    durationMs: number;
    baseVersion: number | undefined;
    appliedVersion: number;
    canaryFraction?: number;
  }): unknown;
  status(): unknown;
}

export interface DrainView {
  drain(
    pool: string,
    backend: string,
    req: { by: string; reason?: string | undefined; forMs?: number | undefined },
  ): Promise<unknown>;
  undrain(pool: string, backend: string, by: string): Promise<unknown>;
}

/** The fleet this instance belongs to (src/fleet). */
export interface FleetAdminView {
  view(): unknown;
  /** Reasons that make /readyz "degraded" but still 200 (store unreachable: serving on). */
  degradedReasons(): string[];
  metrics(): Promise<string>;
  canaryApply(
    text: string,
    options: { instances: number; guardMs: number; author: string; message?: string; force?: boolean },
  ): Promise<unknown>;
}

/** The data plane's threads as the admin shows them. */
export interface WorkersView {
  readonly configured: number;
  readonly workers: readonly {
    readonly worker: number;
    readonly alive: boolean;
    readonly connections: number;
    readonly requests: number;
    readonly restarts: number;
  }[];
}

export interface DashboardAssets {
  /** Serve GET / and /assets/*; false when the path is not an asset. */
  serve(path: string, res: ServerResponse): boolean;
}

export interface AdminDeps {
  controller: ConfigController;
  store: Store;
  hub: EventHub;
  health: HealthView;
  monitor: MonitorView;
  /** The admin token of the running config (read per call: an apply may change it). */
  token: () => string | undefined;
  /** Environment for `${env:}` when re-reading stored versions. */
  env: Record<string, string | undefined>;
  /** True when the admin listens on a loopback address. */
  loopback: boolean;
  /** Listener names with bound addresses, for /readyz. */
  listenersBound: () => boolean;
  /** Data-plane threads: how many the config asks for and each one's counts (/readyz, /api/v1/status). */
  workers?: () => WorkersView;
  audit?: AuditView;
  guard?: GuardView;
  fleet?: FleetAdminView;
  dashboard?: DashboardAssets;
  drains?: DrainView;
}

type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  params: string[],
) => Promise<void> | void;
interface Route {
  method: string;
  pattern: RegExp;
  mutating: boolean;
  handler: Handler;
}

export class AdminApp {
  readonly #deps: AdminDeps;
  readonly #routes: Route[];

  constructor(deps: AdminDeps) {
    this.#deps = deps;
    const r = (method: string, pattern: RegExp, handler: Handler, mutating = method !== 'GET'): Route => ({
      method,
      pattern,
      handler,
      mutating,
    });
    this.#routes = [
      r('GET', /^\/healthz$/, (_q, res) => sendJson(res, 200, { status: 'ok' })),
      r('GET', /^\/readyz$/, (_q, res, url) => this.#readyz(res, url.searchParams.get('strict') === '1')),
      r('GET', /^\/metrics$/, async (_q, res) => {
        const m = await deps.monitor.metrics();
        res.writeHead(200, { 'content-type': m.contentType });
        res.end(deps.fleet ? `${m.body}${await deps.fleet.metrics()}` : m.body);
      }),
      r('GET', /^\/api\/v1\/config$/, (q, res) => this.#getConfig(q, res)),
      r('POST', /^\/api\/v1\/config$/, (q, res, url) => this.#postConfig(q, res, url)),
      r('GET', /^\/api\/v1\/config\/versions$/, async (_q, res, url) => {
        const limit = intParam(url, 'limit') ?? 50;
        const before = intParam(url, 'before');
        sendJson(res, 200, {
          current: deps.controller.version?.version ?? null,
          versions: await deps.store.listVersions({ limit, ...(before === undefined ? {} : { before }) }),
        });
      }),
      r('GET', /^\/api\/v1\/config\/versions\/(\d+)$/, async (q, res, _u, p) => {
        const v = await deps.store.getVersion(Number(p[0]));
        if (!v) throw new FulcrumError('FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND', `no config version ${p[0]}`);
        sendJson(res, 200, this.#shown(q, v));
      }),
      r('POST', /^\/api\/v1\/config\/rollback$/, async (q, res) => {
        const body = parseJsonBody(await readBody(q));
        const version = body['version'];
        if (version !== undefined && (typeof version !== 'number' || !Number.isInteger(version))) {
          throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', '"version" must be an integer');
        }
        const result = await deps.controller.rollback(version, {
          author: this.#author(q),
          ...(typeof body['message'] === 'string' ? { message: body['message'] } : {}),
        });
        sendJson(res, 200, result);
      }),
      r('GET', /^\/api\/v1\/config\/diff$/, async (_q, res, url) => {
        const from = intParam(url, 'from');
        const to = intParam(url, 'to');
        if (from === undefined || to === undefined) {
          throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'from and to version numbers are required');
        }
        sendJson(res, 200, await this.#diffVersions(from, to));
      }),
      r('GET', /^\/api\/v1\/config\/events$/, async (_q, res) => {
        sendJson(res, 200, { events: await deps.store.listEvents({ limit: 100 }) });
      }),
      r('GET', /^\/api\/v1\/pools$/, (_q, res) => this.#pools(res)),
      r('GET', /^\/api\/v1\/status$/, (_q, res) => this.#status(res)),
      r('GET', /^\/api\/v1\/alerts$/, (_q, res) => sendJson(res, 200, { alerts: deps.monitor.alerts() })),
      r('GET', /^\/api\/v1\/series$/, (_q, res) => sendJson(res, 200, deps.monitor.series())),
      // null when this instance runs alone (no fleet section), so the dashboard can ask freely.
      r('GET', /^\/api\/v1\/fleet$/, (_q, res) => sendJson(res, 200, deps.fleet?.view() ?? null)),
      r('GET', /^\/api\/v1\/guard$/, (_q, res) =>
        sendJson(res, 200, { guard: deps.guard?.status() ?? null }),
      ),
      r('GET', /^\/api\/v1\/audits$/, async (_q, res, url) => {
        sendJson(res, 200, {
          schedule: deps.audit?.stats() ?? null,
          runs: await deps.store.listAuditRuns({ limit: intParam(url, 'limit') ?? 20 }),
        });
      }),
      r('GET', /^\/api\/v1\/audits\/([\w-]+)$/, async (_q, res, _u, p) => {
        const run = await deps.store.getAuditRun(p[0] as string);
        if (!run) throw new FulcrumError('FULCRUM_ERR_ADMIN_NOT_FOUND', `no audit run ${p[0]}`);
        sendJson(res, 200, run);
      }),
      r('POST', /^\/api\/v1\/audits$/, async (q, res) => {
        if (!deps.audit) throw new FulcrumError('FULCRUM_ERR_ADMIN_NOT_FOUND', 'audits are not enabled');
        const checks = parseJsonBody(await readBody(q))['checks'];
        if (checks !== undefined && (!Array.isArray(checks) || !checks.every((c) => typeof c === 'string'))) {
          throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', '"checks" must be a list of check names');
        }
        sendJson(res, 200, await deps.audit.runNow('api', checks));
      }),
      r('GET', /^\/api\/v1\/events$/, (q, res) => serveEvents(q, res, deps.hub)),
      r('POST', DRAIN_PATH, (q, res, _u, p) => this.#drain(q, res, p)),
      r('DELETE', DRAIN_PATH, async (q, res, _u, p) => {
        const drains = this.#drainView();
        sendJson(res, 200, await drains.undrain(p[0] as string, p[1] as string, this.#author(q)));
      }),
    ];
  }

  /** The request listener for node:http.createServer. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.#dispatch(req, res).catch((err: unknown) => sendError(res, err));
  };

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    // Probes and scrapers call /healthz, /readyz and /metrics by whatever name they know; those
    // carry no secret and change nothing, so only the API checks Host.
    if (url.pathname.startsWith('/api/')) checkHost(req, this.#policy());
    let pathMatched = false;
    for (const route of this.#routes) {
      const m = route.pattern.exec(url.pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method) continue;
      if (route.mutating) checkMutation(req, this.#policy());
      this.#authorize(req, route.mutating);
      await route.handler(req, res, url, m.slice(1));
      return;
    }
    if (pathMatched)
      throw new FulcrumError('FULCRUM_ERR_ADMIN_METHOD', `${method} is not allowed on ${url.pathname}`);
    if (method === 'GET' && this.#deps.dashboard?.serve(url.pathname, res)) return;
    throw new FulcrumError('FULCRUM_ERR_ADMIN_NOT_FOUND', `no admin endpoint at ${url.pathname}`);
  }

  #policy(): GuardPolicy {
    const admin = this.#deps.controller.snapshot?.config.admin;
    return {
      address: admin?.address,
      allowedHosts: admin?.allowedHosts ?? [],
      allowedOrigins: admin?.allowedOrigins ?? [],
    };
  }

  /** True when the call presents the running token (which unlocks secrets in config text). */
  #authenticated(req: IncomingMessage): boolean {
    const token = this.#deps.token();
    return token !== undefined && tokenMatches(req.headers.authorization, token);
  }

  /** A stored version as this caller may see it. */
  #shown(req: IncomingMessage, v: ConfigVersion): ConfigVersion & { redacted: boolean } {
    if (this.#authenticated(req)) return { ...v, redacted: false };
    return { ...v, text: redactConfigText(v.text), redacted: true };
  }

  /** Who made a change: the explicit X-Fulcrum-Author, else the token holder or anonymous, with the client address. */
  #author(req: IncomingMessage): string {
    // Control characters out: the history is printed on terminals.
    const given = headerText(req, 'x-fulcrum-author')?.replace(CONTROL_CHARS, '').trim();
    if (given !== undefined && given !== '') return given.slice(0, 200);
    const who = this.#authenticated(req) ? 'token' : 'anonymous';
    return `${who}@${req.socket.remoteAddress ?? 'unknown'}`;
  }

  #authorize(req: IncomingMessage, mutating: boolean): void {
    const token = this.#deps.token();
    const { loopback } = this.#deps;
    if (token === undefined) return;
    if (!mutating && loopback) return;
    if (!tokenMatches(req.headers.authorization, token)) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_UNAUTHORIZED',
        'this call needs Authorization: Bearer <token> (the admin.token of the running config)',
      );
    }
  }

  /**
   * 503 only when this instance cannot serve (no config, listeners not bound, no pool with an
   * available backend): a backend incident must not take every balancer out of a load
   * balancer's rotation at once. Degraded states answer 200 with their reasons; `?strict=1`
   * fails on those too (docs/health.md).
   */
  #readyz(res: ServerResponse, strict: boolean): void {
    const { controller, health, monitor, listenersBound } = this.#deps;
    const snapshot = controller.snapshot;
    const reasons: string[] = [];
    const degraded: string[] = [];
    if (!snapshot) reasons.push('no config loaded');
    else {
      if (!listenersBound()) reasons.push('listeners not bound');
      const pools = [...snapshot.pools.values()];
      if (!pools.some((p) => p.state.hosts.some((h) => h.available)))
        reasons.push('no pool has an available backend');
      degraded.push(...health.readinessReasons(snapshot));
    }
    const w = this.#deps.workers?.();
    const running = w?.workers.filter((x) => x.alive).length;
    if (w !== undefined && running !== undefined && running < w.configured) {
      degraded.push(`${running} of ${w.configured} workers running (a replacement is starting)`);
    }
    // The store being away (fleet) degrades the control plane only: still ready to serve.
    degraded.push(...monitor.degradedReasons(), ...(this.#deps.fleet?.degradedReasons() ?? []));
    const status = reasons.length > 0 ? 'not-ready' : degraded.length > 0 ? 'degraded' : 'ready';
    sendJson(res, status === 'ready' || (status === 'degraded' && !strict) ? 200 : 503, {
      status,
      strict,
      configVersion: controller.version?.version ?? null,
      ...(w === undefined ? {} : { workers: { configured: w.configured, running } }),
      reasons: [...reasons, ...degraded.map((d) => `degraded: ${d}`)],
    });
  }

  /** The process at a glance: version, pid, uptime and the data plane's threads. */
  #status(res: ServerResponse): void {
    const w = this.#deps.workers?.();
    sendJson(res, 200, {
      configVersion: this.#deps.controller.version?.version ?? null,
      pid: process.pid,
      uptimeSeconds: Math.round(process.uptime()),
      workers:
        w === undefined
          ? null
          : {
              configured: w.configured,
              running: w.workers.filter((x) => x.alive).length,
              restarts: w.workers.reduce((a, x) => a + x.restarts, 0),
              threads: w.workers,
            },
    });
  }

  #getConfig(req: IncomingMessage, res: ServerResponse): void {
    const v = this.#deps.controller.version;
    if (!v) throw new FulcrumError('FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND', 'no config applied yet');
    // During a traffic-slice canary the running version is the baseline; the canary is named beside it.
    sendJson(res, 200, { ...this.#shown(req, v), canary: this.#deps.controller.canary ?? null });
  }

  async #postConfig(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const text = await readBody(req);
    if (text.trim() === '')
      throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'body must be a YAML or JSON config');
    const ifMatch = req.headers['if-match'];
    const expected = ifMatch === undefined ? undefined : Number(String(ifMatch).replace(/"/g, ''));
    if (expected !== undefined && !Number.isInteger(expected)) {
      throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'If-Match must be a config version number');
    }
    const guardText = url.searchParams.get('guard');
    const guardMs = guardText === null ? undefined : parseDuration(guardText);
    if (guardText !== null && (guardMs === undefined || guardMs <= 0)) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_BAD_REQUEST',
        `guard must be a duration like 60s (got "${guardText}")`,
      );
    }
    if (guardMs !== undefined && !this.#deps.guard) {
      throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'guarded apply is not available');
    }
    const message = headerText(req, 'x-fulcrum-message');
    const canaryInstances = url.searchParams.get('canaryInstances');
    const canaryShare = url.searchParams.get('canary');
    if (canaryShare !== null) {
      await this.#canaryApply(req, res, url, text, { share: canaryShare, guardMs, message });
      return;
    }
    if (canaryInstances !== null) {
      const fleet = this.#deps.fleet;
      if (!fleet) {
        throw new FulcrumError(
          'FULCRUM_ERR_FLEET_CANARY',
          'canaryInstances=N needs a fleet (fleet and store.etcd in the config); on one instance use canary=10%',
        );
      }
      const answer = await fleet.canaryApply(text, {
        instances: Number(canaryInstances),
        guardMs: guardMs ?? 60_000,
        author: this.#author(req),
        ...(message === undefined ? {} : { message }),
        force: flag(url, 'force'),
      });
      sendJson(res, 200, answer);
      return;
    }
    const baseVersion = this.#deps.controller.version?.version;
    const result = await this.#deps.controller.apply(text, {
      source: 'api',
      author: this.#author(req),
      ...(message === undefined ? {} : { message }),
      force: flag(url, 'force'),
      dryRun: flag(url, 'dryRun'),
      ...(expected === undefined ? {} : { expectedVersion: expected }),
    });
    const guard =
      guardMs !== undefined && result.status === 'applied' && result.version !== undefined
        ? this.#deps.guard?.start({ durationMs: guardMs, baseVersion, appliedVersion: result.version })
        : undefined;
    sendJson(res, 200, { ...result, ...(guard === undefined ? {} : { guard }) });
  }

  /**
   * `canary=10%`: a share of this instance's requests on the new config beside the running one,
   * always guarded (`guard=`, default 60s): promoted when clean, rolled back on regression.
   */
  async #canaryApply(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    text: string,
    o: { share: string; guardMs: number | undefined; message: string | undefined },
  ): Promise<void> {
    if (url.searchParams.get('canaryInstances') !== null) {
      throw new FulcrumError(
        'FULCRUM_ERR_CANARY_INVALID',
        'canary=P% and canaryInstances=N exclude each other: a share of one instance, or whole instances of a fleet',
      );
    }
    const fraction = parseCanaryShare(o.share);
    if (this.#deps.fleet) {
      throw new FulcrumError(
        'FULCRUM_ERR_CANARY_INVALID',
        'this instance is in a fleet, whose members follow every committed version: use canaryInstances=N',
      );
    }
    const guard = this.#deps.guard;
    if (!guard) throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', 'guarded apply is not available');
    const dryRun = flag(url, 'dryRun');
    const controller = this.#deps.controller;
    const baseVersion = controller.version?.version;
    const result = await controller.applyCanary(text, {
      source: 'api',
      author: this.#author(req),
      message: `canary ${formatShare(fraction)}${o.message === undefined ? '' : `: ${o.message}`}`,
      force: flag(url, 'force'),
      dryRun,
      fraction,
    });
    const started =
      !dryRun && result.status === 'applied' && result.version !== undefined
        ? guard.start({
            durationMs: o.guardMs ?? 60_000,
            baseVersion,
            appliedVersion: result.version,
            canaryFraction: fraction,
          })
        : undefined;
    sendJson(res, 200, {
      ...result,
      canary: started === undefined ? null : (controller.canary ?? null),
      ...(started === undefined ? {} : { guard: started }),
    });
  }

  /** Body (optional): `{ "for": "10m", "reason": "..." }`. */
  async #drain(req: IncomingMessage, res: ServerResponse, p: string[]): Promise<void> {
    const drains = this.#drainView();
    const body = parseJsonBody(await readBody(req));
    const forText = body['for'];
    const reason = body['reason'];
    if (forText !== undefined && typeof forText !== 'string')
      throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', '"for" must be a duration like "10m"');
    const forMs = forText === undefined ? undefined : parseDuration(forText);
    if (forText !== undefined && (forMs === undefined || forMs <= 0))
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_BAD_REQUEST',
        `"for" must be a duration like "10m" (got "${forText}")`,
      );
    if (reason !== undefined && (typeof reason !== 'string' || reason.length > 500))
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_BAD_REQUEST',
        '"reason" must be a string of at most 500 characters',
      );
    sendJson(
      res,
      200,
      await drains.drain(p[0] as string, p[1] as string, { by: this.#author(req), reason, forMs }),
    );
  }

  #drainView(): DrainView {
    const d = this.#deps.drains;
    if (!d) throw new FulcrumError('FULCRUM_ERR_ADMIN_NOT_FOUND', 'runtime drain is not available');
    return d;
  }

  async #diffVersions(from: number, to: number): Promise<unknown> {
    const [a, b] = await Promise.all([this.#deps.store.getVersion(from), this.#deps.store.getVersion(to)]);
    for (const [n, v] of [
      [from, a],
      [to, b],
    ] as const) {
      if (!v) throw new FulcrumError('FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND', `no config version ${n}`);
    }
    const parse = (text: string) => {
      const r = loadConfigText(text, { source: 'store', env: this.#deps.env });
      return r.ok ? r.value.config : undefined;
    };
    const before = parse((a as ConfigVersion).text);
    const after = parse((b as ConfigVersion).text);
    if (!after) throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', `version ${to} no longer validates`);
    return { from, to, diff: diffConfigs(before, after) };
  }

  #pools(res: ServerResponse): void {
    const { controller, health, monitor } = this.#deps;
    const snapshot = controller.snapshot;
    sendJson(res, 200, {
      configVersion: snapshot?.version ?? null,
      pools: snapshot ? poolViews(health.describe(snapshot), monitor.poolStats()) : [],
    });
  }
}

const DRAIN_PATH =
  /^\/api\/v1\/pools\/([A-Za-z0-9][\w.-]{0,62})\/backends\/([A-Za-z0-9][\w.-]{0,62})\/drain$/;

function intParam(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', `${name} must be a non-negative integer`);
  return n;
}

function flag(url: URL, name: string): boolean {
  const v = url.searchParams.get(name);
  return v === '1' || v === 'true' || v === '';
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/g;

/** A percent-encoded header (the CLI encodes author and message); a malformed escape is a 400. */
function headerText(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  if (typeof v !== 'string') return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    throw new FulcrumError('FULCRUM_ERR_ADMIN_BAD_REQUEST', `${name} is not valid percent-encoded UTF-8`);
  }
}
