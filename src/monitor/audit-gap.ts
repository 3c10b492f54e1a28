// The longest acceptable time without a passing audit: two schedule periods plus slack,
// computed once per schedule text.
import { Cron } from 'croner';

export class AuditGap {
  #schedule: string | undefined;
  #ms: number | undefined;

  /** undefined without a schedule (or with one croner cannot read). */
  ms(schedule: string): number | undefined {
    if (schedule !== this.#schedule) {
      this.#schedule = schedule;
      this.#ms = undefined;
      if (schedule.trim() !== '') {
        try {
          const [a, b] = new Cron(schedule, { paused: true }).nextRuns(2);
          if (a && b) this.#ms = 2 * (b.getTime() - a.getTime()) + 5 * 60_000;
        } catch {
          this.#ms = undefined;
        }
      }
    }
    return this.#ms;
  }
}
