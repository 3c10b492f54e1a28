// Writes deploy/grafana/fulcrum-dashboard.json from the metric catalog (src/monitor/metrics.ts):
//   node scripts/gen-grafana-dashboard.ts
// One panel per fulcrum_* metric, its help text as the description, grouped in rows by area.
// test/deploy.test.ts fails when the checked-in file is stale, and parses every query.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MonitorMetrics } from '../src/monitor/metrics.ts';

const ROOT = join(import.meta.dirname, '..');
export const DASHBOARD_FILE = join(ROOT, 'deploy/grafana/fulcrum-dashboard.json');

interface CatalogEntry {
  name: string;
  help: string;
  type: string;
  labels: string[];
}

/** The fulcrum_* metrics with their label names: one sample row per scrape-time source shows the labels. */
export async function metricCatalog(): Promise<CatalogEntry[]> {
  const metrics = new MonitorMetrics({
    *traffic() {
      yield {
        pool: 'p',
        backend: 'b',
        codes: new Map([['l', new Float64Array(6).fill(1)]]),
        durationBuckets: new Float64Array(13).fill(1),
        durationSum: 1,
      };
    },
    *poolCounters() {
      yield { pool: 'p', noBackend: 1, retries: 1 };
    },
    snapshot: () => undefined,
    shareRatio: () => null,
    jain: () => null,
    firing: () => [],
    lastApplyOk: () => undefined,
    runtime: {
      listenerConnections: () => [{ listener: 'l', open: 1, accepted: 1 }],
      logLinesDropped: () => 0,
      workers: () => [{ worker: 0, connections: 1, requests: 1, restarts: 0, ringDropped: 0 }],
    },
  });
  const labelNames = new Map<string, readonly string[]>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    const names = (m as unknown as { labelNames?: readonly string[] }).labelNames;
    labelNames.set((m as unknown as { name: string }).name, names ?? []);
  }
  const out: CatalogEntry[] = [];
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    if (!m.name.startsWith('fulcrum_')) continue;
    const labels = new Set(labelNames.get(m.name) ?? []);
    for (const v of m.values) for (const k of Object.keys(v.labels)) labels.add(k);
    labels.delete('le');
    out.push({ name: m.name, help: m.help, type: String(m.type), labels: [...labels] });
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

const SEL = '{instance=~"$instance"}';
const RATE = '$__rate_interval';

function queries(m: CatalogEntry): { expr: string; legend: string }[] {
  const by = m.labels.length > 0 ? ` by (${m.labels.join(', ')})` : '';
  const legend = m.labels.length > 0 ? m.labels.map((l) => `{{${l}}}`).join(' ') : m.name;
  if (m.type === 'histogram') {
    const labels = ['le', ...m.labels].join(', ');
    return [0.5, 0.99].map((q) => ({
      expr: `histogram_quantile(${q}, sum by (${labels}) (rate(${m.name}_bucket${SEL}[${RATE}])))`,
      legend: `p${q * 100} ${legend}`,
    }));
  }
  if (m.type === 'counter') return [{ expr: `sum${by} (rate(${m.name}${SEL}[${RATE}]))`, legend }];
  // A timestamp reads best as the time left until it (certificate expiry) or since it.
  if (m.name.endsWith('_timestamp_seconds')) return [{ expr: `${m.name}${SEL} - time()`, legend }];
  return [{ expr: `${m.name}${SEL}`, legend }];
}

function unit(m: CatalogEntry): string {
  if (m.type === 'histogram' || m.name.endsWith('_seconds')) return 's';
  if (m.type === 'counter') return 'ops';
  if (m.name.includes('ratio') || m.name.includes('fairness')) return 'percentunit';
  return 'short';
}

/** fulcrum_backend_up → "backend"; rows in the order areas first appear. */
function area(name: string): string {
  return name.replace(/^fulcrum_/, '').split('_')[0] as string;
}

export async function renderDashboard(): Promise<string> {
  const catalog = await metricCatalog();
  const areas = [...new Set(catalog.map((m) => area(m.name)))];
  const panels: unknown[] = [];
  let id = 1;
  let y = 0;
  for (const a of areas) {
    panels.push({
      id: id++,
      type: 'row',
      title: a,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    catalog
      .filter((m) => area(m.name) === a)
      .forEach((m, i) => {
        panels.push({
          id: id++,
          type: 'timeseries',
          title: m.name,
          description: m.help,
          datasource: { type: 'prometheus', uid: '${datasource}' },
          gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: y + Math.floor(i / 2) * 8 },
          fieldConfig: { defaults: { unit: unit(m) }, overrides: [] },
          options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true } },
          targets: queries(m).map((q, j) => ({
            refId: String.fromCharCode(65 + j),
            datasource: { type: 'prometheus', uid: '${datasource}' },
            expr: q.expr,
            legendFormat: q.legend,
          })),
        });
      });
    y += Math.ceil(catalog.filter((m) => area(m.name) === a).length / 2) * 8;
  }
  const dashboard = {
    title: 'fulcrum',
    uid: 'fulcrum',
    description:
      'Generated by `node scripts/gen-grafana-dashboard.ts` from src/monitor/metrics.ts. Do not edit by hand.',
    tags: ['fulcrum', 'load-balancer'],
    timezone: 'browser',
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: '30s',
    time: { from: 'now-1h', to: 'now' },
    templating: {
      list: [
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' },
        {
          name: 'instance',
          type: 'query',
          label: 'instance',
          datasource: { type: 'prometheus', uid: '${datasource}' },
          query: { query: 'label_values(fulcrum_config_version, instance)', refId: 'instance' },
          definition: 'label_values(fulcrum_config_version, instance)',
          includeAll: true,
          multi: true,
          allValue: '.*',
          refresh: 2,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(DASHBOARD_FILE, await renderDashboard());
  console.log(`wrote ${DASHBOARD_FILE}`);
}
