// A bounded, ordered delivery queue for one notification target. push() never blocks and
// never throws: when the queue is full the oldest delivery is dropped and counted. One
// delivery is in flight at a time (so a resolved notice never overtakes its firing one);
// 5xx answers and network errors are retried with exponential back-off, other answers are
// final.
import type { Logger } from 'pino';
import { redactUrl } from '../../config/redact.ts';

export interface Delivery {
  readonly body: string;
  /** How many alerts the delivery carries (for counters and logs). */
  readonly alerts: number;
}

export type DeliveryResult = 'sent' | 'rejected' | 'failed' | 'dropped';

export interface DeliveryQueueOptions {
  readonly name: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly logger: Logger;
  readonly capacity?: number;
  readonly maxAttempts?: number;
  readonly baseBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timeoutMs?: number;
  /** Told about every delivery's final result (metrics). */
  readonly onResult?: (result: DeliveryResult, delivery: Delivery) => void;
}

export class DeliveryQueue {
  readonly #o: Required<Omit<DeliveryQueueOptions, 'headers' | 'onResult'>> & DeliveryQueueOptions;
  readonly #queue: Delivery[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #wake: (() => void) | undefined;
  dropped = 0;

  constructor(options: DeliveryQueueOptions) {
    this.#o = {
      capacity: 256,
      maxAttempts: 6,
      baseBackoffMs: 500,
      maxBackoffMs: 30_000,
      timeoutMs: 5000,
      ...options,
    };
  }

  /** Deliveries waiting (the one in flight excluded). */
  get length(): number {
    return this.#queue.length;
  }

  push(delivery: Delivery): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#o.capacity) {
      const old = this.#queue.shift() as Delivery;
      this.dropped++;
      this.#o.onResult?.('dropped', old);
      this.#o.logger.warn(
        { notifier: this.#o.name, dropped: this.dropped },
        'notification queue full, oldest dropped',
      );
    }
    this.#queue.push(delivery);
    this.#running ??= this.#pump().finally(() => (this.#running = undefined));
  }

  /** Resolves when the queue is empty (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#running) await this.#running;
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    if (this.#timer) clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #pump(): Promise<void> {
    while (!this.#closed && this.#queue.length > 0) {
      // The delivery in flight leaves the queue: capacity bounds what waits.
      const d = this.#queue.shift() as Delivery;
      let result: DeliveryResult = 'failed';
      for (let attempt = 1; attempt <= this.#o.maxAttempts && !this.#closed; attempt++) {
        const status = await this.#send(d);
        if (status >= 200 && status < 300) {
          result = 'sent';
          break;
        }
        if (status >= 400 && status < 500) {
          result = 'rejected';
          this.#o.logger.warn({ notifier: this.#o.name, status }, 'notification rejected by receiver');
          break;
        }
        if (attempt < this.#o.maxAttempts) {
          const backoff = Math.min(this.#o.maxBackoffMs, this.#o.baseBackoffMs * 2 ** (attempt - 1));
          await this.#sleep(backoff * (0.5 + Math.random() / 2));
        }
      }
      if (result === 'failed') {
        this.#o.logger.error(
          { notifier: this.#o.name, url: redactUrl(this.#o.url) },
          'notification failed after retries',
        );
      }
      this.#o.onResult?.(result, d);
    }
  }

  /** HTTP status, or 0 for a network error or timeout. */
  async #send(d: Delivery): Promise<number> {
    try {
      const res = await fetch(this.#o.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...this.#o.headers },
        body: d.body,
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      return res.status;
    } catch (err) {
      // The cause's code only: an error's message or stack may quote the URL.
      const cause = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as Error).name;
      this.#o.logger.debug({ notifier: this.#o.name, err: String(cause) }, 'notification attempt failed');
      return 0;
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(resolve, ms);
      this.#timer.unref?.();
    });
  }
}
