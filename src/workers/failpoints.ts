// Fault injection for worker tests and drills (etcd's and TiKV's "failpoints"): set through
// `FULCRUM_FAILPOINTS` (or startBalancer's `failpoints`), never through the config, so a
// production config cannot carry one. Comma-separated:
//   worker-prepare-fails=W@V   worker W refuses to prepare config versions >= V
//   worker-crash=W@N           worker W throws an uncaught error after serving N requests
//                              (its first incarnation only: the replacement runs clean)
import { FulcrumError } from '../core/errors.ts';

export interface Failpoints {
  readonly prepareFails?: { readonly worker: number; readonly version: number };
  readonly crash?: { readonly worker: number; readonly requests: number };
}

export function parseFailpoints(text: string | undefined): Failpoints {
  if (text === undefined || text.trim() === '') return {};
  const out: { prepareFails?: Failpoints['prepareFails']; crash?: Failpoints['crash'] } = {};
  for (const part of text.split(',')) {
    const m = /^\s*(worker-prepare-fails|worker-crash)=(\d+)@(\d+)\s*$/.exec(part);
    if (m === null) {
      throw new FulcrumError(
        'FULCRUM_ERR_CONFIG_INVALID',
        `FULCRUM_FAILPOINTS: cannot read "${part}" (expected worker-prepare-fails=W@V or worker-crash=W@N)`,
      );
    }
    const [a, b] = [Number(m[2]), Number(m[3])];
    if (m[1] === 'worker-crash') out.crash = { worker: a, requests: b };
    else out.prepareFails = { worker: a, version: b };
  }
  return out;
}
