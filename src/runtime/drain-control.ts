// Runtime drain (`fulcrum drain POOL BACKEND [--for D]`, `POST .../drain`): an operator takes a
// backend out of rotation without a config change, as HAProxy's `set server ... state drain`
// does. The drain is an override kept on the backend's host state, so it survives reloads that
// keep the backend; it is recorded (who, when, why) in the store's event log and announced on
// the event stream, and an optional expiry ends it by itself.
import type { Logger } from 'pino';
import { FulcrumError, errorMessage } from '../core/errors.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { EventHub } from '../core/events.ts';
import type { HostState, RuntimeDrain } from '../data-plane/host-state.ts';
import type { Store } from '../store/store.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';

/** The longest `--for`: one timer (setTimeout's limit is about 24.8 days). */
const MAX_DRAIN_MS = 24 * 24 * 3_600_000;

export interface DrainDeps {
  health: {
    setRuntimeDrain(
      pool: string,
      backend: string,
      drain: RuntimeDrain | undefined,
      reason: string,
    ): HostState | undefined;
  };
  getSnapshot: () => Snapshot | undefined;
  store: Pick<Store, 'appendEvent'>;
  hub: EventHub;
  logger: Logger;
  clock: Clock;
}

export interface DrainRequest {
  by: string;
  reason?: string | undefined;
  /** Ends by itself after this long; undefined = until undrained. */
  forMs?: number | undefined;
}

export interface DrainAnswer {
  pool: string;
  backend: string;
  address: string;
  /** The drain in force now (null after an undrain). */
  drain: RuntimeDrain | null;
  /** The drain this call replaced or ended (null when there was none). */
  previous: RuntimeDrain | null;
  /** False when the event could not be written to the store (the drain still holds). */
  recorded: boolean;
}

export class DrainControl {
  readonly #d: DrainDeps;
  readonly #timers = new Map<string, TimerHandle>();

  constructor(deps: DrainDeps) {
    this.#d = deps;
  }

  async drain(pool: string, backend: string, req: DrainRequest): Promise<DrainAnswer> {
    const host = this.#find(pool, backend);
    const forMs = req.forMs;
    if (forMs !== undefined && (!Number.isFinite(forMs) || forMs <= 0 || forMs > MAX_DRAIN_MS)) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_BAD_REQUEST',
        `a drain's duration must be above 0 and at most 24 days (got ${forMs} ms)`,
      );
    }
    const at = this.#d.clock.wallNow();
    const drain: RuntimeDrain = {
      by: req.by,
      reason: req.reason ?? '',
      at,
      until: forMs === undefined ? undefined : at + forMs,
    };
    const previous = host.runtimeDrain ?? null;
    const why = `drained by ${drain.by}${drain.reason === '' ? '' : `: ${drain.reason}`}`;
    this.#d.health.setRuntimeDrain(pool, backend, drain, why);
    this.#clearTimer(pool, backend);
    if (forMs !== undefined) {
      const t = this.#d.clock.setTimeout(() => {
        this.#timers.delete(key(pool, backend));
        this.#expire(pool, backend, drain);
      }, forMs);
      t.unref?.();
      this.#timers.set(key(pool, backend), t);
    }
    const data = { pool, backend, address: host.address, ...drain, replaced: previous };
    this.#d.logger.warn(data, 'backend drained at runtime');
    const recorded = await this.#record('backend-drained', at, data);
    return { pool, backend, address: host.address, drain, previous, recorded };
  }

  async undrain(pool: string, backend: string, by: string): Promise<DrainAnswer> {
    const host = this.#find(pool, backend);
    const previous = host.runtimeDrain ?? null;
    if (previous === null)
      return { pool, backend, address: host.address, drain: null, previous, recorded: false };
    this.#clearTimer(pool, backend);
    this.#d.health.setRuntimeDrain(pool, backend, undefined, `undrained by ${by}`);
    const at = this.#d.clock.wallNow();
    const data = { pool, backend, address: host.address, by, at, expired: false, drain: previous };
    this.#d.logger.info(data, 'backend undrained');
    const recorded = await this.#record('backend-undrained', at, data);
    return { pool, backend, address: host.address, drain: null, previous, recorded };
  }

  stop(): void {
    for (const t of this.#timers.values()) this.#d.clock.clearTimeout(t);
    this.#timers.clear();
  }

  #expire(pool: string, backend: string, drain: RuntimeDrain): void {
    const host = this.#d
      .getSnapshot()
      ?.pools.get(pool)
      ?.state.hosts.find((h) => h.name === backend);
    // Gone from the config, or drained again since: nothing of this drain is left to end.
    if (host === undefined || host.runtimeDrain !== drain) return;
    this.#d.health.setRuntimeDrain(pool, backend, undefined, 'runtime drain expired');
    const at = this.#d.clock.wallNow();
    const data = { pool, backend, address: host.address, by: 'expiry', at, expired: true, drain };
    this.#d.logger.info(data, 'backend runtime drain expired');
    void this.#record('backend-undrained', at, data);
  }

  #find(pool: string, backend: string): HostState {
    const snap = this.#d.getSnapshot();
    const p = snap?.pools.get(pool);
    if (snap === undefined || p === undefined) {
      const known = snap === undefined ? [] : [...snap.pools.keys()];
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_NOT_FOUND',
        `no pool "${pool}" (pools: ${known.join(', ')})`,
        {
          pool,
        },
      );
    }
    const host = p.state.hosts.find((h) => h.name === backend);
    if (host === undefined) {
      throw new FulcrumError(
        'FULCRUM_ERR_ADMIN_NOT_FOUND',
        `pool "${pool}" has no backend "${backend}" (backends: ${p.state.hosts.map((h) => h.name).join(', ')})`,
        { pool, backend },
      );
    }
    return host;
  }

  #clearTimer(pool: string, backend: string): void {
    const t = this.#timers.get(key(pool, backend));
    if (t === undefined) return;
    this.#d.clock.clearTimeout(t);
    this.#timers.delete(key(pool, backend));
  }

  async #record(type: string, at: number, data: Record<string, unknown>): Promise<boolean> {
    this.#d.hub.notices.emit({ type, at, data });
    try {
      await this.#d.store.appendEvent({ at, type, data });
      return true;
    } catch (err) {
      this.#d.logger.error({ err: errorMessage(err), type }, 'could not record the drain event in the store');
      return false;
    }
  }
}

function key(pool: string, backend: string): string {
  return `${pool}\u0000${backend}`;
}
