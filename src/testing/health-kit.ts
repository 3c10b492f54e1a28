// Test support for health suites: configs and snapshots from plain pool specs, a capturing
// logger, a controllable probe, and a FakeClock stepper that lets promises settle.
import pino, { type Logger } from 'pino';
import { configSchema, type Config } from '../config/schema.ts';
import type { FakeClock } from '../core/clock.ts';
import { buildSnapshot, type Snapshot } from '../data-plane/snapshot.ts';
import type { HostRegistry } from '../data-plane/host-state.ts';
import type { Probe, ProbeResult } from '../data-plane/pool-health-options.ts';

/** Parse a config whose only listener routes to the first pool given. */
export function configWith(pools: Record<string, unknown>): Config {
  const first = Object.keys(pools)[0] ?? 'p';
  return configSchema.parse({
    version: 1,
    listeners: { web: { address: '127.0.0.1:0', routes: [{ pool: first }] } },
    pools,
  });
}

export function snapshotWith(registry: HostRegistry, pools: Record<string, unknown>, version = 1): Snapshot {
  return buildSnapshot(configWith(pools), version, registry, { random: () => 0 });
}

export interface CapturedLogger {
  logger: Logger;
  lines: { level: number; msg: string; [k: string]: unknown }[];
}

export function captureLogger(): CapturedLogger {
  const lines: CapturedLogger['lines'] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { logger, lines };
}

export type ProbeBehaviour = 'ok' | 'fail' | 'throw' | 'reject' | 'hang' | 'lame-duck';

/** A probe whose answer per address is set by the test; counts calls and concurrent checks. */
export class ScriptedProbe {
  readonly behaviour = new Map<string, ProbeBehaviour>();
  readonly calls = new Map<string, number>();
  inFlight = 0;
  maxInFlightPerAddress = 0;
  readonly #inFlightBy = new Map<string, number>();
  readonly #hung: (() => void)[] = [];

  set(address: string, b: ProbeBehaviour): void {
    this.behaviour.set(address, b);
  }

  count(address: string): number {
    return this.calls.get(address) ?? 0;
  }

  /** Let every hanging check finish (as failed). */
  releaseHung(): void {
    for (const r of this.#hung.splice(0)) r();
  }

  readonly probe: Probe = (target) => {
    const b = this.behaviour.get(target.address) ?? 'ok';
    this.calls.set(target.address, this.count(target.address) + 1);
    if (b === 'throw') throw new Error('probe exploded');
    if (b === 'reject') return Promise.reject(new Error('probe rejected'));
    const n = (this.#inFlightBy.get(target.address) ?? 0) + 1;
    this.#inFlightBy.set(target.address, n);
    this.maxInFlightPerAddress = Math.max(this.maxInFlightPerAddress, n);
    const finish = (r: ProbeResult): ProbeResult => {
      this.#inFlightBy.set(target.address, (this.#inFlightBy.get(target.address) ?? 1) - 1);
      return r;
    };
    if (b === 'hang') {
      return new Promise((resolve) =>
        this.#hung.push(() => resolve(finish({ ok: false, detail: 'timeout', lameDuck: false }))),
      );
    }
    return Promise.resolve(
      finish({
        ok: b !== 'fail',
        detail: b === 'fail' ? 'status 503' : 'status 200',
        lameDuck: b === 'lame-duck',
      }),
    );
  };
}

/** Let pending promise callbacks run (checks resolve on microtasks and immediates). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Advance a FakeClock in steps, letting promises settle between steps. */
export async function advance(clock: FakeClock, ms: number, step = 50): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.advance(Math.min(step, ms - t));
    await settle();
  }
}
