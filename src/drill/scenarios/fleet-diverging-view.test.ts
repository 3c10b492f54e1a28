// The fleet drill, short: three real instances on a real 3-member etcd; one loses its path to
// b3; InstanceSkewed must name it and its health view, and resolve once the path is back.
import { describe, expect, it } from 'vitest';
import { hasEtcd } from '../../store/testing/etcd-server.ts';
import { renderDrillText } from '../drill-report.ts';
import { runFleetDrill } from './fleet-diverging-view.ts';

describe.skipIf(!hasEtcd())('fulcrum drill fleet-diverging-view', () => {
  it('detects the instance with the diverging view, recovers, and fails under 1% of requests', async () => {
    const r = await runFleetDrill({ short: true });
    console.log(renderDrillText(r));
    expect(r.detection?.alertname).toBe('InstanceSkewed');
    expect(r.detection?.cause).toContain('app/b3 is unhealthy here, healthy on the others');
    expect(r.verdict).toEqual({ detected: true, recovered: true, failures: true, named: true, passed: true });
    expect(r.misnamed).toEqual([]);
    expect(r.requests.total.requests).toBeGreaterThan(1000);
    expect(r.requests.total.failedShare).toBeLessThan(0.01);
  }, 85_000);
});
