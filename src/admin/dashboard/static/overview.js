// The overview: every pool with its backends, out-of-balance ones first and highlighted,
// with the alert's cause in words. Colour is never the only signal: every state, verdict
// and band also reads as text.
import { act } from './api.js';
import { clock, h, ms, num, pct, ratio } from './dom.js';

/** The monitor's defaults (docs/config.md: monitor.fairness); a pool's own bands win when the API gives them. */
const DEFAULT_BANDS = { overfed: 1.25, starved: 0.5 };
/** The share-ratio gauge spans 0..GAUGE_MAX. */
const GAUGE_MAX = 2;

const STATES = {
  healthy: { icon: '●', tone: 'good' },
  unhealthy: { icon: '✕', tone: 'bad' },
  ejected: { icon: '⏏', tone: 'bad' },
  'slow-start': { icon: '↗', tone: 'info' },
  draining: { icon: '↘', tone: 'muted' },
  unknown: { icon: '?', tone: 'muted' },
};

const VERDICTS = {
  ok: 'within bands',
  overfed: 'overfed',
  starved: 'starved',
  slow: 'slow: steered around',
  down: 'down: not judged',
  'insufficient-data': 'too little traffic to judge',
};

export function bandsOf(pool) {
  const f = pool.traffic?.fairness ?? pool.fairness;
  return {
    overfed: f?.overfed ?? DEFAULT_BANDS.overfed,
    starved: f?.starved ?? DEFAULT_BANDS.starved,
  };
}

const live = (a) => a.state === 'firing' || a.state === 'pending';

function alertsFor(alerts, pool, backend) {
  return alerts.filter(
    (a) =>
      live(a) &&
      a.labels.pool === pool &&
      (backend === undefined ? a.labels.backend === undefined : a.labels.backend === backend),
  );
}

/** Out of balance: the monitor's fairness verdict, an overload, or a live fairness alert. */
export function outOfBalance(b, alerts, pool) {
  const t = b.traffic;
  if (t && (t.verdict === 'overfed' || t.verdict === 'starved' || t.overloaded)) return true;
  return alertsFor(alerts, pool, b.name).some((a) => a.category === 'fairness');
}

const unwell = (b) => b.state === 'unhealthy' || b.state === 'ejected';

function backendRank(b, alerts, pool) {
  if (outOfBalance(b, alerts, pool)) return 0;
  if (unwell(b) || alertsFor(alerts, pool, b.name).length > 0) return 1;
  return 2;
}

function poolRank(p, alerts) {
  const ranks = p.backends.map((b) => backendRank(b, alerts, p.name));
  if (ranks.includes(0)) return 0;
  if (p.panic || ranks.includes(1) || alertsFor(alerts, p.name).length > 0) return 1;
  return 2;
}

/** Within out of balance: an overload (the critical alert) first, then the furthest from its share. */
function imbalance(b) {
  const t = b.traffic;
  if (!t) return 0;
  const deviation = t.shareRatio > 0 ? Math.abs(Math.log(t.shareRatio)) : t.shareRatio === 0 ? 5 : 0;
  return (t.overloaded ? 10 : 0) + deviation;
}

const stable = (items, rank, weight = () => 0) =>
  items
    .map((item, i) => ({ item, i, r: rank(item), w: weight(item) }))
    .sort((a, b) => a.r - b.r || b.w - a.w || a.i - b.i)
    .map((x) => x.item);

/**
 * Pools and backends in attention order: out of balance (worst first), then unwell, then the
 * rest, in config order within each group.
 */
export function sortPools(pools, alerts) {
  return stable(pools, (p) => poolRank(p, alerts)).map((p) => ({
    ...p,
    backends: stable(
      p.backends,
      (b) => backendRank(b, alerts, p.name),
      (b) => (outOfBalance(b, alerts, p.name) ? imbalance(b) : 0),
    ),
  }));
}

