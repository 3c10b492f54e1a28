// The one path every config change takes, whatever its source (start-up file, admin API,
// CLI apply, rollback, file watch, guard):
//   parse → validate → lint → build snapshot → warm (health) → swap (proxy) → commit (store)
// A failure at any step leaves the running snapshot in place, and changes nothing of it: health
// is prepared (new hosts staged and warmed) beside the running pools and committed only after
// the swap and the store commit. Rollback is apply(version N).
import type pino from 'pino';
import { configFingerprint } from '../config/config-fingerprint.ts';
import type { LoadedConfig } from '../config/load.ts';
import { assertAdminSecure } from '../config/admin-security.ts';
import { configIssuesError, loadConfigText } from '../config/load.ts';
import { lintConfig } from '../config/lint/lint-config.ts';
import type { Finding } from '../config/lint/types.ts';
import { diffConfigs, type ConfigDiff } from '../config/diff.ts';
import { formatPath } from '../config/issue.ts';
import { resolveTlsPaths, tlsProblems } from '../config/tls-files.ts';
import { FulcrumError, errorMessage, isFulcrumError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import { createPolicy } from '../balancer/registry.ts';
import type { PoolConfig } from '../config/schema.ts';
import { HostRegistry, type HostState } from '../data-plane/host-state.ts';
import type { ConfigVersion, CommitInput, Store, VersionSource } from '../store/store.ts';
import { ApplyLock } from './apply-lock.ts';
import { withCanaryWeights } from './canary-weights.ts';
import { buildSnapshot, type Snapshot } from '../data-plane/snapshot.ts';

/** Something that adopts a new snapshot (the proxy swaps to it; on failure it keeps the old one). */
export interface SnapshotConsumer {
  activate(snapshot: Snapshot): Promise<void>;
  /** Traffic-slice canary: run `fraction` of new requests on `snapshot` beside the running one. */
  activateCanary?(snapshot: Snapshot, fraction: number): void;
  /** End it: promote (the canary becomes the whole traffic) or roll back (the running one takes it all). */
  endCanary?(promote: boolean): Promise<void>;
}

/** A running traffic-slice canary, as the guard and the admin API see it. */
export interface CanaryView {
  /** The stored version the canary runs (committed when it started). */
  version: number;
  /** The version the rest of the traffic runs (and a rollback returns to). */
  baseVersion: number;
  fraction: number;
  startedAt: number;
  /** Backend names the canary's pools have (a fairness alert on one during the canary counts against it). */
  backends: string[];
  /** Of those, the ones the running pools do not have. */
  newBackends: string[];
}

/** How a canary ended: the version now running, and why. */
export interface CanaryEnd {
  outcome: 'promoted' | 'rolled-back';
  /** The version running now: the canary's when promoted, the rollback's record otherwise. */
  version: number | undefined;
  canaryVersion: number;
  reason: string;
}

interface CanaryRun {
  view: CanaryView;
  snapshot: Snapshot;
  record: ConfigVersion;
  base: ConfigVersion;
  prep: unknown;
  loaded: LoadedConfig;
  fingerprint: string;
}

/** Two-phase health activation (HealthManager): prepare beside the running pools, then commit or discard. */
export interface HealthActivation<P = unknown> {
  prepare(snapshot: Snapshot): Promise<P>;
  commit(preparation: P): void;
  discard(preparation: P): void;
}

export interface ControllerDeps {
  store: Store;
  registry: HostRegistry;
  health: HealthActivation;
  proxy: SnapshotConsumer;
  hub: EventHub;
  logger: pino.Logger;
  /** Environment for `${env:NAME}`. */
  env: Record<string, string | undefined>;
  /** Where the admin listens when that overrides admin.address (see assertAdminSecure). */
  adminAddress?: string;
  /** Told about every apply outcome (the monitor's ConfigApplyFailed alert). */
  onApply?: (result: { ok: boolean; version?: number; error?: string; refused?: boolean }) => void;
  /** Directory relative TLS paths resolve against (the start file's, like store.sqlite). */
  baseDir?: string;
}

export interface ApplyOptions {
  source: VersionSource;
  author?: string;
  message?: string;
  /** Apply despite lint errors. */
  force?: boolean;
  /** Validate, lint and diff only (validate = apply minus start). */
  dryRun?: boolean;
  /** Optimistic concurrency: refuse unless the running version is this one. */
  expectedVersion?: number;
  /** For rollbacks: the version whose text is being restored. */
  parent?: number;
  /** Where the text came from, for messages (file path or "<api>"). */
  origin?: string;
  /** Start-up: the text is this stored version; run it without committing a new one. */
  resume?: ConfigVersion;
  /**
   * Start-up: `text` as loadConfigText loaded it (with the controller's env, source and base
   * directory) and lintConfig's findings on it, both done before anything bound. Used instead of
   * loading and linting it again when text, source and base directory are the same: a load of
   * a thousand backends leaves some 4 MB in V8's old space, which RSS keeps (bench/RESULTS.md).
   * The findings come along because lint asks for lines, and the parsed document behind them
   * is held weakly (parse.ts): after a collection, linting again would parse the text again.
   */
  loaded?: { config: LoadedConfig; findings: Finding[] };
}

export interface ApplyResult {
  status: 'applied' | 'unchanged' | 'dry-run';
  version: number | undefined;
  previousVersion: number | undefined;
  findings: Finding[];
  diff: ConfigDiff;
}

/** Errors that turn a config down before anything is touched. */
const REFUSALS: ReadonlySet<string> = new Set([
  'FULCRUM_ERR_CONFIG_PARSE',
  'FULCRUM_ERR_CONFIG_ENV',
  'FULCRUM_ERR_CONFIG_INVALID',
  'FULCRUM_ERR_CONFIG_LINT',
  'FULCRUM_ERR_CONFIG_CONFLICT',
  'FULCRUM_ERR_TLS',
]);

export class ConfigController {
  readonly #deps: ControllerDeps;
  readonly #lock = new ApplyLock();
  #snapshot: Snapshot | undefined;
  #loaded: LoadedConfig | undefined;
  #version: ConfigVersion | undefined;
  #fingerprint: string | undefined;
  /** A traffic-slice canary beside the running snapshot (#snapshot/#version stay the baseline). */
  #canary: CanaryRun | undefined;

  constructor(deps: ControllerDeps) {
    this.#deps = deps;
  }

  /** The running snapshot (undefined before the first apply). Read on every request. */
  get snapshot(): Snapshot | undefined {
    return this.#snapshot;
  }

  get loaded(): LoadedConfig | undefined {
    return this.#loaded;
  }

  /** The stored version the balancer is running. */
  get version(): ConfigVersion | undefined {
    return this.#version;
  }

  apply(text: string, options: ApplyOptions): Promise<ApplyResult> {
    return this.#lock.run(() => this.#apply(text, options));
  }

  /** The running traffic-slice canary, if any. */
  get canary(): CanaryView | undefined {
    return this.#canary?.view;
  }

  /**
   * Start a traffic-slice canary: the same path as apply (parse → … → warm) up to the swap;
   * then `fraction` of new requests run on the new snapshot beside the running one, and the
   * version is committed (source, author and message as given). The running snapshot stays
   * `snapshot`/`version` until endCanary(true). Dry runs and unchanged configs start nothing.
   */
  applyCanary(text: string, options: ApplyOptions & { fraction: number }): Promise<ApplyResult> {
    return this.#lock.run(async () => {
      const proxy = this.#deps.proxy;
      if (proxy.activateCanary === undefined || proxy.endCanary === undefined) throw noCanaryDataPlane();
      if (options.dryRun !== true) {
        if (this.#canary !== undefined) {
          throw new FulcrumError(
            'FULCRUM_ERR_CANARY_RUNNING',
            `a canary of version ${this.#canary.view.version} is running; wait for its verdict or end it with fulcrum rollback`,
            { version: this.#canary.view.version },
          );
        }
        if (this.#snapshot === undefined || this.#version === undefined) {
          throw new FulcrumError(
            'FULCRUM_ERR_CANARY_INVALID',
            'a canary needs a running config to compare with',
          );
        }
      }
      return this.#apply(text, options, options.fraction);
    });
  }

  /**
   * End the running canary (the guard's verdict, or an operator): promote makes its snapshot the
   * whole traffic; roll back returns every new request to the running snapshot and commits the
   * running text again as the latest version (so the store names what runs), with `reason`.
   */
  endCanary(
    promote: boolean,
    o: { reason: string; source?: VersionSource; author?: string },
  ): Promise<CanaryEnd | undefined> {
    return this.#lock.run(() => this.#endCanary(promote, o));
  }

  /** Apply an earlier version's exact text through the same path. */
  async rollback(
    version: number | undefined,
    options: Omit<ApplyOptions, 'source' | 'parent'> & { source?: 'rollback' | 'guard' } = {},
  ): Promise<ApplyResult> {
    const { store } = this.#deps;
    let target: ConfigVersion | undefined;
    if (version === undefined) {
      // No number: the version before the running one.
      // During a canary the version before it is the running one: ending the canary.
      const current = this.#canary?.view.version ?? this.#version?.version;
      const list = await store.listVersions({
        limit: 1,
        ...(current === undefined ? {} : { before: current }),
      });
      target = list[0] ? await store.getVersion(list[0].version) : undefined;
    } else {
      target = await store.getVersion(version);
    }
    if (target === undefined) {
      throw new FulcrumError(
        'FULCRUM_ERR_CONFIG_VERSION_NOT_FOUND',
        version === undefined ? 'no earlier version to roll back to' : `no config version ${version}`,
      );
    }
    const canaryBase = this.#canary?.base.version;
    if (canaryBase !== undefined && target.version === canaryBase) {
      // Rolling back to what runs beside a canary: end the canary (its share returns to it).
      const ended = await this.#lock.run(async () => {
        const run = this.#canary;
        const end = await this.#endCanary(false, {
          reason: options.message ?? `rolled back by ${options.author ?? 'unknown'}`,
          source: 'rollback',
          author: options.author ?? 'unknown',
        });
        if (run === undefined || end === undefined) return undefined;
        return {
          status: 'applied' as const,
          version: end.version,
          previousVersion: end.canaryVersion,
          findings: [],
          diff: diffConfigs(run.loaded.config, (this.#loaded ?? run.loaded).config),
        };
      });
      if (ended !== undefined) return ended;
    }
    return this.apply(target.text, {
      ...options,
      source: options.source ?? 'rollback',
      parent: target.version,
      message: options.message ?? `rollback to version ${target.version}`,
      // The text was accepted once; its lint findings were weighed then.
      force: true,
    });
  }

  /**
   * Run a version another instance committed (a fleet follower): validate → build → warm →
   * swap, without committing anything. `${env:}` resolves against this instance's own
   * environment, so per-host addresses stay per host. A failure keeps the running version.
   */
  adopt(version: ConfigVersion): Promise<'adopted' | 'unchanged'> {
    return this.#lock.run(async () => {
      if (this.#version?.version === version.version) return 'unchanged';
      const { logger, hub } = this.#deps;
      try {
        const loaded = this.#load(version.text, `store version ${version.version}`);
        const previousVersion = this.#version?.version;
        // Same text under a new number (a rollback to what runs): only the number moves.
        if (this.#version?.sha256 !== version.sha256 || this.#snapshot === undefined) {
          const snapshot = buildSnapshot(loaded.config, version.version, this.#deps.registry, {
            staged: true,
          });
          // `version` as the resumed record: warm → swap with no store commit (it is stored already).
          await this.#activate(snapshot, false, version, {
            text: version.text,
            author: version.author,
            message: version.message,
            source: version.source,
            expectedLatest: null,
          });
        }
        this.#loaded = loaded;
        this.#version = version;
        logger.info({ version: version.version, previousVersion }, 'config version adopted');
        hub.notices.emit({
          type: 'config-applied',
          at: Date.now(),
          data: { version: version.version, previousVersion: previousVersion ?? null, source: 'etcd' },
        });
        this.#deps.onApply?.({ ok: true, version: version.version });
        return 'adopted';
      } catch (err) {
        const message = errorMessage(err);
        logger.warn(
          { err: message, version: version.version },
          'cannot adopt config version; running config kept',
        );
        this.#deps.onApply?.({ ok: false, error: message });
        hub.notices.emit({
          type: 'config-apply-failed',
          at: Date.now(),
          data: { source: 'etcd', version: version.version, message },
        });
        if (isFulcrumError(err)) throw err;
        throw new FulcrumError('FULCRUM_ERR_CONFIG_APPLY', message, undefined, { cause: err });
      }
    });
  }

  async #apply(text: string, o: ApplyOptions, canaryFraction?: number): Promise<ApplyResult> {
    const { store, logger, hub } = this.#deps;
    if (this.#canary !== undefined && o.dryRun !== true) {
      // Any other apply ends a running canary first: its share returns to the running config.
      await this.#endCanary(false, {
        reason: `${o.source === 'rollback' ? 'a rollback' : `an apply (${o.source})`} by ${o.author ?? 'unknown'} ended it`,
        source: o.source,
        author: o.author ?? 'unknown',
      });
    }
    try {
      const source = o.origin ?? (o.source === 'api' ? '<api>' : o.source);
      const pre = o.loaded;
      const same =
        pre !== undefined &&
        pre.config.text === text &&
        pre.config.source === source &&
        pre.config.baseDir === this.#baseDir;
      const loaded = same ? pre.config : this.#load(text, source);
      assertAdminSecure(loaded.config, this.#deps.adminAddress);
      const findings = same ? pre.findings : lintConfig(loaded);
      const diff = diffConfigs(this.#loaded?.config, loaded.config);
      const previousVersion = this.#version?.version;
      const errors = findings.filter((f) => f.severity === 'error');
      if (errors.length > 0 && o.force !== true && o.dryRun !== true) {
        throw new FulcrumError(
          'FULCRUM_ERR_CONFIG_LINT',
          `config has ${errors.length} lint error(s); fix them or apply with --force`,
          { findings: errors },
        );
      }
      // Certificates that do not load refuse the config before anything changes (dry runs too).
      const tls = tlsProblems(loaded.config, this.#baseDir);
      if (tls[0] !== undefined) {
        throw new FulcrumError('FULCRUM_ERR_TLS', `${formatPath(tls[0].path)}: ${tls[0].message}`, {
          problems: tls,
        });
      }
      if (o.expectedVersion !== undefined && o.expectedVersion !== previousVersion) {
        throw new FulcrumError(
          'FULCRUM_ERR_CONFIG_CONFLICT',
          `expected running version ${o.expectedVersion}, but it is ${previousVersion ?? 'none'}`,
          { expected: o.expectedVersion, actual: previousVersion ?? null },
        );
      }
      if (o.dryRun === true)
        return { status: 'dry-run', version: previousVersion, previousVersion, findings, diff };
      // The same config as parsed, with the same certificate contents, changes nothing.
      const resolved = resolveTlsPaths(loaded.config, this.#baseDir);
      const fingerprint = configFingerprint(resolved);
      if (this.#version !== undefined && this.#fingerprint === fingerprint) {
        return { status: 'unchanged', version: previousVersion, previousVersion, findings, diff };
      }

      const latest = await store.latestVersion();
      const nextVersion = o.resume?.version ?? (latest?.version ?? 0) + 1;
      // A canary's pools balance by its own weights over the shared hosts (canary-weights.ts).
      const snapshot = buildSnapshot(resolved, nextVersion, this.#deps.registry, {
        staged: true,
        ...(canaryFraction === undefined
          ? {}
          : {
              policy: (_name: string, pc: PoolConfig) =>
                withCanaryWeights<HostState>(
                  createPolicy(pc.policy, {
                    random: Math.random,
                    ...(pc.hash ? { balanceFactor: pc.hash.balanceFactor } : {}),
                  }),
                  pc,
                ),
            }),
      });
      const record: CommitInput = {
        text,
        author: o.author ?? 'unknown',
        message: o.message ?? '',
        source: o.source,
        expectedLatest: latest?.version ?? null,
        ...(o.parent === undefined ? {} : { parent: o.parent }),
      };
      if (canaryFraction !== undefined) {
        const view = await this.#startCanary(snapshot, o.force === true, record, canaryFraction, {
          loaded,
          fingerprint,
        });
        logger.info(
          {
            version: view.version,
            baseVersion: view.baseVersion,
            fraction: canaryFraction,
            author: record.author,
          },
          'canary started',
        );
        hub.notices.emit({ type: 'canary-started', at: Date.now(), data: { ...view } });
        this.#deps.onApply?.({ ok: true, version: view.version });
        return { status: 'applied', version: view.version, previousVersion, findings, diff };
      }
      const committed = await this.#activate(snapshot, o.force === true, o.resume, record);
      this.#loaded = loaded;
      this.#version = committed;
      this.#fingerprint = fingerprint;
      logger.info(
        { version: committed.version, previousVersion, source: o.source, author: committed.author },
        'config applied',
      );
      hub.notices.emit({
        type: 'config-applied',
        at: Date.now(),
        data: { version: committed.version, previousVersion: previousVersion ?? null, source: o.source },
      });
      this.#deps.onApply?.({ ok: true, version: committed.version });
      return { status: 'applied', version: committed.version, previousVersion, findings, diff };
    } catch (err) {
      const message = errorMessage(err);
      if (o.dryRun !== true) {
        logger.warn({ err: message, source: o.source }, 'config apply refused; running config kept');
        // A refusal answered to its caller (API, CLI, rollback) raises no alert; one nobody
        // was there to see (file watch, SIGHUP) does, like a failure to start the new config.
        const refused =
          isFulcrumError(err) && REFUSALS.has(err.code) && o.source !== 'watch' && o.source !== 'file';
        this.#deps.onApply?.({ ok: false, error: message, ...(refused ? { refused } : {}) });
        hub.notices.emit({
          type: 'config-apply-failed',
          at: Date.now(),
          data: { source: o.source, message },
        });
        await store
          .appendEvent({ at: Date.now(), type: 'apply-failed', data: { source: o.source, message } })
          .catch(() => undefined);
      }
      if (isFulcrumError(err)) throw err;
      throw new FulcrumError('FULCRUM_ERR_CONFIG_APPLY', message, undefined, { cause: err });
    }
  }

  /** Warm → slice (proxy) → commit (store); the health preparation stays open until the end. */
  async #startCanary(
    next: Snapshot,
    force: boolean,
    record: CommitInput,
    fraction: number,
    kept: { loaded: LoadedConfig; fingerprint: string },
  ): Promise<CanaryView> {
    const { proxy, store } = this.#deps;
    const previous = this.#snapshot as Snapshot;
    const base = this.#version as ConfigVersion;
    if (proxy.activateCanary === undefined || proxy.endCanary === undefined) throw noCanaryDataPlane();
    const { prep, refuse } = await this.#warm(next, previous, force);
    try {
      proxy.activateCanary(next, fraction);
    } catch (err) {
      return refuse(err);
    }
    let committed: ConfigVersion;
    try {
      committed = await store.commitVersion(record);
    } catch (err) {
      await proxy.endCanary(false);
      return refuse(err);
    }
    const running = hostKeys(previous);
    const backends = new Set<string>();
    const newBackends = new Set<string>();
    for (const p of next.pools.values())
      for (const h of p.state.hosts) {
        backends.add(h.name);
        if (!running.has(HostRegistry.key(p.name, h.name, h.address))) newBackends.add(h.name);
      }
    const view: CanaryView = {
      version: committed.version,
      baseVersion: base.version,
      fraction,
      startedAt: Date.now(),
      backends: [...backends].sort(),
      newBackends: [...newBackends].sort(),
    };
    this.#canary = { view, snapshot: next, record: committed, base, prep, ...kept };
    return view;
  }

  async #endCanary(
    promote: boolean,
    o: { reason: string; source?: VersionSource; author?: string },
  ): Promise<CanaryEnd | undefined> {
    const run = this.#canary;
    if (run === undefined) return undefined;
    this.#canary = undefined;
    const { proxy, health, registry, store, logger, hub } = this.#deps;
    const endCanary = proxy.endCanary?.bind(proxy) ?? (async () => {});
    let reason = o.reason;
    if (promote) {
      try {
        await endCanary(true);
      } catch (err) {
        promote = false;
        reason = `${reason}; promotion failed: ${errorMessage(err)}`;
      }
    }
    const base = { version: run.base.version, fraction: run.view.fraction, reason };
    if (promote) {
      health.commit(run.prep);
      this.#snapshot = run.snapshot;
      this.#loaded = run.loaded;
      this.#version = run.record;
      this.#fingerprint = run.fingerprint;
      registry.retain(hostKeys(run.snapshot));
      logger.info({ version: run.record.version, reason }, 'canary promoted');
      await store
        .appendEvent({ at: Date.now(), type: 'canary-promoted', version: run.record.version, data: base })
        .catch(() => undefined);
      hub.notices.emit({
        type: 'canary-promoted',
        at: Date.now(),
        data: { version: run.record.version, baseVersion: run.base.version, reason },
      });
      hub.notices.emit({
        type: 'config-applied',
        at: Date.now(),
        data: { version: run.record.version, previousVersion: run.base.version, source: 'canary' },
      });
      return { outcome: 'promoted', version: run.record.version, canaryVersion: run.record.version, reason };
    }
    await endCanary(false);
    health.discard(run.prep);
    registry.retain(hostKeys(this.#snapshot));
    // The store's latest version must be what runs (a restart resumes it): the running text again.
    let rollbackVersion: number | undefined;
    try {
      const latest = await store.latestVersion();
      const committed = await store.commitVersion({
        text: run.base.text,
        author: o.author ?? 'guard',
        message: `canary of version ${run.record.version} rolled back: ${reason}`,
        source: o.source ?? 'guard',
        expectedLatest: latest?.version ?? null,
        parent: run.base.version,
      });
      this.#version = committed;
      rollbackVersion = committed.version;
    } catch (err) {
      reason = `${reason}; recording the rollback failed: ${errorMessage(err)}`;
      logger.error({ err: errorMessage(err) }, 'canary rolled back but its record failed');
    }
    logger.warn({ version: run.record.version, rollbackVersion, reason }, 'canary rolled back');
    await store
      .appendEvent({
        at: Date.now(),
        type: 'canary-rollback',
        version: run.record.version,
        data: { ...base, reason, rollbackVersion: rollbackVersion ?? null },
      })
      .catch(() => undefined);
    hub.notices.emit({
      type: 'canary-rolled-back',
      at: Date.now(),
      data: { version: run.record.version, baseVersion: run.base.version, reason },
    });
    if (rollbackVersion !== undefined) {
      hub.notices.emit({
        type: 'config-applied',
        at: Date.now(),
        data: { version: rollbackVersion, previousVersion: run.record.version, source: o.source ?? 'guard' },
      });
    }
    return { outcome: 'rolled-back', version: rollbackVersion, canaryVersion: run.record.version, reason };
  }

  get #baseDir(): string {
    return this.#deps.baseDir ?? process.cwd();
  }

  #load(text: string, source: string): LoadedConfig {
    const result = loadConfigText(text, { source, env: this.#deps.env });
    // The most basic failing stage names the error: parse, then env, else invalid.
    if (!result.ok) throw configIssuesError(result.issues, source);
    return { ...result.value, baseDir: this.#baseDir };
  }

  /**
   * Warm `next` beside the running pools; refused (nothing changed) when a pool that serves
   * now would have no available backend, unless forced. `refuse` discards the preparation and
   * forgets the backends the build registered, then throws.
   */
  async #warm(
    next: Snapshot,
    previous: Snapshot | undefined,
    force: boolean,
  ): Promise<{ prep: unknown; refuse: (err: unknown) => never }> {
    const { health, registry } = this.#deps;
    const prep = await health.prepare(next);
    const refuse = (err: unknown): never => {
      health.discard(prep);
      // New backends were registered by the build; only the running ones stay.
      registry.retain(hostKeys(previous));
      throw err;
    };
    const dark = force ? undefined : darkenedPool(previous, next);
    if (dark !== undefined) {
      return refuse(
        new FulcrumError(
          'FULCRUM_ERR_CONFIG_WARM',
          `pool ${dark.pool} serves now but would have no available backend: ${dark.backends}; nothing changed (apply with --force to run it anyway)`,
          { pool: dark.pool },
        ),
      );
    }
    return { prep, refuse };
  }

  /**
   * Warm (prepare) → swap (proxy) → commit (store) → commit (health). A refusal before the
   * store commit discards what was prepared; the running pools were never touched.
   */
  async #activate(
    next: Snapshot,
    force: boolean,
    resume: ConfigVersion | undefined,
    record: CommitInput,
  ): Promise<ConfigVersion> {
    const { health, proxy, store, registry, logger } = this.#deps;
    const previous = this.#snapshot;
    const { prep, refuse } = await this.#warm(next, previous, force);
    try {
      // On a bind failure the proxy keeps the previous snapshot.
      await proxy.activate(next);
    } catch (err) {
      return refuse(err);
    }
    let committed: ConfigVersion;
    try {
      committed = resume ?? (await store.commitVersion(record));
    } catch (err) {
      // The store is the record of what runs: without a committed version, swap back.
      let swappedBack = previous !== undefined;
      if (previous !== undefined) {
        await proxy.activate(previous).catch((swapErr: unknown) => {
          swappedBack = false;
          logger.error({ err: errorMessage(swapErr) }, 'cannot swap back after a failed commit');
        });
      }
      if (swappedBack || previous === undefined) return refuse(err);
      // The proxy still runs `next`: its hosts must be health-managed.
      health.commit(prep);
      this.#snapshot = next;
      registry.retain(hostKeys(next));
      throw err;
    }
    health.commit(prep);
    this.#snapshot = next;
    // Forget backends the new config dropped; requests still running on them keep their object.
    registry.retain(hostKeys(next));
    return committed;
  }
}

