// One instance's part in a fleet (docs/fleet.md): it holds a lease carrying its membership
// record and load report, follows the latest config version through the controller's adopt
// path, and judges the fleet from what etcd holds. Everything here runs beside the data plane:
// a slow or unreachable etcd delays the fleet view, never a request.
import { hostname } from 'node:os';
import type pino from 'pino';
import type { Lease } from 'etcd3';
import { Gauge, Registry } from 'prom-client';
import { loadConfigText } from '../config/load.ts';
import type { FleetConfig } from '../config/schema.ts';
import { FulcrumError, errorMessage } from '../core/errors.ts';
import { parseAddress } from '../core/units.ts';
import type { ActiveSample, RuleDef } from '../monitor/alerts.ts';
import type { ApplyResult, ConfigController } from '../runtime/controller.ts';
import type { Snapshot } from '../data-plane/snapshot.ts';
import type { EtcdStore } from '../store/etcd-store.ts';
import type { ConfigVersion } from '../store/store.ts';
import { judgeCanary, type CanaryVerdict } from './fleet-canary.ts';
import { FleetJudge, type FleetView } from './fleet-judge.ts';
import {
  LEASE_TTL_S,
  LEFT_TTL_S,
  fleetKeys,
  type AdoptFailure,
  type CanaryRecord,
  type LoadReport,
  type MemberRecord,
} from './fleet-records.ts';

/** Each etcd call of the fleet loop gives up after this, so one tick never stalls the next. */
const CALL_DEADLINE_MS = 2000;
/** An instance on another version than the latest for this long fires FleetConfigSkew. */
export const CONFIG_SKEW_GRACE_MS = 10_000;
/** Consecutive failed report rounds before the store counts as unreachable. */
const UNREACHABLE_AFTER_TICKS = 2;
/** A canary still held this long after its guard should have ended lost its judge: roll it back. */
export const ORPHAN_CANARY_GRACE_MS = 30_000;

export const FLEET_RULES = {
  InstanceSkewed: {
    name: 'InstanceSkewed',
    severity: 'warning',
    category: 'traffic',
    forMs: 3000,
    keepFiringForMs: 0,
  },
  FleetConfigSkew: {
    name: 'FleetConfigSkew',
    severity: 'warning',
    category: 'config',
    forMs: CONFIG_SKEW_GRACE_MS,
    keepFiringForMs: 0,
  },
  FleetInstanceLost: {
    name: 'FleetInstanceLost',
    severity: 'warning',
    category: 'health',
    forMs: 0,
    keepFiringForMs: 0,
  },
} as const satisfies Record<string, RuleDef>;

export interface CanaryOptions {
  /** `canaryInstances`: how many instances run the version first (this one included). */
  instances: number;
  guardMs: number;
  author: string;
  message?: string;
  force?: boolean;
}

export interface CanaryStatus {
  state: 'watching' | 'promoted' | 'rolled-back';
  version: number;
  baseVersion: number | null;
  targets: string[];
  startedAt: number;
  endsAt: number;
  verdict: CanaryVerdict | null;
  reason?: string;
  rollbackVersion?: number;
}

export interface FleetAgentDeps {
  store: EtcdStore;
  controller: ConfigController;
  fleet: FleetConfig;
  /** Environment for `${env:}` when reading a version's listener addresses. */
  env: Record<string, string | undefined>;
  logger: pino.Logger;
  /** Bound listener name → host:port. */
  listeners: () => Record<string, string>;
  /** Reasons this instance is degraded besides the store (the monitor's). */
  degradedReasons: () => string[];
  snapshot: () => Snapshot | undefined;
  /** The alert seam: report a fleet rule's active samples to the monitor's engine. */
  raiseAlerts?: (rule: RuleDef, active: ActiveSample[]) => void;
  /** Fairness alerts firing on this instance now (one that fired during a canary is a regression). */
  fairnessAlerts?: () => { name: string; firedAt: number }[];
  /** Share listener addresses with other instances on this host on purpose. */
  allowOverlap?: boolean;
  now?: () => number;
}

