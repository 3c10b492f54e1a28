// The kernel's SO_REUSEPORT hash, not fulcrum's balancing, decides which worker thread a new
// connection lands on: a few long-lived connections can put most requests on one worker. The
// backends still see exact shares (the balancing state is shared), but that worker's core
// becomes the bottleneck — skew of fulcrum's own, and this rule says so.
import type { ActiveSample } from '../alerts.ts';
import { defineAlertRule } from './alert-rule.ts';
import { fmtMs } from './format.ts';
import { BY_INSTANCE } from './promql.ts';

/** A worker with more than this multiple of its fair share of requests is skewed. */
export const WORKER_SKEW_FACTOR = 1.5;

export const workerSkew = defineAlertRule({
  name: 'WorkerSkew',
  severity: 'info',
  category: 'traffic',
  labels: [],
  timing: (m) => ({ forMs: m.window, keepFiringForMs: 0 }),
  doc: {
    forText: '`window`',
    activeWhen: `with \`workers\` above 1, one worker thread served more than ${WORKER_SKEW_FACTOR}× its fair share (1/N) of the window's requests, with ≥ \`minRequestsPerBackend\` × N requests in the window`,
    whatToDo:
      'Not the backends: their shares stay exact. Few long-lived client connections hash onto few workers; more client connections (or an L4 balancer spreading them) even it out. Compare `fulcrum_worker_connections`.',
  },
  evaluate(ctx) {
    const w = ctx.workers;
    const n = w.length;
    if (n < 2) return [];
    const total = w.reduce((a, x) => a + x.requests, 0);
    if (total < ctx.monitor.fairness.minRequestsPerBackend * n) return [];
    const top = w.reduce((a, x) => (x.requests > a.requests ? x : a));
    const share = top.requests / total;
    if (share <= WORKER_SKEW_FACTOR / n) return [];
    const conns = w.reduce((a, x) => a + x.connections, 0);
    const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
    const out: ActiveSample[] = [
      {
        labels: {},
        value: share,
        annotations: {
          summary: `worker ${top.worker} served ${pct(share)} of requests (fair share ${pct(1 / n)} of ${n} workers): skew of fulcrum's own`,
          description: `Over the last ${fmtMs(ctx.monitor.window)}, worker thread ${top.worker} served ${top.requests} of ${total} requests; it holds ${top.connections} of ${conns} open client connections. The kernel's SO_REUSEPORT hash places each new connection on a worker, so a few long-lived connections land on few workers. The backends' shares are not affected (the balancing state is shared by all workers), but this worker's core limits throughput. More client connections, or a layer-4 balancer in front, spread them. See more: fulcrum status`,
          command: 'fulcrum status',
        },
      },
    ];
    return out;
  },
  promql: ({ monitor, w }) => ({
    expr: `max by (${BY_INSTANCE}) (rate(fulcrum_worker_requests_total[${w}]))\n  / sum by (${BY_INSTANCE}) (rate(fulcrum_worker_requests_total[${w}]))\n  > ${WORKER_SKEW_FACTOR} / count by (${BY_INSTANCE}) (fulcrum_worker_requests_total)\nand count by (${BY_INSTANCE}) (fulcrum_worker_requests_total) > 1\nand sum by (${BY_INSTANCE}) (increase(fulcrum_worker_requests_total[${w}])) >= ${monitor.fairness.minRequestsPerBackend} * count by (${BY_INSTANCE}) (fulcrum_worker_requests_total)`,
    summary:
      "one worker thread of {{ $labels.instance }} serves more than its share of requests: skew of fulcrum's own",
    description:
      "One data-plane worker thread serves more than 1.5× its fair share of requests: the kernel's SO_REUSEPORT hash put most client connections on it. The backends' shares are not affected; that worker's core limits throughput. Compare fulcrum_worker_connections; more client connections spread better.",
  }),
});