export function renderPools(pools, alerts) {
  if (pools.length === 0) return [h('p', { class: 'empty', text: 'No pools: no config is running yet.' })];
  return sortPools(pools, alerts).map((p) => renderPool(p, alerts));
}

function renderPool(p, alerts) {
  const rank = poolRank(p, alerts);
  const t = p.traffic;
  const bands = bandsOf(p);
  const id = `pool-${p.name}`;
  const poolAlerts = alertsFor(alerts, p.name);
  return h(
    'article',
    { class: `pool rank-${rank}`, dataset: { pool: p.name }, 'aria-labelledby': `${id}-h` },
    h(
      'header',
      { class: 'pool-head' },
      h('h3', { id: `${id}-h` }, p.name),
      h('span', { class: 'tag', title: 'policy', text: p.policy }),
      rank === 0 ? h('span', { class: 'badge bad', text: '⚠ out of balance' }) : null,
      rank === 1 ? h('span', { class: 'badge warn', text: '! needs attention' }) : null,
      rank === 2
        ? h('span', {
            class: 'badge good',
            // "Balanced" only once the monitor has judged it; until then, say so.
            text: judged(p) ? '✓ balanced and healthy' : '✓ healthy · balance not judged yet',
          })
        : null,
      p.panic ? h('span', { class: 'badge bad', text: '⚠ panic: balancing across all backends' }) : null,
      h(
        'dl',
        { class: 'pool-stats' },
        stat('available', `${p.available} of ${p.total}`),
        stat('requests/s', t ? num(t.rps) : '–'),
        stat('errors', t ? pct(t.errorRatio, 2) : '–'),
        stat(
          'fairness (Jain)',
          t?.jain === null || t?.jain === undefined ? '–' : t.jain.toFixed(3),
          'Jain index over share ratios: 1.000 is perfectly as configured',
        ),
        stat('window', t ? `${Math.round(t.windowMs / 1000)}s, by ${t.measure}` : '–'),
        stat('bands', `starved < ${bands.starved}× · overfed > ${bands.overfed}×`),
      ),
    ),
    t?.note ? h('p', { class: 'note muted', text: t.note }) : null,
    poolAlerts.length > 0
      ? h(
          'ul',
          { class: 'pool-alerts' },
          poolAlerts.map((a) =>
            h('li', { class: `sev-${a.severity}` }, alertLabel(a), ' ', a.annotations.summary ?? ''),
          ),
        )
      : null,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'backends' },
        h('caption', { class: 'sr-only', text: `Backends of pool ${p.name}` }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            th('Backend'),
            th('State'),
            th('Weight', 'configured / effective'),
            th('Share', 'expected vs observed'),
            th('Share ratio', 'observed ÷ expected'),
            th('In-flight'),
            th('Req/s'),
            th('Errors'),
            th('Latency', 'p50 / p99'),
          ),
        ),
        h(
          'tbody',
          {},
          p.backends.map((b) => renderBackend(p, b, alerts, bands)),
        ),
      ),
    ),
  );
}

function judged(p) {
  return p.backends.some((b) => b.traffic && b.traffic.verdict !== 'insufficient-data');
}

function stat(label, value, title) {
  return h('div', { class: 'stat', title }, h('dt', { text: label }), h('dd', { text: value }));
}

function th(text, sub) {
  return h('th', { scope: 'col' }, text, sub ? h('span', { class: 'sub', text: sub }) : null);
}

