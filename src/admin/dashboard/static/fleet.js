/* global document */
// The fleet panel: shown only when this instance is in a fleet (GET /api/v1/fleet is not null).
// One row per instance (version, health, skew), one per lost instance (when, last version) and
// the fleet-wide share per backend. The Fleet link in the section nav shows with the panel.
import { get } from './api.js';
import { clock, h, mount, pct } from './dom.js';

/** Fetch and render the fleet view; hides the panel when the instance runs alone. */
export async function refreshFleet() {
  const view = await get('/api/v1/fleet');
  const section = document.getElementById('fleet');
  section.hidden = view === null;
  const link = document.querySelector('nav.sections a[href="#fleet"]');
  if (link) link.hidden = view === null;
  if (view !== null) mount('fleet-view', renderFleet(view));
}

export function renderFleet(view) {
  const skewedBy = new Map(view.skewed.map((s) => [s.instance, s]));
  const head = h(
    'p',
    { class: 'muted fleet-summary' },
    `fleet ${view.fleet}, latest version ${view.latestVersion ?? 'none'}, store ${view.store}`,
  );
  const rows = view.instances.map((i) => {
    const skew = skewedBy.get(i.instance);
    return h(
      'tr',
      { dataset: { instance: i.instance } },
      h('td', { 'data-label': 'Instance', text: i.self ? `${i.instance} (this)` : i.instance }),
      h('td', { 'data-label': 'Host', text: i.host }),
      h('td', {
        'data-label': 'Version',
        text: `${i.version ?? '-'}${i.configSkewSince === null ? '' : ` (latest ${view.latestVersion})`}`,
      }),
      h('td', { 'data-label': 'Health', text: i.health, title: i.reasons.join('\n') }),
      h('td', { 'data-label': 'Skew', text: skew ? `${skew.pool}/${skew.backend}: ${skew.detail}` : '' }),
    );
  });
  const lost = view.lost.map((l) =>
    h(
      'tr',
      { class: 'lost', dataset: { instance: l.instance } },
      h('td', { 'data-label': 'Instance', text: l.instance }),
      h('td', {
        'data-label': 'Lost',
        colspan: '4',
        text: `lost (lease expired) at ${clock(l.lostAt)}, last on version ${l.lastVersion ?? '-'}`,
      }),
    ),
  );
  const instances = h(
    'table',
    { class: 'fleet' },
    h(
      'thead',
      {},
      h('tr', {}, ...['Instance', 'Host', 'Version', 'Health', 'Skew'].map((t) => h('th', { text: t }))),
    ),
    h('tbody', {}, rows, lost),
  );
  const shares = view.pools.map((p) =>
    h(
      'table',
      { class: 'fleet-shares' },
      h('caption', { text: `pool ${p.pool}: fleet-wide shares (${p.requests} requests)` }),
      h(
        'thead',
        {},
        h('tr', {}, ...['Backend', 'Expected', 'Observed', 'Ratio'].map((t) => h('th', { text: t }))),
      ),
      h(
        'tbody',
        {},
        p.backends.map((b) =>
          h(
            'tr',
            {},
            h('td', { text: b.backend }),
            h('td', { text: b.expectedShare === null ? '-' : pct(b.expectedShare) }),
            h('td', { text: b.observedShare === null ? '-' : pct(b.observedShare) }),
            h('td', { text: b.shareRatio === null ? '-' : b.shareRatio.toFixed(2) }),
          ),
        ),
      ),
    ),
  );
  return [head, instances, ...shares];
}
