// Synchronous, allocation-light event fan-out between the data plane and observers
// (monitor, access log, audit). Emitting never awaits: listeners must be quick and must
// not throw; a throwing listener is isolated so the request path is never affected.

/** One finished client request, emitted once by the proxy. */
export interface RequestOutcome {
  listener: string;
  pool: string;
  /**
   * Backend of the final try: the one that answered, or the one whose connection failed
   * (refused, reset, timed out); undefined when no backend was picked.
   */
  backend: string | undefined;
  status: number;
  durationMs: number;
  /** Error code when fulcrum answered on the backend's behalf (502/503/504...). */
  error: string | undefined;
  /** Number of retries made (0 = first try answered). */
  retries: number;
  requestId: string;
  method: string;
  /** consistent-hash key used for the pick, kept for hot-key detection. */
  hashKey: string | undefined;
  /** The backend the first try failed on, when the request was retried (its traffic moved away). */
  retriedFrom?: string | undefined;
  /** True only when the pool had no backend to pick (503 FULCRUM_ERR_PROXY_NO_BACKEND). */
  noBackend?: boolean | undefined;
  /** 'canary' when a traffic-slice canary (`apply --canary P%`) ran the request on its new snapshot. */
  slice?: 'canary' | undefined;
  // Access-log facts (optional so observers that build outcomes need not fill them).
  /** Request target as the client sent it, query included. */
  path?: string | undefined;
  clientAddress?: string | undefined;
  /** The Host header; undefined when the client sent none. */
  host?: string | undefined;
  userAgent?: string | undefined;
  /** Request bytes: the head as received, the body as forwarded (chunked: fulcrum's framing). */
  bytesIn?: number | undefined;
  /** Response bytes handed to the client socket (heads and body as framed). */
  bytesOut?: number | undefined;
  /** Address of the last backend tried, answered or not. */
  upstream?: string | undefined;
  /** Last try: ms until its upstream connection was ready (0 for a pooled one); undefined = never. */
  connectMs?: number | undefined;
  /** Last try: ms until the response head arrived; undefined = none arrived. */
  firstByteMs?: number | undefined;
}

/** A change of a backend's state, emitted by health checking and outlier detection. */
export interface HostStateChange {
  pool: string;
  backend: string;
  address: string;
  from: string;
  to: string;
  reason: string;
  at: number;
}

export type Listener<T> = (event: T) => void;

export class Topic<T> {
  #listeners: Listener<T>[] = [];
  #onError: (err: unknown) => void;

  constructor(onError: (err: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  subscribe(listener: Listener<T>): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  get size(): number {
    return this.#listeners.length;
  }

  emit(event: T): void {
    const ls = this.#listeners;
    for (let i = 0; i < ls.length; i++) {
      try {
        (ls[i] as Listener<T>)(event);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}

/** The process-wide topics; main.ts creates one and hands it to every module. */
export class EventHub {
  readonly requests = new Topic<RequestOutcome>();
  readonly hostState = new Topic<HostStateChange>();
  /** Free-form control-plane notices (config applied, panic entered...), streamed by /api/v1/events. */
  readonly notices = new Topic<{ type: string; at: number; data: Record<string, unknown> }>();
}
