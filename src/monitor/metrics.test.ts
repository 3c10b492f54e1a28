import { describe, expect, it } from 'vitest';
import { MonitorMetrics, type GaugeSource } from './metrics.ts';

function source(runtime?: GaugeSource['runtime']): GaugeSource {
  return {
    traffic: () => [],
    poolCounters: () => [],
    snapshot: () => undefined,
    shareRatio: () => null,
    jain: () => null,
    firing: () => [],
    lastApplyOk: () => undefined,
    runtime,
  };
}

describe('MonitorMetrics', () => {
  it('repeats dropped notifications per notifier as fulcrum_notifications_dropped_total', async () => {
    const m = new MonitorMetrics(source());
    m.notifications.inc({ notifier: 'webhook-0', result: 'dropped' }, 3);
    m.notifications.inc({ notifier: 'webhook-0', result: 'sent' }, 2);
    m.notifications.inc({ notifier: 'webhook-1', result: 'dropped' });
    const text = await m.registry.metrics();
    expect(text).toContain('# TYPE fulcrum_notifications_dropped_total counter');
    expect(text).toContain('fulcrum_notifications_dropped_total{notifier="webhook-0"} 3\n');
    expect(text).toContain('fulcrum_notifications_dropped_total{notifier="webhook-1"} 1\n');
    expect(text).not.toMatch(/fulcrum_notifications_dropped_total\{[^}]*\} 2\n/);
  });

  it('reads listener connections and dropped log lines from the runtime source at scrape time', async () => {
    let dropped = 0;
    const m = new MonitorMetrics(
      source({
        listenerConnections: () => [
          { listener: 'web', open: 3, accepted: 10 },
          { listener: 'tls', open: 0, accepted: 1 },
        ],
        logLinesDropped: () => dropped,
      }),
    );
    dropped = 7;
    const text = await m.registry.metrics();
    expect(text).toContain('fulcrum_listener_connections{listener="web"} 3\n');
    expect(text).toContain('fulcrum_listener_connections{listener="tls"} 0\n');
    expect(text).toContain('fulcrum_listener_connections_accepted_total{listener="web"} 10\n');
    expect(text).toContain('fulcrum_log_lines_dropped_total 7\n');
    expect(text).toMatch(/fulcrum_build_info\{version="[^"]+",node="v\d+\.\d+\.\d+"\} 1\n/);
  });
});
