import { formatDuration } from '../../../core/units.ts';
import { defineRule } from '../types.ts';

export const upstreamIdleTimeout = defineRule({
  id: 'upstream-idle-timeout',
  severity: 'warning',
  title: 'Upstream idle timeout is at or above a typical backend keep-alive',
  rationale:
    'If the backend closes an idle keep-alive socket first, fulcrum may send a request on it just as it closes and get a reset (502). ' +
    'Node’s default server keepAliveTimeout is 5s; many frameworks use the same or less.',
  remediation:
    'Set `timeouts.idle` below the backends’ keep-alive timeout (fulcrum’s default is 4s), or raise `backendKeepAliveMs` if your backends keep sockets longer.',
  parameters: { backendKeepAliveMs: 5000 },
  parameterDocs: {
    backendKeepAliveMs: 'the backends’ keep-alive timeout in milliseconds (Node’s default: 5000)',
  },
  check({ config, params }) {
    const hits = [];
    for (const [name, pool] of Object.entries(config.pools)) {
      const idle = pool.timeouts.idle;
      if (idle < params.backendKeepAliveMs) continue;
      hits.push({
        path: ['pools', name, 'timeouts', 'idle'],
        message:
          `timeouts.idle ${formatDuration(idle)} ≥ backend keep-alive ${formatDuration(params.backendKeepAliveMs)} in pool ${name}: ` +
          'reused sockets may already be closed by the backend (502 on reset)',
      });
    }
    return hits;
  },
});
