// The store checks itself while fulcrum runs: a cheap integrity check on a schedule. Damage
// found is logged at error and announced as a `store-corrupt` notice; the store then refuses
// writes (so applies are refused) while the proxy keeps serving the running version.
import type { Logger } from 'pino';
import type { EventHub } from '../core/events.ts';
import type { Store } from '../store/store.ts';

/** Default period of the scheduled check: a quick_check of a store file takes milliseconds. */
export const STORE_CHECK_INTERVAL_MS = 10 * 60_000;

export interface StoreCheckDeps {
  store: Store;
  logger: Logger;
  hub: EventHub;
  intervalMs?: number;
}

/** Start the schedule; returns its stop function. Stores without a check are not scheduled. */
export function scheduleStoreCheck(deps: StoreCheckDeps): () => void {
  const { store, logger, hub } = deps;
  const check = store.checkIntegrity?.bind(store);
  if (check === undefined) return () => {};
  let reported = false;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void check()
      .then((r) => {
        if (r.ok || reported) return;
        reported = true;
        logger.error(
          { problems: r.problems, code: 'FULCRUM_ERR_STORE_CORRUPT' },
          'store failed its integrity check: applies are refused, serving continues on the running version (see docs/store.md)',
        );
        hub.notices.emit({ type: 'store-corrupt', at: Date.now(), data: { problems: r.problems } });
      })
      .catch((err: unknown) => logger.error({ err }, 'store integrity check failed to run'))
      .finally(() => (running = false));
  }, deps.intervalMs ?? STORE_CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
