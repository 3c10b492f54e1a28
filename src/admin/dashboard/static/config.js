/* global document */
// Config: the running version, the history (author, message, time, source), a diff between
// any two versions, and rollback to a version through the token dialog.
import { act, get } from './api.js';
import { h, mount, pct, when } from './dom.js';

export class ConfigPanel {
  constructor() {
    this.current = document.getElementById('config-current');
    this.history = document.getElementById('config-history');
    this.from = document.getElementById('diff-from');
    this.to = document.getElementById('diff-to');
    this.diffOut = document.getElementById('diff-output');
    this.result = document.getElementById('config-result');
    /** Until the user picks versions, the diff follows the latest change. */
    this.userPicked = false;
    document.getElementById('diff-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.userPicked = true;
      void this.showDiff();
    });
  }

  async load() {
    const [cfg, list] = await Promise.all([
      get('/api/v1/config').catch(() => undefined),
      get('/api/v1/config/versions?limit=50'),
    ]);
    this.renderCurrent(cfg);
    this.renderHistory(list.versions, list.current);
    this.fillSelects(list.versions, list.current);
    if (!this.userPicked && list.versions.length > 0) await this.showDiff();
    return list.current;
  }

  renderCurrent(v) {
    if (!v) {
      mount(this.current, h('p', { class: 'empty', text: 'No config applied yet.' }));
      return;
    }
    mount(
      this.current,
      h(
        'dl',
        { class: 'facts' },
        fact('version', h('strong', { id: 'config-version', text: String(v.version) })),
        fact('applied', when(v.createdAt)),
        fact('author', v.author),
        fact('source', v.source + (v.parent ? ` (text of version ${v.parent})` : '')),
        fact('message', v.message || '–'),
        fact('sha256', h('code', { title: v.sha256, text: v.sha256.slice(0, 12) })),
      ),
      h(
        'details',
        { class: 'config-text' },
        h('summary', { text: v.redacted ? 'Config text (secrets redacted)' : 'Config text' }),
        v.redacted
          ? h('p', {
              class: 'muted',
              text: 'Tokens, header values and webhook paths are hidden without the admin token.',
            })
          : null,
        h('pre', {}, h('code', { text: v.text })),
      ),
    );
  }

  renderHistory(versions, current) {
    if (versions.length === 0) {
      mount(this.history, h('p', { class: 'empty', text: 'No versions stored.' }));
      return;
    }
    mount(
      this.history,
      h(
        'table',
        { class: 'history' },
        h('caption', { class: 'sr-only', text: 'Config versions, newest first' }),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ['Version', 'Applied', 'Author', 'Source', 'Message', ''].map((t) =>
              h('th', { scope: 'col', text: t }),
            ),
          ),
        ),
        h(
          'tbody',
          {},
          versions.map((v) =>
            h(
              'tr',
              { dataset: { version: String(v.version) }, class: v.version === current ? 'current' : '' },
              h(
                'td',
                { class: 'num', 'data-label': 'Version' },
                h(
                  'span',
                  {},
                  String(v.version),
                  v.version === current ? h('span', { class: 'badge good', text: 'running' }) : null,
                ),
              ),
              h('td', { 'data-label': 'Applied' }, when(v.createdAt)),
              h('td', { 'data-label': 'Author', text: v.author }),
              h('td', { 'data-label': 'Source', text: v.source + (v.parent ? ` ← v${v.parent}` : '') }),
              h('td', { 'data-label': 'Message', class: 'message', text: v.message || '–' }),
              h(
                'td',
                { class: 'actions' },
                v.version === current
                  ? null
                  : h(
                      'button',
                      {
                        type: 'button',
                        class: 'secondary small',
                        dataset: { rollback: String(v.version) },
                        onclick: () => this.rollback(v.version, current),
                      },
                      `Roll back to ${v.version}`,
                    ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  fillSelects(versions, current) {
    const opts = (sel) =>
      versions.map((v) =>
        h('option', {
          value: String(v.version),
          selected: sel === v.version,
          text: `v${v.version}${v.version === current ? ' (running)' : ''} — ${v.message || v.source}`,
        }),
      );
    const from = this.userPicked ? Number(this.from.value) : (versions[1]?.version ?? versions[0]?.version);
    const to = this.userPicked ? Number(this.to.value) : versions[0]?.version;
    mount(this.from, opts(from));
    mount(this.to, opts(to));
  }

  async showDiff() {
    const from = Number(this.from.value);
    const to = Number(this.to.value);
    if (!from || !to) return;
    try {
      const r = await get(`/api/v1/config/diff?from=${from}&to=${to}`);
      mount(this.diffOut, renderDiff(r));
    } catch (err) {
      mount(
        this.diffOut,
        h('p', { class: 'result error', text: `Cannot diff v${from} → v${to}: ${err.message}` }),
      );
    }
  }

  async rollback(version, current) {
    await act({
      title: `Roll back to version ${version}`,
      text: `Applies the text of version ${version} again as a new version (through the same path as any apply). Version ${current} stays in the history and can be restored the same way.`,
      confirm: `Roll back to ${version}`,
      path: '/api/v1/config/rollback',
      body: { version },
      resultEl: this.result,
      describe: (r) =>
        r.status === 'applied'
          ? `Rolled back: version ${r.version} now runs the text of version ${version} (was ${r.previousVersion ?? '–'}).`
          : `Nothing applied (${r.status}): the running config already has that text.`,
    });
    await this.load();
  }
}

function fact(label, value) {
  return h('div', {}, h('dt', { text: label }), h('dd', {}, value));
}

const SIGN = { added: '+', removed: '−', changed: '~' };

export function renderDiff({ from, to, diff }) {
  if (!diff.changed) return [h('p', { class: 'empty', text: `v${from} → v${to}: no changes.` })];
  const changed = diff.pools.filter((p) => p.status !== 'unchanged');
  return [
    h('p', { class: 'muted', text: `v${from} → v${to}: ${diff.changes.length} change(s)` }),
    h(
      'ul',
      { class: 'diff' },
      diff.changes.map((c) =>
        h(
          'li',
          { class: `diff-${c.kind}` },
          h('span', { class: 'sign', 'aria-label': c.kind, text: SIGN[c.kind] ?? '?' }),
          h('code', { class: 'path', text: c.path }),
          c.kind === 'changed'
            ? [': ', h('del', { text: c.beforeText ?? '' }), ' → ', h('ins', { text: c.afterText ?? '' })]
            : null,
          c.kind === 'added' ? [': ', h('ins', { text: c.afterText ?? '' })] : null,
          c.kind === 'removed' ? [': ', h('del', { text: c.beforeText ?? '' })] : null,
        ),
      ),
    ),
    changed.length > 0
      ? h(
          'div',
          { class: 'share-changes' },
          h('h4', { text: 'Expected shares, before → after' }),
          changed.map((p) =>
            h(
              'table',
              { class: 'shares' },
              h(
                'caption',
                {},
                `pool ${p.pool} (${p.status})`,
                p.keysMoved !== undefined ? ` — ${pct(p.keysMoved)} of hash keys move` : '',
              ),
              h(
                'tbody',
                {},
                p.backends.map((b) =>
                  h(
                    'tr',
                    {},
                    h('th', { scope: 'row', text: b.backend }),
                    h('td', { class: 'num', text: `${pct(b.before)} → ${pct(b.after)}` }),
                  ),
                ),
              ),
            ),
          ),
        )
      : null,
  ];
}