/** The instance id when `fleet.instance` is unset. */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

function deadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: no answer from etcd within ${CALL_DEADLINE_MS} ms`)),
      CALL_DEADLINE_MS,
    );
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export class FleetAgent {
  readonly instance: string;
  readonly #d: FleetAgentDeps;
  readonly #keys: ReturnType<typeof fleetKeys>;
  readonly #now: () => number;
  readonly #judge = new FleetJudge();
  readonly #startedAt: number;
  readonly #host = hostname();
  readonly #registry = new Registry();
  readonly #gInstances: Gauge;
  readonly #gVersion: Gauge;
  readonly #gShare: Gauge;
  #admin = '';
  #lease: Lease | undefined;
  #lastMemberJson = '';
  #members: MemberRecord[] = [];
  #reports: LoadReport[] = [];
  #left = new Set<string>();
  #latest: number | null = null;
  #canary: CanaryRecord | undefined;
  #reachable = true;
  #failedTicks = 0;
  #failure: AdoptFailure | undefined;
  #view: FleetView | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopWatch: (() => Promise<void>) | undefined;
  #lastRevision = 0;
  #follow: Promise<void> = Promise.resolve();
  #stopped = false;
  #ticking: Promise<void> | undefined;
  #guard: { status: CanaryStatus; start: Map<string, LoadReport> } | undefined;

  constructor(deps: FleetAgentDeps) {
    this.#d = deps;
    this.instance = deps.fleet.instance ?? defaultInstanceId();
    this.#keys = fleetKeys(deps.fleet.name);
    this.#now = deps.now ?? Date.now;
    this.#startedAt = this.#now();
    const registry = this.#registry;
    this.#gInstances = new Gauge({
      name: 'fulcrum_fleet_instances',
      help: 'Instances holding a membership lease in this fleet, as this instance sees it.',
      registers: [registry],
    });
    this.#gVersion = new Gauge({
      name: 'fulcrum_fleet_instance_config_version',
      help: 'Config version each fleet instance runs.',
      labelNames: ['instance'],
      registers: [registry],
    });
    this.#gShare = new Gauge({
      name: 'fulcrum_fleet_backend_share_ratio',
      help: 'Fleet-wide observed share over expected share per backend (summed instance counters over the judge window).',
      labelNames: ['pool', 'backend'],
      registers: [registry],
    });
  }

  /** Read the fleet's members once (before anything binds), so the overlap check has data. */
  async load(): Promise<void> {
    await this.#read();
    // Two processes with one id would overwrite each other's records.
    const twin = this.#members.find(
      (m) =>
        m.instance === this.instance &&
        m.state === 'running' &&
        (m.host !== this.#host || m.pid !== process.pid),
    );
    if (twin !== undefined) {
      throw new FulcrumError(
        'FULCRUM_ERR_FLEET_OVERLAP',
        `fleet instance id ${this.instance} is already held by pid ${twin.pid} on ${twin.host}; give each instance its own fleet.instance (a dead instance's record goes within ${LEASE_TTL_S} s)`,
      );
    }
  }

  /**
   * Refuse a config whose listeners another instance of this store already serves on this
   * host (unless overlap is allowed): two configs silently splitting one port via SO_REUSEPORT.
   */
  checkOverlap(text: string): void {
    const problem = this.#overlap(text);
    if (problem !== undefined) throw new FulcrumError('FULCRUM_ERR_FLEET_OVERLAP', problem);
  }

  /** Join: take the lease, publish, follow the latest version, judge every `fleet.report`. */
  async start(adminUrl: string): Promise<void> {
    this.#admin = adminUrl;
    await this.#tick();
    try {
      this.#stopWatch = await deadline(
        this.#d.store.watchVersions(
          (v, revision) => {
            this.#lastRevision = revision;
            this.#followVersion(v);
          },
          this.#lastRevision > 0 ? { fromRevision: this.#lastRevision + 1 } : {},
        ),
        'watch versions',
      );
    } catch (err) {
      // The periodic reconcile still follows, one report interval later.
      this.#d.logger.warn({ err: errorMessage(err) }, 'fleet: cannot watch versions; following by polling');
    }
    this.#schedule();
  }

  /** The last computed fleet view (GET /api/v1/fleet). */
  view(): FleetView | undefined {
    return this.#view;
  }

  degradedReasons(): string[] {
    return this.#reachable ? [] : ['store unreachable'];
  }

  get storeReachable(): boolean {
    return this.#reachable;
  }

  /** The fleet's metrics in Prometheus text format (appended to /metrics). */
  metrics(): Promise<string> {
    return this.#registry.metrics();
  }

  /** Leave cleanly: say so, then revoke the lease (the records go at once). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#ticking?.catch(() => undefined);
    await this.#stopWatch?.().catch(() => undefined);
    const lease = this.#lease;
    if (lease && !lease.revoked()) {
      try {
        // A key of its own that outlives the member record, so every judge reads "left", not "lost".
        const bye = this.#d.store.namespace.lease(LEFT_TTL_S, { autoKeepAlive: false });
        await deadline(
          bye.put(`${this.#keys.left}${this.instance}`).value(String(this.#now())).exec(),
          'leave',
        );
        bye.release();
        await deadline(
          lease
            .put(this.#keys.member(this.instance))
            .value(JSON.stringify({ ...this.#record(), state: 'leaving' }))
            .exec(),
          'leave',
        );
        await deadline(lease.revoke(), 'revoke lease');
      } catch {
        lease.release();
      }
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#ticking = this.#tick().finally(() => this.#schedule());
    }, this.#d.fleet.report);
    this.#timer.unref();
  }

  async #ensureLease(): Promise<Lease> {
    if (this.#lease && !this.#lease.revoked()) return this.#lease;
    this.#lease?.release();
    const lease = this.#d.store.namespace.lease(LEASE_TTL_S);
    this.#lease = lease;
    // A new lease holds no keys yet: publish the record again.
    this.#lastMemberJson = '';
    await deadline(lease.grant(), 'grant lease');
    return lease;
  }

  async #read(): Promise<void> {
    const ns = this.#d.store.namespace;
    const [all, latest] = await deadline(
      Promise.all([ns.getAll().prefix(this.#keys.root).strings(), ns.get('latest').string()]),
      'read fleet',
    );
    const members: MemberRecord[] = [];
    const reports: LoadReport[] = [];
    let canary: CanaryRecord | undefined;
    const left = new Set<string>();
    for (const [key, value] of Object.entries(all)) {
      try {
        if (key.startsWith(this.#keys.members)) members.push(JSON.parse(value) as MemberRecord);
        else if (key.startsWith(this.#keys.reports)) reports.push(JSON.parse(value) as LoadReport);
        else if (key.startsWith(this.#keys.left)) left.add(key.slice(this.#keys.left.length));
        else if (key === this.#keys.canary) canary = JSON.parse(value) as CanaryRecord;
      } catch {
        // A record this version cannot read is skipped, not fatal.
      }
    }
    this.#members = members;
    this.#reports = reports;
    this.#left = left;
    this.#canary = canary;
    this.#latest = latest === null ? null : Number(latest);
  }

  async #tick(): Promise<void> {
    const now = this.#now();
    try {
      const lease = await this.#ensureLease();
      const json = JSON.stringify(this.#record());
      if (json !== this.#lastMemberJson) {
        await deadline(lease.put(this.#keys.member(this.instance)).value(json).exec(), 'publish membership');
        this.#lastMemberJson = json;
      }
      await deadline(
        lease
          .put(this.#keys.report(this.instance))
          .value(JSON.stringify(this.#report(now)))
          .exec(),
        'publish report',
      );
      await this.#read();
      if (!this.#reachable) this.#d.logger.info('fleet: store reachable again');
      this.#reachable = true;
      this.#failedTicks = 0;
    } catch (err) {
      // One failed round is a dead member the client has not left behind yet; two is the store.
      if (++this.#failedTicks >= UNREACHABLE_AFTER_TICKS && this.#reachable) {
        this.#d.logger.warn({ err: errorMessage(err) }, 'fleet: store unreachable; serving on');
        this.#reachable = false;
      }
    }
    this.#judgeNow(now);
    if (this.#reachable) {
      await this.#guardCanary(now);
      await this.#reconcile();
    }
  }

  /** Catch up with the latest version if the watch missed it (etcd was away, say). */
  async #reconcile(): Promise<void> {
    const latest = this.#latest;
    const running = this.#d.controller.version?.version;
    if (latest === null || (running !== undefined && latest <= running)) return;
    if (this.#failure?.version === latest || this.#held(latest)) return;
    try {
      const v = await deadline(this.#d.store.getVersion(latest), 'read version');
      if (v) this.#followVersion(v);
    } catch {
      // Next tick.
    }
  }

  #held(version: number): boolean {
    const c = this.#canary;
    return c !== undefined && c.version === version && !c.targets.includes(this.instance);
  }

  #followVersion(v: ConfigVersion): void {
    this.#follow = this.#follow.then(async () => {
      const running = this.#d.controller.version?.version;
      if (running !== undefined && v.version <= running) return;
      if (this.#failure?.version === v.version) return;
      // The canary key is written before the version it names: read it fresh, not from the last tick.
      try {
        const c = await deadline(this.#d.store.namespace.get(this.#keys.canary).string(), 'read canary');
        this.#canary = c === null ? undefined : (JSON.parse(c) as CanaryRecord);
      } catch {
        return; // Not knowing whether it is held back, wait for the next reconcile.
      }
      if (this.#held(v.version)) return;
      const overlap = this.#overlap(v.text);
      try {
        if (overlap !== undefined) throw new FulcrumError('FULCRUM_ERR_FLEET_OVERLAP', overlap);
        await this.#d.controller.adopt(v);
        this.#failure = undefined;
      } catch (err) {
        this.#failure = { version: v.version, message: errorMessage(err), at: this.#now() };
        this.#d.logger.warn(
          { version: v.version, err: this.#failure.message },
          'fleet: cannot adopt version; running the last good one',
        );
      }
    });
  }

  #overlap(text: string): string | undefined {
    if (this.#d.allowOverlap === true) return undefined;
    const loaded = loadConfigText(text, { source: 'fleet', env: this.#d.env });
    if (!loaded.ok) return undefined;
    for (const [name, l] of Object.entries(loaded.value.config.listeners)) {
      const mine = parseAddress(l.address);
      if (mine === undefined || mine.port === 0) continue;
      for (const m of this.#members) {
        if (m.instance === this.instance || m.host !== this.#host || m.state !== 'running') continue;
        for (const [theirName, bound] of Object.entries(m.listeners)) {
          const theirs = parseAddress(bound);
          if (theirs === undefined || theirs.port !== mine.port) continue;
          if (theirs.host === mine.host || wildcard(theirs.host) || wildcard(mine.host)) {
            return `listener ${name} (${l.address}) is already served by fleet instance ${m.instance} (listener ${theirName} on ${bound}, pid ${m.pid}) on this host; start with --share-address to share it on purpose`;
          }
        }
      }
    }
    return undefined;
  }

  /** `local`: this instance's row in its own view, which also says when the store is away. */
  #record(local = false): MemberRecord {
    const v = this.#d.controller.version;
    const reasons = [...this.#d.degradedReasons(), ...(local ? this.degradedReasons() : [])];
    if (this.#failure)
      reasons.push(`cannot adopt version ${this.#failure.version}: ${this.#failure.message}`);
    return {
      fleet: this.#d.fleet.name,
      instance: this.instance,
      host: this.#host,
      pid: process.pid,
      admin: this.#admin,
      startedAt: this.#startedAt,
      version: v?.version ?? null,
      sha256: v?.sha256 ?? null,
      health: reasons.length === 0 ? 'ok' : 'degraded',
      reasons,
      listeners: this.#d.listeners(),
      ...(this.#failure ? { adoptFailure: this.#failure } : {}),
      state: 'running',
    };
  }

  #report(now: number): LoadReport {
    const snap = this.#d.snapshot();
    const pools: LoadReport['pools'] = {};
    for (const p of snap?.pools.values() ?? []) {
      const backends: LoadReport['pools'][string] = {};
      for (const h of p.state.hosts) {
        backends[h.name] = {
          requests: h.requests,
          errors: h.failures,
          latencyMs: Math.round(h.latencyEwmaMs * 100) / 100,
          status: h.status,
          weight: h.configuredWeight,
        };
      }
      pools[p.name] = backends;
    }
    return { instance: this.instance, at: now, version: this.#d.controller.version?.version ?? null, pools };
  }

  #judgeNow(now: number): void {
    const expected = new Map<string, Map<string, number>>();
    for (const p of this.#d.snapshot()?.pools.values() ?? []) {
      let total = 0;
      for (const h of p.state.hosts) total += h.configuredWeight;
      const m = new Map<string, number>();
      for (const h of p.state.hosts) m.set(h.name, total > 0 ? h.configuredWeight / total : 0);
      expected.set(p.name, m);
    }
    // While etcd is away, judge what was last read, with this instance's own record current.
    const members = this.#members.filter((m) => m.instance !== this.instance);
    members.push(this.#record(true));
    const view = this.#judge.judge(
      {
        members,
        reports: this.#reports,
        left: this.#left,
        latestVersion: this.#latest,
        canary: this.#canary,
        expected,
        now,
      },
      this.instance,
      this.#d.fleet.name,
      this.#reachable ? 'reachable' : 'unreachable',
    );
    view.canary = this.#guard?.status ?? this.#canary ?? null;
    this.#view = view;
    this.#publishMetrics(view);
    this.#raise(view);
  }

  /**
   * Progressive apply to `instances` instances (this one first): a canary key naming the next
   * version and its targets is written BEFORE the version is committed, so the other instances
   * hold it back; this instance's guard then compares the canaries with the others.
   */
  async canaryApply(
    text: string,
    o: CanaryOptions,
  ): Promise<{ result: ApplyResult; canary: CanaryStatus | null }> {
    const refuse = (message: string): never => {
      throw new FulcrumError('FULCRUM_ERR_FLEET_CANARY', message);
    };
    if (!Number.isInteger(o.instances) || o.instances < 1)
      refuse(`canaryInstances must be a whole number of instances, at least 1 (got ${o.instances})`);
    if (!(o.guardMs > 0)) refuse('a canary needs a guard duration');
    if (this.#guard?.status.state === 'watching' || this.#canary)
      refuse(`a canary is already running (version ${this.#guard?.status.version ?? this.#canary?.version})`);
    const others = this.#members
      .filter((m) => m.instance !== this.instance && m.state === 'running')
      .map((m) => m.instance)
      .sort();
    if (others.length < o.instances)
      refuse(
        `a canary on ${o.instances} instance(s) needs at least one more instance as its baseline; the fleet has ${others.length + 1}`,
      );
    const targets = [this.instance, ...others.slice(0, o.instances - 1)];
    const ns = this.#d.store.namespace;
    const base = (await this.#d.store.latestVersion())?.version ?? null;
    const now = this.#now();
    const record: CanaryRecord = {
      version: (base ?? 0) + 1,
      baseVersion: base,
      targets,
      startedAt: now,
      endsAt: now + o.guardMs,
      judge: this.instance,
    };
    const put = await ns
      .if(this.#keys.canary, 'Create', '==', 0)
      .then(ns.put(this.#keys.canary).value(JSON.stringify(record)))
      .commit();
    if (!put.succeeded) refuse('a canary is already running');
    this.#canary = record;
    let result: ApplyResult;
    try {
      result = await this.#d.controller.apply(text, {
        source: 'api',
        author: o.author,
        message: o.message ?? `canary on ${targets.join(', ')}`,
        ...(o.force ? { force: true } : {}),
      });
    } catch (err) {
      await ns
        .delete()
        .key(this.#keys.canary)
        .catch(() => undefined);
      this.#canary = undefined;
      throw err;
    }
    if (result.status !== 'applied' || result.version === undefined) {
      await ns.delete().key(this.#keys.canary);
      this.#canary = undefined;
      return { result, canary: null };
    }
    if (result.version !== record.version) {
      // Another commit slipped in between: name the version that was really committed.
      record.version = result.version;
      await ns.put(this.#keys.canary).value(JSON.stringify(record));
    }
    const start = new Map(this.#reports.map((r) => [r.instance, r]));
    start.set(this.instance, this.#report(this.#now()));
    const status: CanaryStatus = { state: 'watching', ...record, verdict: null };
    this.#guard = { status, start };
    this.#d.logger.info({ version: record.version, targets, guardMs: o.guardMs }, 'fleet: canary started');
    return { result, canary: status };
  }

  async #guardCanary(now: number): Promise<void> {
    const g = this.#guard;
    if (g === undefined || g.status.state !== 'watching') {
      await this.#orphanedCanary(now);
      return;
    }
    const s = g.status;
    const verdict = judgeCanary(g.start, this.#reports, s.targets);
    s.verdict = verdict;
    const fairness = (this.#d.fairnessAlerts?.() ?? [])
      .filter((a) => a.firedAt >= s.startedAt)
      .map((a) => a.name);
    const reason =
      verdict.regression ??
      (fairness.length > 0 ? `fairness alert on the canary: ${fairness.join(', ')}` : undefined);
    const ns = this.#d.store.namespace;
    try {
      if (reason !== undefined) {
        // Everywhere back to the base: a new latest with the base's text, which everyone follows.
        if (s.baseVersion !== null) {
          const r = await this.#d.controller.rollback(s.baseVersion, {
            source: 'guard',
            author: 'canary guard',
            message: `canary version ${s.version} rolled back: ${reason}`,
          });
          if (r.version !== undefined) s.rollbackVersion = r.version;
        }
        await ns.delete().key(this.#keys.canary);
        s.state = 'rolled-back';
        s.reason = reason;
        this.#d.logger.warn({ version: s.version, reason }, 'fleet: canary rolled back');
        await this.#d.store.appendEvent({
          at: now,
          type: 'canary-rollback',
          version: s.version,
          data: { reason, targets: s.targets, verdict, rollbackVersion: s.rollbackVersion ?? null },
        });
      } else if (now >= s.endsAt) {
        await ns.delete().key(this.#keys.canary);
        s.state = 'promoted';
        this.#d.logger.info({ version: s.version }, 'fleet: canary promoted; the fleet follows');
        await this.#d.store.appendEvent({
          at: now,
          type: 'canary-promoted',
          version: s.version,
          data: { targets: s.targets, verdict },
        });
      }
      if (s.state !== 'watching') this.#canary = undefined;
    } catch (err) {
      // Store away: the canary key stays and the others keep holding; try again next tick.
      this.#d.logger.warn({ err: errorMessage(err) }, 'fleet: canary verdict not recorded yet');
    }
  }

  /**
   * The judging instance died (or restarted) mid-canary: the instance with the lowest id rolls
   * the fleet back by committing the base text itself, which every instance, canaries included, follows.
   */
  async #orphanedCanary(now: number): Promise<void> {
    const c = this.#canary;
    if (c === undefined || now < c.endsAt + ORPHAN_CANARY_GRACE_MS) return;
    const lowest = this.#members
      .filter((m) => m.state === 'running')
      .map((m) => m.instance)
      .sort()[0];
    if (lowest !== this.instance) return;
    const { store } = this.#d;
    const reason = `canary judge ${c.judge} did not finish the guard (ended ${new Date(c.endsAt).toISOString()})`;
    try {
      const base = c.baseVersion === null ? undefined : await store.getVersion(c.baseVersion);
      const latest = (await store.latestVersion())?.version ?? null;
      if (base && latest === c.version) {
        await store.commitVersion({
          text: base.text,
          author: 'canary guard',
          message: `canary version ${c.version} rolled back: ${reason}`,
          source: 'guard',
          expectedLatest: latest,
          parent: base.version,
        });
      }
      await store.namespace.delete().key(this.#keys.canary);
      this.#canary = undefined;
      await store.appendEvent({ at: now, type: 'canary-rollback', version: c.version, data: { reason } });
      this.#d.logger.warn({ version: c.version, reason }, 'fleet: orphaned canary rolled back');
    } catch (err) {
      this.#d.logger.warn({ err: errorMessage(err) }, 'fleet: orphaned canary not rolled back yet');
    }
  }

  #publishMetrics(view: FleetView): void {
    this.#gInstances.set(view.instances.length);
    this.#gVersion.reset();
    for (const i of view.instances)
      if (i.version !== null) this.#gVersion.set({ instance: i.instance }, i.version);
    this.#gShare.reset();
    for (const p of view.pools)
      for (const b of p.backends)
        if (b.shareRatio !== null) this.#gShare.set({ pool: p.pool, backend: b.backend }, b.shareRatio);
  }

  #raise(view: FleetView): void {
    const raise = this.#d.raiseAlerts;
    if (raise === undefined) return;
    const fleet = view.fleet;
    raise(
      FLEET_RULES.InstanceSkewed,
      view.skewed.map((s) => ({
        labels: { fleet, instance: s.instance, pool: s.pool, backend: s.backend, cause: s.cause },
        annotations: {
          summary: `instance ${s.instance} sends ${pct(s.share)} of pool ${s.pool} to ${s.backend}, the fleet's median ${pct(s.fleetShare)}`,
          description: s.detail,
          command: 'fulcrum status --fleet',
        },
        value: Math.abs(s.share - s.fleetShare),
      })),
    );
    // The grace is the rule's `for`: active whenever an instance is not on the latest version.
    raise(
      FLEET_RULES.FleetConfigSkew,
      view.instances
        .filter((i) => i.configSkewSince !== null)
        .map((i) => ({
          labels: { fleet, instance: i.instance },
          annotations: {
            summary: `instance ${i.instance} runs version ${i.version ?? 'none'}, the fleet's latest is ${view.latestVersion}`,
            description: i.adoptFailure
              ? `it cannot adopt version ${i.adoptFailure.version}: ${i.adoptFailure.message}`
              : 'it has not adopted the latest version yet',
            command: 'fulcrum status --fleet',
          },
          value: (view.latestVersion ?? 0) - (i.version ?? 0),
        })),
    );
    raise(
      FLEET_RULES.FleetInstanceLost,
      view.lost.map((l) => ({
        labels: { fleet, instance: l.instance },
        annotations: {
          summary: `instance ${l.instance} left the fleet without a clean stop (its lease expired)`,
          description: `last seen on version ${l.lastVersion ?? 'none'}; it died or cannot reach etcd`,
          command: 'fulcrum status --fleet',
        },
        value: 1,
      })),
    );
  }
}

function wildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function pct(n: number): string {
  return `${(n * 100).toFixed(1)}%`;
}
