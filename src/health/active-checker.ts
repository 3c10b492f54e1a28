// The active check loop of one backend: run a probe, report it, wait interval ± jitter
// (measured from the start of the previous check), repeat. Checks of one backend never
// overlap (the next is scheduled only after the previous settled) and the loop survives
// any error, in the probe or in the result handler.
import type { Clock, TimerHandle } from '../core/clock.ts';
import { errorMessage } from '../core/errors.ts';
import type { Probe, ProbeOptions, ProbeResult, ProbeTarget } from '../data-plane/pool-health-options.ts';

export interface CheckSchedule {
  interval: number;
  /** Fraction of the interval each wait may deviate, both ways. */
  jitter: number;
}

export interface ActiveCheckerDeps {
  clock: Clock;
  random: () => number;
  probe: Probe;
  /** Current options (read before every check, so a reload takes effect without a restart). */
  options: () => { probe: ProbeOptions; schedule: CheckSchedule };
  onResult: (result: ProbeResult) => void;
  onError: (err: unknown) => void;
}

export class ActiveChecker {
  readonly #target: ProbeTarget;
  readonly #deps: ActiveCheckerDeps;
  #timer: TimerHandle | undefined;
  #running = false;
  #stopped = true;
  /** Number of checks completed. */
  completed = 0;

  constructor(target: ProbeTarget, deps: ActiveCheckerDeps) {
    this.#target = target;
    this.#deps = deps;
  }

  get running(): boolean {
    return !this.#stopped;
  }

  /** Start the loop; the first check runs after `firstDelayMs` (0 = now). */
  start(firstDelayMs = 0): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    // Run a due first check now rather than through a 0 ms timer (warm-up waits for it).
    if (firstDelayMs <= 0) void this.#run();
    else this.#schedule(firstDelayMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    const t = this.#deps.clock.setTimeout(() => {
      this.#timer = undefined;
      void this.#run();
    }, ms);
    t.unref?.();
    this.#timer = t;
  }

  async #run(): Promise<void> {
    if (this.#stopped || this.#running) return;
    this.#running = true;
    const { clock, random } = this.#deps;
    const started = clock.now();
    let schedule: CheckSchedule = { interval: 1000, jitter: 0 };
    try {
      const o = this.#deps.options();
      schedule = o.schedule;
      let result: ProbeResult;
      try {
        result = await this.#deps.probe(this.#target, o.probe);
      } catch (err) {
        result = {
          ok: false,
          detail: `check error: ${errorMessage(err)}`,
          lameDuck: false,
        };
      }
      this.completed++;
      if (!this.#stopped) this.#deps.onResult(result);
    } catch (err) {
      this.#deps.onError(err);
    } finally {
      this.#running = false;
    }
    const wait = schedule.interval * (1 + schedule.jitter * (2 * random() - 1));
    this.#schedule(Math.max(0, wait - (clock.now() - started)));
  }
}