function renderBackend(p, b, alerts, bands) {
  const t = b.traffic;
  const oob = outOfBalance(b, alerts, p.name);
  const st = STATES[b.state] ?? STATES.unknown;
  const verdict = t?.overloaded ? 'overloaded' : (t?.verdict ?? 'insufficient-data');
  const cells = [
    h(
      'td',
      { class: 'name', 'data-label': 'Backend' },
      h(
        'div',
        {},
        h('strong', { text: b.name }),
        h('span', { class: 'addr', text: b.address }),
        drainButton(p, b),
      ),
    ),
    h(
      'td',
      { class: 'state-cell', 'data-label': 'State' },
      h(
        'div',
        {},
        h(
          'span',
          { class: `state tone-${st.tone}` },
          h('span', { 'aria-hidden': 'true', text: st.icon }),
          ` ${b.state}`,
        ),
        b.state !== 'healthy' && b.reason ? h('span', { class: 'reason', text: b.reason }) : null,
        b.drain
          ? h('span', {
              class: 'reason drain-note',
              text: `runtime drain by ${b.drain.by} since ${clock(b.drain.at)}${b.drain.until ? `, until ${clock(b.drain.until)}` : ''}`,
            })
          : null,
      ),
    ),
    h(
      'td',
      { class: 'num', 'data-label': 'Weight (configured / effective)' },
      h(
        'span',
        {},
        `${num(b.configuredWeight, 2)} / `,
        h('span', {
          class: b.effectiveWeight !== b.configuredWeight ? 'changed' : '',
          text: num(b.effectiveWeight, 2),
        }),
      ),
    ),
    h('td', { class: 'share-cell', 'data-label': 'Share (expected vs observed)' }, shareBars(t, verdict)),
    h('td', { class: 'ratio-cell', 'data-label': 'Share ratio' }, ratioGauge(t, bands, verdict)),
    h('td', { class: 'num', 'data-label': 'In-flight', text: String(b.inFlight ?? t?.inFlight ?? 0) }),
    h('td', { class: 'num', 'data-label': 'Req/s', text: t ? num(t.rps) : '–' }),
    h('td', {
      class: `num${t && t.errorRatio > 0.01 ? ' hot' : ''}`,
      'data-label': 'Errors',
      text: t ? pct(t.errorRatio, 2) : '–',
    }),
    h('td', {
      class: 'num',
      'data-label': 'Latency p50 / p99',
      text: t ? `${ms(t.p50Ms)} / ${ms(t.p99Ms)}` : '–',
    }),
  ];
  const row = h(
    'tr',
    {
      class: `backend${oob ? ' oob' : ''}${unwell(b) ? ' unwell' : ''}`,
      dataset: { backend: b.name, state: b.state, verdict },
    },
    cells,
  );
  const causes = causeLines(p, b, alerts, verdict, bands);
  if (causes.length === 0) return row;
  return [
    row,
    h(
      'tr',
      { class: `cause-row${oob ? ' oob' : ''}`, dataset: { causeFor: b.name } },
      h('td', { colspan: '9' }, h('ul', { class: 'causes' }, causes)),
    ),
  ];
}

/** Drain or undrain at runtime (the token dialog confirms); the host-state event refreshes the view. */
function drainButton(p, b) {
  const drained = Boolean(b.drain);
  const path = `/api/v1/pools/${encodeURIComponent(p.name)}/backends/${encodeURIComponent(b.name)}/drain`;
  return h(
    'button',
    {
      type: 'button',
      class: 'secondary small drain-button',
      dataset: { drainFor: b.name },
      onclick: () =>
        act({
          title: `${drained ? 'Undrain' : 'Drain'} ${p.name}/${b.name}`,
          text: drained
            ? `Puts ${b.name} back into rotation (slow start applies when the pool has one).`
            : `Takes ${b.name} out of rotation now: in-flight requests finish, no new ones are sent. Recorded in the event log; survives reloads that keep the backend.`,
          confirm: drained ? 'Undrain' : 'Drain',
          method: drained ? 'DELETE' : 'POST',
          path,
          body: drained ? undefined : { reason: 'from the dashboard' },
          resultEl: 'drain-result',
          describe: (r) =>
            r.drain ? `${r.pool}/${r.backend} drained.` : `${r.pool}/${r.backend} back in rotation.`,
        }),
    },
    drained ? 'Undrain' : 'Drain',
  );
}

