// Demo backends for `fulcrum demo`: tiny HTTP servers that say who they are in an
// `x-backend` header and a one-line body, with a health endpoint (`/healthz`). The
// scriptable backend (src/sim/) with plain routes.
import { startScriptableBackend } from '../sim/scriptable-backend.ts';

export interface DemoBackend {
  readonly name: string;
  readonly address: string;
  close(): Promise<void>;
}

export function startDemoBackend(name: string, host: string, port: number): Promise<DemoBackend> {
  return startScriptableBackend({
    name,
    host,
    port,
    routes: 'plain',
    greeting: (req) => `hello from ${name} (${req.method} ${req.url})\n`,
    greetingType: 'text/plain; charset=utf-8',
  });
}
