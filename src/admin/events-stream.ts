// GET /api/v1/events: server-sent events of host state changes and control-plane notices
// (config applied, alerts, audits). A slow client is dropped rather than buffered forever.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventHub } from '../core/events.ts';

const HEARTBEAT_MS = 15_000;
/** Bytes we let queue for one client before we give up on it. */
const MAX_BUFFERED = 1024 * 1024;

export function serveEvents(req: IncomingMessage, res: ServerResponse, hub: EventHub): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // Tell EventSource to reconnect after 2 s if the stream drops.
  res.write('retry: 2000\n\n');
  let id = 0;
  const send = (type: string, data: unknown): void => {
    if (res.writableLength > MAX_BUFFERED) {
      res.destroy();
      return;
    }
    res.write(`id: ${++id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const unsubscribe = [
    hub.hostState.subscribe((e) => send('host-state', e)),
    hub.notices.subscribe((n) => send(n.type, { at: n.at, ...n.data })),
  ];
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  const close = (): void => {
    clearInterval(heartbeat);
    for (const u of unsubscribe) u();
  };
  req.on('close', close);
  res.on('close', close);
}
