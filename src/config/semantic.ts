// Semantic checks: rules that hold between keys, run after the schema accepted the
// document. Each problem is a FULCRUM_ERR_CONFIG_INVALID issue at the path a reader
// would fix.
import { Cron } from 'croner';
import { policyDescriptor } from '../balancer/registry.ts';
import { parseAddress } from '../core/units.ts';
import { didYouMean } from './did-you-mean.ts';
import { RULES } from './lint/catalog.ts';
import { formatPath, invalidIssuePusher } from './issue.ts';
import { hasRawPath } from './lint/raw-path.ts';
import type { ConfigIssue } from './issue.ts';
import type { DocPath, Position } from './issue.ts';
import { LIMITS, type Config } from './schema.ts';

export function semanticIssues(
  config: Config,
  positionOf: (path: DocPath) => Position | undefined,
  /** The document as written (before defaults), to tell written keys from filled-in ones. */
  raw: unknown,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const push = invalidIssuePusher(issues, positionOf);

  checkRoutes(config, push);
  checkListenAddresses(config, push);
  for (const [poolName, pool] of Object.entries(config.pools))
    checkPool(poolName, pool, push, (path) => hasRawPath(raw, path));
  checkSchedule(config.audit.schedule, push);
  const backends = Object.values(config.pools).reduce((n, p) => n + p.backends.length, 0);
  if (backends > LIMITS.backendsTotal)
    push(['pools'], `${backends} backends in all; at most ${LIMITS.backendsTotal} are allowed`);
  checkSuppressions(config, push);
  return issues;
}

type Push = (path: DocPath, message: string, hint?: string) => void;

/** A suppression must name a rule of the catalog: a typo would silently suppress nothing. */
function checkSuppressions(config: Config, push: Push): void {
  const ids = RULES.map((r) => r.id);
  config.lint.suppress.forEach((s, i) => {
    if (ids.includes(s.rule)) return;
    const guess = didYouMean(s.rule, ids);
    push(
      ['lint', 'suppress', i, 'rule'],
      `unknown lint rule "${s.rule}"`,
      guess !== undefined ? `did you mean "${guess}"?` : 'see docs/lint-rules.md for the rule ids',
    );
  });
}

function checkRoutes(config: Config, push: Push): void {
  const pools = Object.keys(config.pools);
  for (const [listenerName, listener] of Object.entries(config.listeners)) {
    listener.routes.forEach((route, i) => {
      const host = route.match.host;
      // The router knows exact hosts and one leading wildcard label, nothing else.
      if (host !== undefined && host.includes('*') && !/^\*\.[^*]+$/.test(host)) {
        push(
          ['listeners', listenerName, 'routes', i, 'match', 'host'],
          `"${host}": a wildcard must be the whole first label, e.g. *.example.com`,
        );
      }
      if (Object.hasOwn(config.pools, route.pool)) return;
      const guess = didYouMean(route.pool, pools);
      push(
        ['listeners', listenerName, 'routes', i, 'pool'],
        `route to unknown pool "${route.pool}"`,
        guess !== undefined
          ? `did you mean "${guess}"?`
          : pools.length > 0
            ? `defined pools: ${pools.join(', ')}`
            : 'define it under pools:',
      );
    });
  }
}

// Wildcard binds take the port on every interface, so they clash with any host.
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

function checkListenAddresses(config: Config, push: Push): void {
  const taken: { path: DocPath; host: string; port: number; text: string }[] = [];
  const claim = (path: DocPath, text: string): void => {
    const a = parseAddress(text);
    // Port 0 asks the OS for any free port, so two of them never clash.
    if (a === undefined || a.port === 0) return;
    const host = a.host.toLowerCase();
    const clash = taken.find(
      (t) => t.port === a.port && (t.host === host || WILDCARD_HOSTS.has(t.host) || WILDCARD_HOSTS.has(host)),
    );
    if (clash !== undefined) {
      push(path, `address ${text} is already used by ${formatPath(clash.path)} (${clash.text})`);
    } else {
      taken.push({ path, host, port: a.port, text });
    }
  };
  for (const [name, listener] of Object.entries(config.listeners))
    claim(['listeners', name, 'address'], listener.address);
  claim(['admin', 'address'], config.admin.address);
}

function checkPool(
  poolName: string,
  pool: Config['pools'][string],
  push: Push,
  written: (path: DocPath) => boolean,
): void {
  const at = (...rest: (string | number)[]): DocPath => ['pools', poolName, ...rest];

  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  pool.backends.forEach((b, i) => {
    const first = names.get(b.name);
    if (first !== undefined)
      push(at('backends', i, 'name'), `duplicate backend name "${b.name}" (also backends[${first}])`);
    else names.set(b.name, i);

    const a = parseAddress(b.address);
    if (a === undefined || a.port === 0) return;
    const key = `${a.host.toLowerCase()}:${a.port}`;
    const firstAddr = addresses.get(key);
    if (firstAddr !== undefined) {
      push(
        at('backends', i, 'address'),
        `duplicate backend address ${b.address} (also backends[${firstAddr}])`,
        'to give one server more traffic, raise its weight instead',
      );
    } else addresses.set(key, i);
  });

  if (pool.backends.length > 0 && pool.backends.every((b) => b.weight === 0)) {
    push(at('backends'), 'every backend has weight 0, so the pool can never take traffic');
  }

  // The schema fills `hash` in for every pool; only a written one can be misplaced.
  if (written(at('hash')) && !policyDescriptor(pool.policy).hashKeyed) {
    push(
      at('hash'),
      `hash is only used by policy consistent-hash (this pool uses ${pool.policy})`,
      'remove hash, or set policy: consistent-hash',
    );
  }

  const hc = pool.healthCheck;
  if (hc !== undefined) {
    if (hc.timeout <= 0) push(at('healthCheck', 'timeout'), 'must be > 0');
    if (hc.interval <= 0) push(at('healthCheck', 'interval'), 'must be > 0');
  }

  const od = pool.outlierDetection;
  if (od !== undefined) {
    if (od.maxEjectionTime < od.baseEjectionTime) {
      push(at('outlierDetection', 'maxEjectionTime'), 'must be ≥ baseEjectionTime');
    }
    if (od.interval <= 0) push(at('outlierDetection', 'interval'), 'must be > 0');
  }

  if (pool.flapDampening.maxHoldTime < pool.flapDampening.holdTime) {
    push(at('flapDampening', 'maxHoldTime'), 'must be ≥ holdTime');
  }
}

function checkSchedule(schedule: string, push: Push): void {
  if (schedule.trim() === '') return;
  let next: Date | null;
  try {
    // Paused and without a callback: croner only parses, no timer is started.
    const cron = new Cron(schedule, { paused: true });
    next = cron.nextRun();
    cron.stop();
  } catch (e) {
    push(
      ['audit', 'schedule'],
      `invalid cron expression: ${(e as Error).message.replace(/^CronPattern: /, '')}`,
      'for example "*/15 * * * *" (every 15 minutes); "" disables scheduled audits',
    );
    return;
  }
  if (next === null) push(['audit', 'schedule'], `cron expression "${schedule}" never fires`);
}
