// The composition root: the one place that wires config, store, health, proxy, monitor,
// audit and admin together. `fulcrum start`, `fulcrum demo` and the e2e tests all call
// startBalancer().
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdirSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import pino from 'pino';
import { AdminApp } from './admin/app.ts';
import { createDashboardAssets } from './admin/dashboard/dashboard-assets.ts';
import { AuditRunner } from './audit/audit-runner.ts';
import { assertAdminSecure } from './config/admin-security.ts';
import { configIssuesError, loadConfigText, readConfigFile } from './config/load.ts';
import { lintConfig } from './config/lint/lint-config.ts';
import { preflightError, preflightIssues } from './config/preflight.ts';
import { systemClock } from './core/clock.ts';
import { FulcrumError } from './core/errors.ts';
import { EventHub } from './core/events.ts';
import { isLoopbackHost, parseAddress } from './core/units.ts';
import { HealthManager } from './health/health-manager.ts';
import { probe as httpOrTcpProbe } from './proxy/health-probe.ts';
import { HostRegistry } from './data-plane/host-state.ts';
import { Monitor } from './monitor/monitor.ts';
import { attachAccessLog } from './proxy/access-log.ts';
import { LogWriter } from './core/log-writer.ts';
import { startIdleHeapRelease } from './core/idle-heap.ts';
import { ProxyServer, type DataPlaneServer } from './proxy/proxy-server.ts';
import { WorkerDataPlane } from './workers/worker-data-plane.ts';
import { ConfigController, type ApplyResult } from './runtime/controller.ts';
import { DrainControl } from './runtime/drain-control.ts';
import { ApplyGuard } from './runtime/guard.ts';
import { scheduleStoreCheck } from './runtime/store-check.ts';
import { ADMIN_SOCKET, type HandoverReceiver } from './runtime/handover.ts';
import { chooseStartText, type StartPreference } from './runtime/start-rule.ts';
import { FleetAgent, defaultInstanceId } from './fleet/fleet-agent.ts';
import { isEtcdStore, openStore } from './store/open-store.ts';
import type { Store } from './store/store.ts';

export interface StartOptions {
  configFile: string;
  env?: Record<string, string | undefined>;
  /** Log destination (a file descriptor or path); default log.file, else stdout. */
  logDestination?: number | string;
  /** Use an in-memory store instead of the config's store.sqlite (demo and tests). */
  memoryStore?: boolean;
  /** Override admin.address (tests bind port 0). */
  adminAddress?: string;
  author?: string;
  /** Start even when the config has lint errors. */
  force?: boolean;
  /** When the store's latest version differs from the file (default `newer`; docs/config-management.md). */
  prefer?: StartPreference;
  /** Period of the store's scheduled integrity check (default STORE_CHECK_INTERVAL_MS). */
  storeCheckIntervalMs?: number;
  /** Sockets handed over by the process this one replaces (runtime/handover.ts). */
  inherited?: HandoverReceiver;
  /** Listen on addresses another process holds too (SO_REUSEPORT overlap on purpose). */
  shareAddresses?: boolean;
  /** Worker fault injection (src/workers/failpoints.ts); default the FULCRUM_FAILPOINTS variable. */
  failpoints?: string;
}

export interface Balancer {
  readonly controller: ConfigController;
  /** The data plane: one ProxyServer, or a WorkerDataPlane over `workers` threads. */
  readonly proxy: DataPlaneServer;
  /** Data-plane threads (fixed at start). */
  readonly workers: number;
  /** Set when workers > 1. */
  readonly workerPlane: WorkerDataPlane | undefined;
  readonly health: HealthManager;
  readonly drains: DrainControl;
  readonly monitor: Monitor;
  readonly store: Store;
  /** Set when the config has a `fleet` section. */
  readonly fleet: FleetAgent | undefined;
  readonly hub: EventHub;
  readonly logger: pino.Logger;
  /** http://host:port of the admin server. */
  readonly adminUrl: string;
  /**
   * Re-read the config file and apply it through the normal path (SIGHUP): a bad file is
   * refused and the running config kept; changed certificate files are loaded.
   */
  reload(): Promise<ApplyResult>;
  /** Reopen log.file (after logrotate renamed it); a no-op when logging to stdout. */
  reopenLog(): void;
  /** The admin server (its socket is handed over too). */
  readonly adminServer: Server;
  /** Stop accepting, finish in-flight requests within graceMs, close everything. */
  close(graceMs?: number, options?: { handover?: boolean }): Promise<void>;
}

