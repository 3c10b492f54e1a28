// The fulcrum config `npm run bench` and `npm run bench:workers` run: one listener, a
// round-robin pool over the bench backends with health checks, audits off.
export interface BenchConfig {
  port: number;
  adminPort: number;
  backends: readonly number[];
  accessLog: boolean;
  /** log.file; absent = stdout (the bench sends it to /dev/null). */
  logFile?: string;
  workers?: number;
}

export function fulcrumYaml(c: BenchConfig): string {
  const list = c.backends.map((p, i) => `      - { name: b${i + 1}, address: 127.0.0.1:${p} }`).join('\n');
  return `version: 1
workers: ${c.workers ?? 1}
listeners:
  web:
    address: 127.0.0.1:${c.port}
    routes:
      - pool: app
pools:
  app:
    policy: round-robin
    backends:
${list}
    healthCheck: { path: /healthz, interval: 2s }
admin:
  address: 127.0.0.1:${c.adminPort}
audit:
  schedule: ""
log:
  access: ${c.accessLog}
${c.logFile === undefined ? '' : `  file: ${c.logFile}\n`}`;
}
