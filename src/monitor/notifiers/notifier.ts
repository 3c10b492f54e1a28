// Notification targets from config.monitor.notify: Alertmanager's v2 API or a generic
// webhook with Alertmanager's webhook payload. notify() only serialises and enqueues;
// delivery happens off the evaluation path in a DeliveryQueue.
import type { Logger } from 'pino';
import type { MonitorConfig } from '../../config/schema.ts';
import type { AlertView } from '../alerts.ts';
import { DeliveryQueue, type DeliveryResult } from './delivery-queue.ts';
import { postableAlert, webhookPayloads } from './payloads.ts';

export interface Notifier {
  readonly name: string;
  readonly kind: 'alertmanager' | 'webhook';
  /** Alertmanager forgets firing alerts that are not re-sent; webhooks only want changes. */
  readonly wantsResend: boolean;
  notify(alerts: readonly AlertView[], wallNow: number): void;
  idle(): Promise<void>;
  close(): void;
  readonly queue: DeliveryQueue;
}

export interface NotifierContext {
  /** Position in monitor.notify: the label of a notifier without a `name`. */
  readonly index?: number;
  readonly logger: Logger;
  readonly externalURL: string;
  readonly onResult?: (notifier: string, result: DeliveryResult, alerts: number) => void;
  /** Queue options for tests (short back-off). */
  readonly queue?: { capacity?: number; maxAttempts?: number; baseBackoffMs?: number; timeoutMs?: number };
}

/** `http://am:9093` → `http://am:9093/api/v2/alerts`; a full path is kept as given. */
export function alertmanagerUrl(url: string): string {
  return /\/api\/v2\/alerts\/?$/.test(url) ? url : `${url.replace(/\/+$/, '')}/api/v2/alerts`;
}

export function createNotifier(spec: MonitorConfig['notify'][number], ctx: NotifierContext): Notifier {
  const generatorURL = `${ctx.externalURL}/api/v1/alerts`;
  const kind = 'alertmanager' in spec ? 'alertmanager' : 'webhook';
  const url = 'alertmanager' in spec ? alertmanagerUrl(spec.alertmanager) : spec.webhook;
  // Never the URL: its path or query is often the credential, and labels land in Prometheus.
  const name = spec.name ?? `${kind}-${ctx.index ?? 0}`;
  const queue = new DeliveryQueue({
    name,
    url,
    ...(spec.headers ? { headers: spec.headers } : {}),
    logger: ctx.logger,
    ...ctx.queue,
    onResult: (result, d) => ctx.onResult?.(name, result, d.alerts),
  });
  const notify =
    kind === 'alertmanager'
      ? (alerts: readonly AlertView[], wallNow: number) => {
          if (alerts.length === 0) return;
          const body = JSON.stringify(alerts.map((a) => postableAlert(a, wallNow, generatorURL)));
          queue.push({ body, alerts: alerts.length });
        }
      : (alerts: readonly AlertView[]) => {
          for (const p of webhookPayloads(alerts, 'fulcrum', ctx.externalURL, generatorURL)) {
            queue.push({ body: JSON.stringify(p), alerts: p.alerts.length });
          }
        };
  return {
    name,
    kind,
    wantsResend: kind === 'alertmanager',
    notify,
    idle: () => queue.idle(),
    close: () => queue.close(),
    queue,
  };
}
