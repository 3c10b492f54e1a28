// The one path every config change takes, whatever its source (start-up file, admin API,
// CLI apply, rollback, file watch, guard):
//   parse → validate → lint → build snapshot → warm (health) → swap (proxy) → commit (store)
// A failure at any step leaves the running snapshot in place. Rollback is apply(version N).
import type pino from 'pino';
import type { LoadedConfig } from '../config/load.ts';
import { configIssuesError, loadConfigText } from '../config/load.ts';
import { lintConfig } from '../config/lint/lint-config.ts';
import type { Finding } from '../config/lint/types.ts';
import { diffConfigs, type ConfigDiff } from '../config/diff.ts';
import { FulcrumError, errorMessage, isFulcrumError } from '../core/errors.ts';
import type { EventHub } from '../core/events.ts';
import { HostRegistry } from '../health/host-state.ts';
import type { ConfigVersion, Store, VersionSource } from '../store/store.ts';
import { sha256 } from '../store/store.ts';
import { ApplyLock } from './apply-lock.ts';
import { buildSnapshot, type Snapshot } from './snapshot.ts';

/** Something that adopts a new snapshot (health warms it, the proxy swaps to it). */
export interface SnapshotConsumer {
  activate(snapshot: Snapshot): Promise<void>;
}

export interface ControllerDeps {
  store: Store;
  registry: HostRegistry;
  health: SnapshotConsumer;
  proxy: SnapshotConsumer;
  hub: EventHub;
  logger: pino.Logger;
  /** Environment for `${env:NAME}`. */
  env: Record<string, string | undefined>;
  /** Told about every apply outcome (the monitor's ConfigApplyFailed alert). */
  onApply?: (result: { ok: boolean; version?: number; error?: string }) => void;
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
}

export interface ApplyResult {
  status: 'applied' | 'unchanged' | 'dry-run';
  version: number | undefined;
  previousVersion: number | undefined;
  findings: Finding[];
  diff: ConfigDiff;
}

export class ConfigController {
  readonly #deps: ControllerDeps;
  readonly #lock = new ApplyLock();
  #snapshot: Snapshot | undefined;
  #loaded: LoadedConfig | undefined;
  #version: ConfigVersion | undefined;

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

  /** Apply an earlier version's exact text through the same path. */
  async rollback(
    version: number | undefined,
    options: Omit<ApplyOptions, 'source' | 'parent'> & { source?: 'rollback' | 'guard' } = {},
  ): Promise<ApplyResult> {
    const { store } = this.#deps;
    let target: ConfigVersion | undefined;
    if (version === undefined) {
      // No number: the version before the running one.
      const current = this.#version?.version;
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
          const snapshot = buildSnapshot(loaded.config, version.version, this.#deps.registry);
          await this.#activate(snapshot, this.#snapshot);
          const keep = new Set<string>();
          for (const p of snapshot.pools.values())
            for (const h of p.state.hosts) keep.add(HostRegistry.key(p.name, h.address));
          this.#deps.registry.retain(keep);
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

  async #apply(text: string, o: ApplyOptions): Promise<ApplyResult> {
    const { store, logger, hub } = this.#deps;
    try {
      const loaded = this.#load(text, o.origin ?? (o.source === 'api' ? '<api>' : o.source));
      const findings = lintConfig(loaded);
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
      if (o.expectedVersion !== undefined && o.expectedVersion !== previousVersion) {
        throw new FulcrumError(
          'FULCRUM_ERR_CONFIG_CONFLICT',
          `expected running version ${o.expectedVersion}, but it is ${previousVersion ?? 'none'}`,
          { expected: o.expectedVersion, actual: previousVersion ?? null },
        );
      }
      if (o.dryRun === true)
        return { status: 'dry-run', version: previousVersion, previousVersion, findings, diff };
      if (this.#version !== undefined && this.#version.sha256 === sha256(text)) {
        return { status: 'unchanged', version: previousVersion, previousVersion, findings, diff };
      }

      const latest = await store.latestVersion();
      const nextVersion = (latest?.version ?? 0) + 1;
      const snapshot = buildSnapshot(loaded.config, nextVersion, this.#deps.registry);
      const previous = this.#snapshot;
      await this.#activate(snapshot, previous);
      let committed: ConfigVersion;
      try {
        committed = await store.commitVersion({
          text,
          author: o.author ?? 'unknown',
          message: o.message ?? '',
          source: o.source,
          expectedLatest: latest?.version ?? null,
          ...(o.parent === undefined ? {} : { parent: o.parent }),
        });
      } catch (err) {
        // The store is the record of what runs: without a committed version, swap back.
        if (previous) await this.#activate(previous, snapshot);
        throw err;
      }
      this.#snapshot = snapshot;
      this.#loaded = loaded;
      this.#version = committed;
      // Forget backends the new config dropped; requests still running on them keep their object.
      const keep = new Set<string>();
      for (const p of snapshot.pools.values())
        for (const h of p.state.hosts) keep.add(HostRegistry.key(p.name, h.address));
      this.#deps.registry.retain(keep);
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
        this.#deps.onApply?.({ ok: false, error: message });
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

  #load(text: string, source: string): LoadedConfig {
    const result = loadConfigText(text, { source, env: this.#deps.env });
    // The most basic failing stage names the error: parse, then env, else invalid.
    if (!result.ok) throw configIssuesError(result.issues, source);
    return result.value;
  }

  /** Warm then swap; on failure re-adopt the previous snapshot so nothing half-applied runs. */
  async #activate(next: Snapshot, previous: Snapshot | undefined): Promise<void> {
    const { health, proxy } = this.#deps;
    try {
      await health.activate(next);
      await proxy.activate(next);
      this.#snapshot = next;
    } catch (err) {
      if (previous) {
        await health.activate(previous).catch(() => undefined);
        await proxy.activate(previous).catch(() => undefined);
        this.#snapshot = previous;
      }
      throw err;
    }
  }
}
