// Alerts: firing, pending and recently resolved, with annotations and since-when.
import { duration, h, when } from './dom.js';

const STATE_TEXT = { firing: '● firing', pending: '◐ pending', resolved: '○ resolved' };

export function renderAlerts(alerts) {
  if (alerts.length === 0) {
    return [h('p', { class: 'empty' }, '✓ No alerts firing, pending or recently resolved.')];
  }
  const firing = alerts.filter((a) => a.state === 'firing').length;
  const pending = alerts.filter((a) => a.state === 'pending').length;
  const resolved = alerts.length - firing - pending;
  return [
    h('p', { class: 'muted', text: `${firing} firing, ${pending} pending, ${resolved} resolved recently` }),
    h('ul', { class: 'alerts' }, alerts.map(renderAlert)),
  ];
}

function renderAlert(a) {
  const labels = Object.entries(a.labels).filter(([k]) => k !== 'alertname' && k !== 'severity');
  const since =
    a.state === 'firing'
      ? ['firing since ', when(a.firedAt ?? a.activeAt)]
      : a.state === 'pending'
        ? ['active since ', when(a.activeAt), ', fires if it lasts']
        : [
            'resolved ',
            when(a.resolvedAt),
            a.firedAt && a.resolvedAt ? ` after firing ${duration(a.resolvedAt - a.firedAt)}` : '',
          ];
  return h(
    'li',
    { class: `alert ${a.state} sev-${a.severity}`, dataset: { alert: a.alertname, state: a.state } },
    h(
      'div',
      { class: 'alert-head' },
      h('span', { class: `alert-state ${a.state}`, text: STATE_TEXT[a.state] ?? a.state }),
      h('strong', { text: a.alertname }),
      h('span', { class: `sev sev-${a.severity}`, text: a.severity }),
      labels.map(([k, v]) => h('span', { class: 'label', text: `${k}=${v}` })),
    ),
    h('p', { class: 'summary', text: a.annotations.summary ?? '' }),
    a.annotations.cause
      ? h('p', { class: 'cause' }, h('strong', { text: 'Cause: ' }), a.annotations.cause)
      : null,
    h('p', { class: 'since muted' }, since),
    a.annotations.description
      ? h('details', {}, h('summary', { text: 'Description' }), h('p', { text: a.annotations.description }))
      : null,
  );
}