export async function startBalancer(options: StartOptions): Promise<Balancer> {
  const env = options.env ?? process.env;
  const configFile = resolve(options.configFile);
  const text = await readConfigFile(configFile);
  let fileMtimeMs: number;
  try {
    fileMtimeMs = (await stat(configFile)).mtimeMs;
  } catch (err) {
    throw new FulcrumError('FULCRUM_ERR_CONFIG_READ', `cannot read ${configFile}: ${(err as Error).message}`);
  }
  // Validate once up front so start-up fails with the issues, before anything binds.
  const first = loadConfigText(text, { source: configFile, env });
  if (!first.ok) throw configIssuesError(first.issues, configFile);
  // Everything validate checks beyond the schema (admin exposure, TLS files), shared with it.
  const preflight = preflightIssues(first.value, dirname(configFile));
  if (preflight.length > 0) throw preflightError(preflight, configFile);
  // What the start-up apply of this text runs and lints (ApplyOptions.loaded), done here in the
  // same turn as the load, while its parsed document is alive: lint asks for lines.
  const startConfig = { ...first.value, baseDir: dirname(configFile) };
  const startLoad = { config: startConfig, findings: lintConfig(startConfig) };
  const config = first.value.config;
  const adminAddress = options.adminAddress ?? config.admin.address;
  const adminHp = parseAddress(adminAddress);
  if (!adminHp) throw new FulcrumError('FULCRUM_ERR_CONFIG_INVALID', `bad admin address ${adminAddress}`);
  const loopback = isLoopbackHost(adminHp.host);
  assertAdminSecure(config, adminAddress);

  // log.file is fixed at start, like admin.address; relative to the config file's directory.
  const destination = openLog(
    options.logDestination ??
      (config.log.file === undefined ? 1 : resolve(dirname(configFile), config.log.file)),
  );
  const logger = pino(
    { level: config.log.level, base: { service: 'fulcrum' }, redact: ['token', '*.token', 'authorization'] },
    destination,
  );
  const hub = new EventHub();
  const registry = new HostRegistry();
  const store = await openStore(config.store, {
    baseDir: dirname(configFile),
    ...(options.memoryStore ? { memory: true } : {}),
  });

  // Proxy and monitor read the running snapshot through these; the controller that owns it
  // is created after them because it needs them.
  let running: ConfigController | undefined;
  const current = () => running?.snapshot;
  const token = (): string | undefined => current()?.config.admin.token;
  // Distribution audits mark their probes with this per-process secret; the proxy then names
  // the backend that answered. Clients without it never see that header.
  const auditSecret = randomBytes(16).toString('hex');
  // Data-plane threads are fixed at start, like admin.address (a restart changes them).
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  if (workers > 1 && options.inherited !== undefined) {
    throw new FulcrumError(
      'FULCRUM_ERR_WORKERS_UNSUPPORTED',
      `a handover cannot pass listening sockets to ${workers} worker threads; start beside the old process with --share-address instead`,
    );
  }
  const workerPlane =
    workers > 1
      ? new WorkerDataPlane({
          workers,
          hub,
          logger,
          writeLog: (line) => destination.write(line),
          logLevel: config.log.level,
          auditSecret,
          ...(options.shareAddresses === true ? { shareAddresses: true } : {}),
          failpoints: options.failpoints ?? env['FULCRUM_FAILPOINTS'],
        })
      : undefined;
  const proxy: DataPlaneServer =
    workerPlane ??
    new ProxyServer({
      hub,
      logger,
      explainToken: token,
      auditSecret: () => auditSecret,
      ...(options.shareAddresses === true ? { shareAddresses: true } : {}),
      inherited: (address) => {
        const from = options.inherited;
        const has = from?.has(address);
        if (from === undefined || has === undefined) return undefined;
        return { ticketKeys: has.ticketKeys, take: (adopt) => from.take(address, adopt) };
      },
    });
  // One thread's request count for /api/v1/status (workers count their own in shared memory).
  const servedOnMain = { count: 0 };
  if (workerPlane === undefined) hub.requests.subscribe(() => servedOnMain.count++);
  // A load's garbage goes back to the system once traffic stops (core/idle-heap.ts); with
  // workers the main thread's heap grows with their outcomes, so it watches their count.
  // The main thread's pauses stall no request when workers serve, so only one thread's own
  // data plane waits for its streams to end.
  const idleHeap = startIdleHeapRelease(
    workerPlane === undefined && proxy instanceof ProxyServer
      ? { served: () => servedOnMain.count, inProgress: () => proxy.inProgress() }
      : { served: () => workerPlane?.workerStats().reduce((n, w) => n + w.requests, 0) ?? 0 },
  );
  // Access lines have fixed fields and carry no secrets: formatted by hand, in pino's line
  // format, into the same writer (bench/RESULTS.md prices pino's generic path).
  const accessLog =
    config.log.access.enabled && logger.isLevelEnabled('info')
      ? attachAccessLog(hub, destination, { format: config.log.access })
      : undefined;
  // Alert annotations name the config version that introduced a skew, with its time and
  // author; the monitor asks synchronously, so keep a small cache of version summaries.
  const versionInfo = new Map<number, { version: number; createdAt: number; author: string }>();
  const monitor = new Monitor({
    hub,
    clock: systemClock,
    logger,
    getSnapshot: current,
    configVersionInfo: (version) => versionInfo.get(version),
    runtimeMetrics: {
      listenerConnections: () => proxy.connectionStats(),
      logLinesDropped: () => destination.dropped,
      ...(workerPlane === undefined
        ? {}
        : { workers: () => workerPlane.workerStats(), refresh: () => workerPlane.syncHosts() }),
    },
    // In a fleet, alerts carry the fleet's instance id, the one its membership record has.
    ...(config.fleet ? { instance: config.fleet.instance ?? defaultInstanceId() } : {}),
  });
  const health = new HealthManager({
    hub,
    clock: systemClock,
    logger,
    probe: httpOrTcpProbe,
    onCheck: (pool, backend, ok) => monitor.recordHealthCheck(pool, backend, ok),
  });
  const controller = (running = new ConfigController({
    store,
    registry,
    health,
    proxy,
    hub,
    logger,
    env,
    adminAddress,
    baseDir: dirname(configFile),
    onApply: (r) => monitor.recordApply(r),
  }));
  const drains = new DrainControl({ health, getSnapshot: current, store, hub, logger, clock: systemClock });
  monitor.alertTransitions.subscribe((a) =>
    hub.notices.emit({ type: 'alert', at: Date.now(), data: { alert: a } }),
  );

  const FAIRNESS = new Set(['BackendOverfed', 'BackendStarved', 'BackendOverloaded']);
  const guard = new ApplyGuard({
    controller,
    store,
    hub,
    logger,
    fairnessAlerts: () =>
      monitor
        .alerts()
        .filter((a) => a.state === 'firing' && FAIRNESS.has(a.alertname))
        .map((a) => ({
          alertname: a.alertname,
          ...(a.labels['backend'] === undefined ? {} : { backend: a.labels['backend'] }),
          activeAt: a.firedAt ?? a.activeAt,
        })),
  });

  const audit = new AuditRunner({
    store,
    hub,
    logger,
    clock: systemClock,
    getSnapshot: current,
    getLoaded: () => running?.loaded,
    // The file the balancer was started from is the source of truth: re-read on every run,
    // so an edit or an API apply that the file does not carry shows up as drift.
    desired: async () => {
      try {
        return { text: await readFile(configFile, 'utf8'), origin: configFile, env };
      } catch {
        const latest = await store.latestVersion();
        return latest ? { text: latest.text, origin: `store version ${latest.version}`, env } : undefined;
      }
    },
    describeHealth: (snapshot) => health.describe(snapshot),
    proxyAddress: (listener) => proxy.boundAddress(listener),
    auditSecret,
    recordAudit: (r) => monitor.recordAudit(r),
  });
  // Every applied config (the first one included) may carry a new audit schedule.
  hub.notices.subscribe((n) => {
    if (n.type !== 'config-applied') return;
    const v = running?.version;
    if (v) versionInfo.set(v.version, { version: v.version, createdAt: v.createdAt, author: v.author });
    const cfg = running?.snapshot?.config;
    if (cfg) audit.schedule(cfg.audit);
    // Fields and format follow applies; turning the access log on or off takes a restart.
    if (cfg) accessLog?.configure(cfg.log.access);
    // So does the number of data-plane threads: say so instead of ignoring it silently.
    const asked = cfg === undefined ? workers : cfg.workers === 'auto' ? availableParallelism() : cfg.workers;
    if (asked !== workers) {
      logger.warn(
        { running: workers, configured: asked, version: v?.version },
        `workers: ${asked} takes effect at the next restart; ${workers} run now`,
      );
    }
  });
  for (const v of await store.listVersions({ limit: 500 })) {
    versionInfo.set(v.version, { version: v.version, createdAt: v.createdAt, author: v.author });
  }

  let fleet: FleetAgent | undefined;
  if (config.fleet !== undefined) {
    if (!isEtcdStore(store)) {
      await store.close();
      throw new FulcrumError(
        'FULCRUM_ERR_FLEET_STORE',
        'fleet needs store.etcd: a fleet shares its history through etcd',
      );
    }
    fleet = new FleetAgent({
      store,
      controller,
      fleet: config.fleet,
      env,
      logger,
      listeners: () => {
        const out: Record<string, string> = {};
        for (const name of controller.snapshot?.listeners.keys() ?? []) {
          const a = proxy.boundAddress(name);
          if (a) out[name] = `${a.host}:${a.port}`;
        }
        return out;
      },
      degradedReasons: () => monitor.degradedReasons(),
      snapshot: current,
      raiseAlerts: (rule, active) => monitor.raiseExternal(rule, active),
      fairnessAlerts: () =>
        monitor
          .alerts()
          .filter((x) => x.state === 'firing' && x.category === 'fairness')
          .map((x) => ({
            name: `${x.alertname}${x.labels['backend'] === undefined ? '' : ` ${x.labels['backend']}`}`,
            firedAt: x.firedAt ?? x.activeAt,
          })),
      // The same flag that allows a local overlap allows it against fleet members.
      ...(options.shareAddresses === true ? { allowOverlap: true } : {}),
    });
  }

  const stopStoreCheck = scheduleStoreCheck({
    store,
    logger,
    hub,
    ...(options.storeCheckIntervalMs === undefined ? {} : { intervalMs: options.storeCheckIntervalMs }),
  });
  let adminServer: Server | undefined;
  try {
    await workerPlane?.start();
    const latest = await store.latestVersion();
    // A fleet instance runs the fleet's latest version; its file only seeds an empty history.
    if (fleet) {
      await fleet.load();
      fleet.checkOverlap(latest?.text ?? text);
    }
    const start = chooseStartText({
      file: configFile,
      fileText: text,
      fileMtimeMs,
      latest,
      prefer: options.prefer ?? 'newer',
    });
    if (start.warning !== undefined && !(fleet && latest))
      logger.warn({ storeVersion: latest?.version }, start.warning);
    if (fleet && latest) await controller.adopt(latest);
    else
      await controller.apply(start.text, {
        source: 'file',
        origin: start.resume === undefined ? configFile : `store version ${start.resume.version}`,
        author: options.author ?? 'fulcrum start',
        message: `started from ${configFile}`,
        // Start-up refuses lint errors like apply does, unless forced or accepted before.
        force: options.force === true || start.resume !== undefined,
        ...(start.resume === undefined ? {} : { resume: start.resume }),
        // Loaded and linted above, with the same env: not parsed a second time.
        loaded: startLoad,
      });
    monitor.start();
    const app = new AdminApp({
      controller,
      store,
      hub,
      health,
      monitor,
      token,
      env,
      loopback,
      guard,
      audit,
      ...(fleet ? { fleet } : {}),
      dashboard: createDashboardAssets(),
      drains,
      workers: () => ({
        configured: workers,
        workers: workerPlane?.workerStats() ?? [
          {
            worker: 0,
            alive: true,
            connections: proxy.connectionStats().reduce((a, c) => a + c.open, 0),
            requests: servedOnMain.count,
            restarts: 0,
          },
        ],
      }),
      listenersBound: () => {
        const s = controller.snapshot;
        return s !== undefined && [...s.listeners.keys()].every((l) => proxy.boundAddress(l) !== undefined);
      },
    });
    adminServer = createServer(app.handle);
    adminServer.headersTimeout = 10_000;
    adminServer.requestTimeout = 60_000;
    const admin = adminServer;
    if (options.inherited?.has(ADMIN_SOCKET) === undefined) await listen(admin, adminHp.host, adminHp.port);
    else await options.inherited.take(ADMIN_SOCKET, (from) => admin.listen(from));
    await fleet?.start(serverUrl(adminServer, adminAddress));
  } catch (err) {
    await proxy.shutdown(0).catch(() => undefined);
    idleHeap.stop();
    stopStoreCheck();
    health.stop();
    drains.stop();
    monitor.stop();
    guard.stop();
    audit.stop();
    await fleet?.stop();
    adminServer?.close();
    await store.close();
    throw err;
  }
  const adminUrl = serverUrl(adminServer, adminAddress);
  const listeners: Record<string, string> = {};
  for (const name of controller.snapshot?.listeners.keys() ?? []) {
    const a = proxy.boundAddress(name);
    if (a) listeners[name] = `${a.host}:${a.port}`;
  }
  logger.info(
    {
      pid: process.pid,
      listeners,
      admin: adminUrl,
      version: controller.version?.version,
      ...(fleet ? { instance: fleet.instance } : {}),
    },
    'fulcrum started',
  );

  let closing: Promise<void> | undefined;
  const server = adminServer;
  return {
    controller,
    proxy,
    workers,
    workerPlane,
    health,
    drains,
    monitor,
    store,
    fleet,
    hub,
    logger,
    adminUrl,
    async reload() {
      let next: string;
      try {
        next = await readFile(configFile, 'utf8');
      } catch (err) {
        throw new FulcrumError(
          'FULCRUM_ERR_CONFIG_READ',
          `cannot read ${configFile}: ${(err as Error).message}`,
        );
      }
      return controller.apply(next, {
        source: 'file',
        origin: configFile,
        author: 'SIGHUP',
        message: `reload of ${configFile}`,
        // A balancer started with --force reloads its file the same way.
        ...(options.force === true ? { force: true } : {}),
      });
    },
    reopenLog() {
      try {
        destination.reopen();
      } catch (err) {
        const e = logOpenError(err);
        logger.error({ err: e, code: e.code }, e.message);
        throw e;
      }
    },
    adminServer: server,
    close(graceMs = 10_000, closeOptions = {}) {
      closing ??= (async () => {
        logger.info({ graceMs, handover: closeOptions.handover === true }, 'shutting down');
        // Leave the fleet first, so the others see a clean stop rather than a lost instance.
        await fleet?.stop();
        await proxy.shutdown(graceMs, closeOptions);
        idleHeap.stop();
        stopStoreCheck();
        health.stop();
        drains.stop();
        monitor.stop();
        guard.stop();
        audit.stop();
        accessLog?.stop();
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        await store.close();
        await destination.end();
      })();
      return closing;
    },
  };
}

/** The log writer; a log.file's directory is created like the store's. */
function openLog(dest: number | string): LogWriter {
  try {
    if (typeof dest === 'string') mkdirSync(dirname(dest), { recursive: true });
    return new LogWriter(dest);
  } catch (err) {
    throw logOpenError(err);
  }
}

function logOpenError(err: unknown): FulcrumError {
  return new FulcrumError('FULCRUM_ERR_LOG_OPEN', `cannot open the log file: ${(err as Error).message}`);
}

function serverUrl(server: Server, fallback: string): string {
  const addr = server.address();
  return typeof addr === 'object' && addr !== null
    ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
    : `http://${fallback}`;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(
        new FulcrumError(
          'FULCRUM_ERR_LISTEN',
          `admin cannot listen on ${host}:${port}: ${err.code ?? err.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
}
