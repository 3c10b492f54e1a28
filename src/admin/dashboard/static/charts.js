/* global ResizeObserver */
// Live time series with uPlot: requests/s and error ratio per backend, and the share ratio
// over the monitor window with the overfed/starved bands as dashed lines.
import uPlot from './vendor/uplot.js';
import { h, mount, ratio } from './dom.js';

// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];

export class Charts {
  constructor(root, select) {
    this.root = root;
    this.select = select;
    this.pool = undefined;
    this.key = '';
    this.plots = [];
    this.select.addEventListener('change', () => {
      this.pool = this.select.value;
      this.key = '';
      if (this.last) this.update(this.last.series, this.last.bandsByPool, this.last.poolOrder);
    });
    new ResizeObserver(() => this.#resize()).observe(root);
  }

  /** series: GET /api/v1/series; bandsByPool: pool → {overfed, starved}; poolOrder: pools in attention order. */
  update(series, bandsByPool, poolOrder) {
    this.last = { series, bandsByPool, poolOrder };
    if (!uPlot) {
      if (this.key !== 'missing') {
        this.key = 'missing';
        mount(
          this.root,
          h('p', { class: 'empty', text: 'Charts need the uplot package, which is not installed here.' }),
        );
      }
      return;
    }
    const names = series.pools.map((p) => p.pool);
    this.#options(poolOrder ?? names);
    const pool = series.pools.find((p) => p.pool === this.pool);
    if (!pool) {
      mount(this.root, h('p', { class: 'empty', text: 'No traffic series yet.' }));
      this.plots = [];
      this.key = '';
      return;
    }
    const bands = bandsByPool.get(pool.pool) ?? { overfed: 1.25, starved: 0.5 };
    // The newest slot is the second in progress: drawing it would show every series dropping.
    const n = Math.max(0, (pool.backends[0]?.requests.length ?? 0) - 1);
    const step = series.slotMs / 1000;
    const end = series.end / 1000;
    const xs = Array.from({ length: n }, (_, i) => end - (n - i) * step);
    const rps = pool.backends.map((b) => b.requests.slice(0, n).map((r) => r / step));
    const err = pool.backends.map((b) =>
      b.requests.slice(0, n).map((r, i) => (r > 0 ? b.errors[i] / r : null)),
    );
    const share = pool.backends.map((b) => b.shareRatio.slice(0, n));
    const data = [
      [xs, ...rps],
      [xs, ...err],
      [xs, ...share, xs.map(() => bands.overfed), xs.map(() => bands.starved)],
    ];
    const key = `${pool.pool}|${pool.backends.map((b) => b.backend).join(',')}|${bands.overfed}|${bands.starved}`;
    if (key !== this.key) this.#build(pool, bands, data, key);
    else this.plots.forEach((p, i) => p.setData(data[i]));
  }

  #options(names) {
    const current = [...this.select.options].map((o) => o.value).join('\u0000');
    if (current !== names.join('\u0000')) {
      mount(
        this.select,
        names.map((n) => h('option', { value: n, text: n })),
      );
    }
    if (!names.includes(this.pool)) this.pool = names[0];
    if (this.pool !== undefined) this.select.value = this.pool;
    this.select.closest('label').hidden = names.length < 2;
  }

  #build(pool, bands, data, key) {
    for (const p of this.plots) p.destroy();
    this.key = key;
    const width = this.#width();
    const backendSeries = pool.backends.map((b, i) => ({
      label: b.backend,
      stroke: PALETTE[i % PALETTE.length],
      width: 2,
      points: { show: false },
    }));
    const charts = [
      {
        title: 'Requests per second',
        fmt: (v) => (v === null ? '–' : v >= 10 || Number.isInteger(v) ? v.toFixed(0) : v.toFixed(1)),
        extra: [],
      },
      {
        title: 'Error ratio',
        fmt: (v) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`),
        extra: [],
        range: [0, null],
      },
      {
        title: 'Share ratio (observed ÷ expected)',
        fmt: (v) => (v === null ? '–' : ratio(v)),
        extra: [
          {
            label: `overfed band ${bands.overfed}×`,
            stroke: '#b42318',
            dash: [6, 4],
            width: 1,
            points: { show: false },
          },
          {
            label: `starved band ${bands.starved}×`,
            stroke: '#b54708',
            dash: [6, 4],
            width: 1,
            points: { show: false },
          },
        ],
      },
    ];
    const boxes = charts.map((c) =>
      h('figure', { class: 'chart', 'aria-label': `${c.title}, pool ${pool.pool}` }),
    );
    mount(this.root, boxes);
    this.plots = charts.map(
      (c, i) =>
        new uPlot(
          {
            title: c.title,
            width,
            height: 200,
            cursor: { drag: { x: false, y: false } },
            legend: { live: false },
            scales: {
              x: { time: true },
              y: { range: (_u, min, max) => [0, Math.max(max ?? 0, i === 2 ? 2 : i === 1 ? 0.05 : 1)] },
            },
            axes: [{}, { values: (_u, vals) => vals.map(c.fmt), size: 60 }],
            series: [{}, ...backendSeries.map((s) => ({ ...s, value: (_u, v) => c.fmt(v) })), ...c.extra],
          },
          data[i],
          boxes[i],
        ),
    );
  }

  #width() {
    const w = this.root.clientWidth;
    // Three charts side by side when there is room, else stacked.
    return w >= 1100 ? Math.floor((w - 32) / 3) : Math.max(260, w - 8);
  }

  #resize() {
    const width = this.#width();
    for (const p of this.plots) if (p.width !== width) p.setSize({ width, height: 200 });
  }
}
