// Alertmanager's two wire formats, built from AlertView:
// - the v2 API body (POST /api/v2/alerts): an array of postable alerts;
// - the webhook receiver payload (version "4") Alertmanager itself sends to webhooks.
import type { AlertView } from '../alerts.ts';

export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt?: string;
  generatorURL: string;
}

/** How long a firing alert stays valid in Alertmanager without a resend. */
export const FIRING_VALIDITY_MS = 4 * 60_000;

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function postableAlert(a: AlertView, wallNow: number, generatorURL: string): PostableAlert {
  const resolved = a.state === 'resolved';
  return {
    labels: { ...a.labels },
    annotations: { ...a.annotations },
    startsAt: iso(a.firedAt ?? a.activeAt),
    endsAt: iso(resolved ? (a.resolvedAt ?? wallNow) : wallNow + FIRING_VALIDITY_MS),
    generatorURL,
  };
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

function common(maps: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  const first = maps[0];
  if (!first) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first)) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** One payload per alertname (Alertmanager's default grouping `group_by: [alertname]`). */
export function webhookPayloads(
  alerts: readonly AlertView[],
  receiver: string,
  externalURL: string,
  generatorURL: string,
): WebhookPayload[] {
  const groups = new Map<string, AlertView[]>();
  for (const a of alerts) {
    const g = groups.get(a.alertname);
    if (g) g.push(a);
    else groups.set(a.alertname, [a]);
  }
  return [...groups].map(([alertname, group]) => {
    const items: WebhookAlert[] = group.map((a) => ({
      status: a.state === 'resolved' ? 'resolved' : 'firing',
      labels: { ...a.labels },
      annotations: { ...a.annotations },
      startsAt: iso(a.firedAt ?? a.activeAt),
      // Alertmanager sends the zero time for alerts that have not ended.
      endsAt:
        a.state === 'resolved' && a.resolvedAt !== undefined ? iso(a.resolvedAt) : '0001-01-01T00:00:00Z',
      generatorURL,
      fingerprint: a.fingerprint,
    }));
    const groupLabels = { alertname };
    return {
      version: '4',
      groupKey: `{}:{alertname="${alertname}"}`,
      truncatedAlerts: 0,
      status: items.some((i) => i.status === 'firing') ? 'firing' : 'resolved',
      receiver,
      groupLabels,
      commonLabels: common(items.map((i) => i.labels)),
      commonAnnotations: common(items.map((i) => i.annotations)),
      externalURL,
      alerts: items,
    };
  });
}