function noCanaryDataPlane(): FulcrumError {
  return new FulcrumError(
    'FULCRUM_ERR_CANARY_INVALID',
    'a traffic-slice canary needs the single-thread data plane (workers: 1); with worker threads use a guarded apply',
  );
}

function hostKeys(snapshot: Snapshot | undefined): Set<string> {
  const keys = new Set<string>();
  for (const p of snapshot?.pools.values() ?? [])
    for (const h of p.state.hosts) keys.add(HostRegistry.key(p.name, h.name, h.address));
  return keys;
}

/**
 * The first pool that serves in `previous` but would have no available backend in `next` once
 * warm-up is done (its new backends failed their first check, the rest drained): applying
 * that would turn every request to the pool into a 503.
 */
function darkenedPool(
  previous: Snapshot | undefined,
  next: Snapshot,
): { pool: string; backends: string } | undefined {
  for (const [name, pr] of next.pools) {
    const before = previous?.pools.get(name)?.state;
    if (before === undefined || before.availableCount === 0) continue;
    const serving = pr.state.hosts.some((h, i) => {
      const b = pr.config.backends[i];
      const drained = b === undefined || b.drain || b.weight <= 0 || h.lameDuck;
      return !drained && (h.status === 'healthy' || h.status === 'slow-start');
    });
    if (serving) continue;
    const backends = pr.state.hosts
      .map((h) => `${h.name} ${h.status}${h.lastCheck === null ? '' : ` (${h.lastCheck.detail})`}`)
      .join(', ');
    return { pool: name, backends };
  }
  return undefined;
}
