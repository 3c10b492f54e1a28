// A backend with finite capacity, as the postmortem's servers had: it serves at most
// `capacity` requests at once, each taking `serviceMs`, and answers 503 at once beyond
// that. Health endpoints never queue behind traffic (an overloaded server still says it is
// healthy, which is how the incident stayed invisible to health checks).
//   GET /healthz  200 while running
//   GET /ready    200 only when `readyOk` (a health path that fails on most backends)
//   anything else capacity-limited; 200 after serviceMs, `x-backend: <name>`
// The scriptable backend (src/sim/) with plain routes; its counters and modes are here too.
import { ScriptableBackend } from '../sim/scriptable-backend.ts';

export interface DrillBackendOptions {
  name: string;
  capacity: number;
  serviceMs: number;
  readyOk?: boolean;
}

export class DrillBackend extends ScriptableBackend {
  crashed = false;

  constructor(o: DrillBackendOptions) {
    super({
      name: o.name,
      capacity: o.capacity,
      latencyMs: o.serviceMs,
      keepAliveTimeoutMs: 10_000,
      routes: 'plain',
      healthPaths: { '/ready': (o.readyOk ?? true) ? 'ok' : 'fail' },
    });
  }

  /** Time each request takes; settable mid-drill (a backend that slows down). */
  get serviceMs(): number {
    return this.latencyMs;
  }
  set serviceMs(ms: number) {
    this.latencyMs = ms;
  }

  get readyOk(): boolean {
    return this.healthOf('/ready') === 'ok';
  }
  set readyOk(ok: boolean) {
    this.setHealth(ok ? 'ok' : 'fail', '/ready');
  }

  async start(): Promise<this> {
    await this.listen();
    return this;
  }

  /** Dies mid-load: stops listening (connection refused) and drops every open connection. */
  async crash(): Promise<void> {
    if (this.crashed) return;
    this.crashed = true;
    await this.setMode('down');
  }
}
