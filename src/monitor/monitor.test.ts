import { describe, expect, it } from 'vitest';
import type { AlertView } from './alerts.ts';
import { drive, startTestMonitor } from '../testing/monitor-kit.ts';

const config = (pool: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  version: 1,
  listeners: { web: { address: '127.0.0.1:8080', routes: [{ pool: 'app' }] } },
  pools: {
    app: {
      policy: 'round-robin',
      backends: [1, 2, 3, 4].map((i) => ({ name: `app-${i}`, address: `127.0.0.1:${9000 + i}` })),
      ...pool,
    },
  },
  ...extra,
});

function setup(cfg: unknown = config()) {
  const { hub, clock, snap, monitor } = startTestMonitor(cfg);
  const fired: AlertView[] = [];
  monitor.alertTransitions.subscribe((a) => a.state === 'firing' && fired.push(a));
  const state = snap.pools.get('app')?.state;
  const rr = () => ({ backend: state?.pick(undefined)?.name, status: 200, durationMs: 12 });
  return { hub, clock, monitor, fired, snap, state, rr };
}

describe('Monitor', () => {
  it('exposes the DESIGN.md metrics with per-backend series and process metrics', async () => {
    const { hub, clock, monitor, rr } = setup();
    drive({ hub, clock, pool: 'app', seconds: 5, rps: 20, shot: rr });
    hub.requests.emit({
      listener: 'web',
      pool: 'app',
      backend: undefined,
      status: 503,
      durationMs: 0,
      error: 'FULCRUM_ERR_PROXY_NO_BACKEND',
      retries: 1,
      requestId: 'x',
      method: 'GET',
      hashKey: undefined,
    });
    hub.hostState.emit({
      pool: 'app',
      backend: 'app-1',
      address: '127.0.0.1:9001',
      from: 'healthy',
      to: 'ejected',
      reason: 'consecutive-5xx: 5 in a row',
      at: 0,
    });
    monitor.recordApply({ ok: true, version: 3 });
    monitor.recordAudit({ ok: true, at: Date.UTC(2026, 0, 1) });
    monitor.recordHealthCheck('app', 'app-1', false);
    const { contentType, body } = await monitor.metrics();
    expect(contentType).toContain('text/plain');
    for (const name of [
      'fulcrum_requests_total{listener="web",pool="app",backend="app-1",code_class="2xx"} 25',
      'fulcrum_requests_total{listener="web",pool="app",backend="",code_class="5xx"} 1',
      'fulcrum_request_duration_seconds_bucket{le="0.025",pool="app",backend="app-2"} 25',
      'fulcrum_backend_up{pool="app",backend="app-1"} 1',
      'fulcrum_backend_in_flight{pool="app",backend="app-1"} 0',
      'fulcrum_backend_weight{pool="app",backend="app-1"} 1',
      'fulcrum_backend_effective_weight{pool="app",backend="app-1"} 1',
      'fulcrum_backend_share_ratio{pool="app",backend="app-1"} 1',
      'fulcrum_pool_fairness_index{pool="app"} 1',
      'fulcrum_outlier_ejections_total{pool="app",backend="app-1",reason="consecutive-5xx"} 1',
      'fulcrum_health_checks_total{pool="app",backend="app-1",result="failure"} 1',
      'fulcrum_no_backend_total{pool="app"} 1',
      'fulcrum_retries_total{pool="app"} 1',
      'fulcrum_config_version 3',
      'fulcrum_config_applies_total{result="success"} 1',
      'fulcrum_audit_runs_total{result="success"} 1',
      'fulcrum_audit_last_success_timestamp_seconds 1767225600',
      'process_cpu_user_seconds_total',
      '# TYPE fulcrum_alerts_firing gauge',
    ]) {
      expect(body).toContain(name);
    }
    monitor.stop();
  });

  it('reports pool stats: shares, ratios, rps, latency quantiles, Jain index', () => {
    const { hub, clock, monitor, rr } = setup();
    drive({ hub, clock, pool: 'app', seconds: 30, rps: 20, shot: rr });
    const [p] = monitor.poolStats();
    expect(p).toMatchObject({
      pool: 'app',
      policy: 'round-robin',
      measure: 'requests',
      requests: 600,
      configVersion: 3,
    });
    expect(p?.jain).toBeCloseTo(1);
    for (const b of p?.backends ?? []) {
      expect(b.expectedShare).toBeCloseTo(0.25);
      expect(b.shareRatio).toBeCloseTo(1);
      expect(b.p50Ms).toBeGreaterThan(10);
      expect(b.p99Ms).toBeLessThanOrEqual(15);
    }
    const s = monitor.series();
    expect(s.pools[0]?.backends[0]?.requests.length).toBe(60);
    expect(s.pools[0]?.backends[0]?.requests.reduce((a, b) => a + b, 0)).toBe(150);
    monitor.stop();
  });

  it('least-requests pools say they are judged on in-flight per weight', () => {
    const { hub, clock, monitor, rr } = setup(config({ policy: 'least-requests' }));
    drive({ hub, clock, pool: 'app', seconds: 5, rps: 10, shot: rr });
    expect(monitor.poolStats()[0]?.measure).toBe('in-flight-per-weight');
    expect(monitor.poolStats()[0]?.note).toContain('load too low');
    monitor.stop();
  });

  it('down backends fire BackendDown, PoolDegraded, PoolPanic and NoBackendAvailable, and degrade /readyz', () => {
    const { hub, clock, monitor, fired, state, rr } = setup();
    drive({ hub, clock, pool: 'app', seconds: 5, rps: 10, shot: rr });
    for (const h of state?.hosts.slice(0, 3) ?? []) h.status = 'unhealthy';
    state?.refresh();
    clock.advance(40_000);
    const names = fired.map((a) => a.alertname).sort();
    expect(names).toEqual(['BackendDown', 'BackendDown', 'BackendDown', 'PoolDegraded', 'PoolPanic']);
    expect(monitor.degradedReasons().some((r) => r.startsWith('PoolPanic: pool app is in panic'))).toBe(true);
    expect(monitor.degradedReasons().some((r) => r.startsWith('BackendDown'))).toBe(false);
    hub.requests.emit({
      listener: 'web',
      pool: 'app',
      backend: undefined,
      status: 503,
      durationMs: 0,
      error: 'FULCRUM_ERR_PROXY_NO_BACKEND',
      retries: 0,
      requestId: '1',
      method: 'GET',
      hashKey: undefined,
    });
    clock.advance(1000);
    expect(fired.some((a) => a.alertname === 'NoBackendAvailable')).toBe(true);
    monitor.stop();
  });

  it('fires HealthFlapping from host-state changes', () => {
    const { hub, clock, fired } = setup();
    for (let i = 0; i < 4; i++) {
      hub.hostState.emit({
        pool: 'app',
        backend: 'app-2',
        address: '127.0.0.1:9002',
        from: 'healthy',
        to: 'unhealthy',
        reason: 'check',
        at: 0,
      });
      clock.advance(2000);
    }
    expect(fired.map((a) => [a.alertname, a.labels['backend']])).toContainEqual(['HealthFlapping', 'app-2']);
  });

  it('fires ConfigApplyFailed until an apply succeeds, naming the version still running', () => {
    const { clock, monitor } = setup();
    monitor.recordApply({ ok: false, error: 'listen EADDRINUSE 127.0.0.1:8080' });
    clock.advance(1000);
    const a = monitor.alerts().find((x) => x.alertname === 'ConfigApplyFailed');
    expect(a?.state).toBe('firing');
    expect(a?.annotations['description']).toContain('EADDRINUSE');
    expect(a?.annotations['summary']).toContain('version 3 is still running');
    monitor.recordApply({ ok: true, version: 4 });
    clock.advance(1000);
    expect(monitor.alerts().find((x) => x.alertname === 'ConfigApplyFailed')?.state).toBe('resolved');
  });

  it('fires NoTraffic when a pool that had traffic gets none for a window', () => {
    const { hub, clock, fired, rr } = setup();
    drive({ hub, clock, pool: 'app', seconds: 60, rps: 10, shot: rr });
    clock.advance(55_000);
    expect(fired).toEqual([]);
    clock.advance(6000);
    expect(fired.map((a) => a.alertname)).toEqual(['NoTraffic']);
  });

  it('fires AuditFailing on a failed run and AuditsNotRunning when none passes for two periods', () => {
    const { clock, monitor, fired } = setup(config({}, { audit: { schedule: '*/15 * * * *' } }));
    monitor.recordAudit({ ok: false, at: clock.wallNow() });
    clock.advance(1000);
    expect(fired.map((a) => a.alertname)).toEqual(['AuditFailing']);
    clock.advance(36 * 60_000);
    expect(fired.map((a) => a.alertname)).toEqual(['AuditFailing', 'AuditsNotRunning']);
    monitor.recordAudit({ ok: true, at: clock.wallNow() });
    clock.advance(1000);
    expect(monitor.alerts().filter((a) => a.state === 'firing')).toEqual([]);
  });

  it('names a health check that removed its peers as the cause of BackendOverloaded', () => {
    const { hub, clock, fired, state } = setup();
    const down = state?.hosts[3];
    if (down) down.status = 'unhealthy';
    state?.refresh();
    let i = 0;
    drive({
      hub,
      clock,
      pool: 'app',
      seconds: 60,
      rps: 60,
      // Three backends carry four backends' load; app-1 buckles under it.
      shot: () => {
        const backend = `app-${(i++ % 3) + 1}`;
        return { backend, status: backend === 'app-1' && i % 5 === 0 ? 503 : 200, durationMs: 10 };
      },
    });
    const a = fired.find((x) => x.alertname === 'BackendOverloaded');
    expect(a?.labels['backend']).toBe('app-1');
    expect(a?.annotations['cause_kind']).toBe('peers-removed-by-health');
    expect(a?.annotations['cause']).toContain('app-4 (unhealthy)');
    expect(fired.some((x) => x.alertname === 'BackendOverfed')).toBe(false);
  });
});
