/* global document, EventSource, setTimeout, clearTimeout */
// The dashboard's entry point: polls the traffic views every POLL_MS, listens to
// GET /api/v1/events for host-state changes and control-plane notices (EventSource
// reconnects by itself; after a reconnect everything is fetched again), and renders.
import { renderAlerts } from './alerts.js';
import { ApiError, askReadToken, get } from './api.js';
import { AuditsPanel } from './audits.js';
import { Charts } from './charts.js';
import { ConfigPanel } from './config.js';
import { clock, h, mount } from './dom.js';
import { refreshFleet } from './fleet.js';
import { bandsOf, renderPools, sortPools } from './overview.js';

const POLL_MS = 2000;
const EVENT_LOG_SIZE = 12;

const conn = document.getElementById('conn');
const charts = new Charts(document.getElementById('chart-grid'), document.getElementById('chart-pool'));
const config = new ConfigPanel();
const audits = new AuditsPanel();
const eventLog = [];
let pollTimer;
let refreshing;
let askedForToken = false;

function setConn(kind, text) {
  conn.className = `conn ${kind}`;
  conn.textContent = text;
}

async function guarded(fn) {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && !askedForToken) {
      askedForToken = true;
      if (await askReadToken()) return guarded(fn);
    }
    mount(
      'load-error',
      h('p', { class: 'result error', role: 'alert', text: `Cannot reach the admin API: ${err.message}` }),
    );
    return undefined;
  }
}

/** The traffic views: pools, alerts, series. Coalesces concurrent calls. */
function refresh() {
  refreshing ??= guarded(async () => {
    const [pools, alerts, series] = await Promise.all([
      get('/api/v1/pools'),
      get('/api/v1/alerts'),
      get('/api/v1/series'),
    ]);
    mount('load-error');
    render(pools, alerts.alerts, series);
    await refreshFleet();
  }).finally(() => {
    refreshing = undefined;
  });
  return refreshing;
}

function render(poolsAnswer, alerts, series) {
  const pools = poolsAnswer.pools;
  mount('pools', renderPools(pools, alerts));
  mount('alert-list', renderAlerts(alerts));
  const bands = new Map(pools.map((p) => [p.name, bandsOf(p)]));
  charts.update(
    series,
    bands,
    sortPools(pools, alerts).map((p) => p.name),
  );
  const backends = pools.flatMap((p) => p.backends);
  const available = backends.filter((b) => b.state === 'healthy' || b.state === 'slow-start').length;
  const firing = alerts.filter((a) => a.state === 'firing').length;
  mount(
    'summary',
    h(
      'span',
      {},
      'config ',
      h('strong', { id: 'summary-version', text: `v${poolsAnswer.configVersion ?? '–'}` }),
    ),
    h('span', { text: `${pools.length} pool${pools.length === 1 ? '' : 's'}` }),
    h('span', { text: `${available} of ${backends.length} backends up` }),
    h('span', {
      class: firing > 0 ? 'firing' : '',
      text: firing > 0 ? `⚠ ${firing} alert${firing === 1 ? '' : 's'} firing` : '✓ no alerts firing',
    }),
    h('span', { class: 'muted', text: `updated ${clock(Date.now())}` }),
  );
}

function schedulePoll() {
  clearTimeout(pollTimer);
  pollTimer = setTimeout(async () => {
    await refresh();
    schedulePoll();
  }, POLL_MS);
}

function logEvent(type, data) {
  let text;
  if (type === 'host-state')
    text = `${data.pool}/${data.backend}: ${data.from} → ${data.to}${data.reason ? ` (${data.reason})` : ''}`;
  else if (type === 'config-applied') text = `config version ${data.version} applied (${data.source})`;
  else if (type === 'config-apply-failed') text = `config apply failed: ${data.message}`;
  else if (type === 'alert')
    text = `${data.alert?.alertname} ${data.alert?.state}: ${data.alert?.annotations?.summary ?? ''}`;
  else if (type === 'audit-finished') text = `audit ${data.status} (${data.trigger})`;
  else if (type === 'backend-drained')
    text = `${data.pool}/${data.backend} drained by ${data.by}${data.reason ? `: ${data.reason}` : ''}`;
  else if (type === 'backend-undrained')
    text = `${data.pool}/${data.backend} ${data.expired ? 'drain expired' : `undrained by ${data.by}`}`;
  else
    text = `${type}${data.version ? ` (version ${data.version})` : ''}${data.reason ? `: ${data.reason}` : ''}`;
  eventLog.unshift(
    h('li', { dataset: { type } }, h('time', { text: clock(data.at ?? Date.now()) }), ' ', text),
  );
  eventLog.length = Math.min(eventLog.length, EVENT_LOG_SIZE);
  mount('event-log', eventLog);
}

let pendingRefresh;
/** Many host-state events arrive together (a pool of backends going down): refresh once. */
function refreshSoon() {
  pendingRefresh ??= setTimeout(() => {
    pendingRefresh = undefined;
    void refresh();
  }, 100);
}

function connectEvents() {
  const es = new EventSource('/api/v1/events');
  let dropped = false;
  es.addEventListener('open', () => {
    setConn('live', '● live');
    if (dropped) {
      // Whatever happened while we were away is only in the state: fetch all of it.
      void refresh();
      void guarded(() => config.load());
      void guarded(() => audits.load());
    }
    dropped = false;
  });
  es.addEventListener('error', () => {
    dropped = true;
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. needs a token we cannot send): poll only, retry later.
      setConn('down', '○ no live stream: polling');
      setTimeout(connectEvents, 5000);
    } else {
      setConn('down', '○ reconnecting…');
    }
  });
  const on = (type, fn) =>
    es.addEventListener(type, (e) => {
      const data = JSON.parse(e.data);
      logEvent(type, data);
      fn(data);
    });
  on('host-state', refreshSoon);
  on('alert', refreshSoon);
  for (const t of [
    'config-applied',
    'config-apply-failed',
    'guard-rollback',
    'guard-passed',
    'guard-cancelled',
  ]) {
    on(t, () => {
      refreshSoon();
      void guarded(() => config.load());
    });
  }
  on('audit-finished', () => void guarded(() => audits.load()));
  on('pool-panic-entered', refreshSoon);
  on('backend-drained', refreshSoon);
  on('backend-undrained', refreshSoon);
  on('pool-panic-left', refreshSoon);
}

setConn('down', '○ connecting…');
await refresh();
void guarded(() => config.load());
void guarded(() => audits.load());
connectEvents();
schedulePoll();