function shareBars(t, verdict) {
  if (!t) return h('span', { class: 'muted', text: 'no traffic data' });
  const bar = (kind, label, value) =>
    h(
      'div',
      { class: `bar-line ${kind}` },
      h('span', { class: 'bar-label', text: label }),
      h(
        'span',
        { class: 'bar-track', 'aria-hidden': 'true' },
        sized(h('span', { class: `bar-fill v-${verdict}` }), value),
      ),
      h('span', { class: 'bar-value', text: pct(value) }),
    );
  return h(
    'div',
    { class: 'bars' },
    bar('expected', 'exp', t.expectedShare),
    bar('observed', 'obs', t.observedShare),
  );
}

function sized(el, fraction) {
  el.style.width = `${Math.max(0, Math.min(1, fraction ?? 0)) * 100}%`;
  return el;
}

function ratioGauge(t, bands, verdict) {
  const r = t?.shareRatio ?? null;
  const gauge = h('span', { class: 'gauge', 'aria-hidden': 'true' });
  const starved = h('span', { class: 'zone starved' });
  starved.style.width = `${(bands.starved / GAUGE_MAX) * 100}%`;
  const overfed = h('span', { class: 'zone overfed' });
  overfed.style.left = `${(Math.min(bands.overfed, GAUGE_MAX) / GAUGE_MAX) * 100}%`;
  const one = h('span', { class: 'one' });
  one.style.left = `${(1 / GAUGE_MAX) * 100}%`;
  gauge.append(starved, overfed, one);
  if (r !== null) {
    const mark = h('span', { class: `mark v-${verdict}` });
    mark.style.left = `${(Math.min(r, GAUGE_MAX) / GAUGE_MAX) * 100}%`;
    gauge.append(mark);
  }
  return h(
    'div',
    { class: 'ratio' },
    gauge,
    h(
      'span',
      { class: `ratio-text v-${verdict}` },
      h('strong', { text: ratio(r) }),
      ' ',
      // Within the bands yet overloaded: the balancer obeys a config that asks too much of it.
      verdict === 'overloaded' && r !== null && r >= bands.starved && r <= bands.overfed
        ? 'as configured, overloaded'
        : (VERDICTS[verdict] ?? verdict),
    ),
  );
}

function alertLabel(a) {
  return h('span', { class: `alert-tag ${a.state}`, text: `${a.alertname} (${a.state})` });
}

/** Why a backend stands out, in words: the alert's cause when there is one, else the verdict. */
function causeLines(p, b, alerts, verdict, bands) {
  const t = b.traffic;
  const lines = alertsFor(alerts, p.name, b.name).map((a) =>
    h(
      'li',
      { class: `sev-${a.severity}` },
      alertLabel(a),
      ' ',
      h('span', { class: 'summary', text: a.annotations.summary ?? '' }),
      a.annotations.cause
        ? h('span', { class: 'cause' }, h('strong', { text: 'Cause: ' }), a.annotations.cause)
        : null,
    ),
  );
  if (lines.length > 0 || !t) return lines;
  if (verdict === 'overfed')
    lines.push(
      h('li', {
        text: `gets ${ratio(t.shareRatio)} its expected share, above the overfed band ${bands.overfed}×`,
      }),
    );
  else if (verdict === 'starved')
    lines.push(
      h('li', {
        text: `gets ${ratio(t.shareRatio)} its expected share, below the starved band ${bands.starved}×`,
      }),
    );
  else if (verdict === 'overloaded')
    lines.push(
      h('li', {
        text: `overloaded: ${pct(t.observedShare)} of traffic for ${pct(t.capacityShare)} of capacity, ${pct(t.errorRatio)} errors`,
      }),
    );
  // The monitor's own words for verdicts it explains (a slow backend steered around...).
  if (t.note) lines.push(h('li', { text: t.note }));
  return lines;
}
