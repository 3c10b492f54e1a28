/* global document, Node */
// Small DOM and formatting helpers. Elements are built with createElement and textContent
// only (never innerHTML), so names from the config cannot inject markup.

/**
 * h('div', { class: 'x', onclick: fn }, child, 'text', [more]) → HTMLElement.
 * Attributes: `class`, `text`, `on<event>`, `dataset` (object), booleans (set when true), the rest as strings.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replace the children of `el` (by id or element). */
export function mount(el, ...children) {
  const target = typeof el === 'string' ? document.getElementById(el) : el;
  target.replaceChildren();
  append(target, children);
  return target;
}

export function pct(f, digits = 1) {
  if (f === null || f === undefined || Number.isNaN(f)) return '–';
  return `${(f * 100).toFixed(digits)}%`;
}

export function num(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en');
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function ms(v) {
  if (v === null || v === undefined) return '–';
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
}

export function ratio(r) {
  if (r === null || r === undefined) return '–';
  return `${r.toFixed(2)}×`;
}

export function clock(at) {
  if (!at) return '–';
  const d = new Date(at);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString('en-GB', { hour12: false });
  return today ? time : `${d.toISOString().slice(0, 10)} ${time}`;
}

export function ago(at, now = Date.now()) {
  if (!at) return '';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export function duration(msValue) {
  const s = Math.round(msValue / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** A <time> element with the absolute time and, beside it, how long ago. */
export function when(at) {
  if (!at) return h('span', { class: 'muted', text: '–' });
  return h(
    'time',
    { datetime: new Date(at).toISOString(), title: new Date(at).toISOString() },
    clock(at),
    ' ',
    h('span', { class: 'muted', text: `(${ago(at)})` }),
  );
}
