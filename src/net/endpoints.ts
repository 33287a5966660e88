// The upstream endpoint pool: static seeds plus servers discovered with yb_servers(), each with its placement,
// health (down after FALL consecutive failures, up after RISE successes) and count of ysqlgate sessions.
// New sessions get an ordered candidate list: per placement level, healthy endpoints by fewest sessions; then
// any other healthy endpoint; endpoints marked down come last, as a last resort. Read replicas get no sessions.
// One timer drives health checks and discovery; both read the current config, so reloads apply by themselves.
import type { Config, HostPort } from '../config/types.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { endpointLabel, type UpstreamTls } from './upstream.js';
import { discoverServers, type DiscoveredServer, type Placement } from './discovery.js';
import { probeEndpoint, serviceIdentity, type ProbeResult } from './health.js';

/** Consecutive failures that mark an endpoint down, and successes that mark it up again. */
export const FALL = 2;
export const RISE = 2;
/** Health checks run every `discovery.refresh`, but at least this often. */
export const MAX_HEALTH_INTERVAL_MS = 5000;

type Entry = {
  readonly key: string;
  readonly endpoint: HostPort;
  seed: boolean;
  discovered: boolean;
  placement: Placement | null;
  readReplica: boolean;
  healthy: boolean;
  failures: number;
  successes: number;
  sessions: number;
  checking: boolean;
  nextCheckAt: number;
};

export type Lease = { readonly endpoint: HostPort; release(): void };

export type PoolDeps = {
  readonly config: () => Config;
  readonly tls: () => UpstreamTls;
  readonly metrics: Metrics;
  readonly logger: Logger;
};

export class EndpointPool {
  private readonly entries = new Map<string, Entry>();
  private seedsOf: Config | null = null;
  private timer: NodeJS.Timeout | null = null;
  private discovering = false;
  private nextDiscoveryAt = 0;
  private lastDiscoveryError: string | null = null;

  constructor(private readonly deps: PoolDeps) {
    this.syncSeeds();
  }

  /** Starts health checks (and discovery when configured); the first round runs at once. */
  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.tickMs());
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Endpoints to try for a new session, best first (see the header comment). */
  candidates(): HostPort[] {
    const usable = [...this.entries.values()].filter((e) => !e.readReplica);
    const bySessions = (a: Entry, b: Entry): number => a.sessions - b.sessions;
    const healthy = usable.filter((e) => e.healthy);
    const out: Entry[] = [];
    const taken = new Set<Entry>();
    for (const pattern of this.deps.config().upstream.placement.map(compilePlacement)) {
      const level = healthy.filter((e) => !taken.has(e) && e.placement !== null && pattern(e.placement)).sort(bySessions);
      for (const e of level) { out.push(e); taken.add(e); }
    }
    out.push(...healthy.filter((e) => !taken.has(e)).sort(bySessions));
    out.push(...usable.filter((e) => !e.healthy).sort(bySessions));
    return out.map((e) => e.endpoint);
  }

  /** Counts a session on `endpoint` from now (before its connect, so concurrent starts spread). */
  lease(endpoint: HostPort): Lease {
    const entry = this.entries.get(endpointLabel(endpoint));
    if (entry) entry.sessions++;
    let released = false;
    return {
      endpoint,
      release: () => {
        if (released) return;
        released = true;
        if (entry) entry.sessions--;
      },
    };
  }

  /** A session could not connect (transport or TLS failure): counts as a failed check, re-checks soon. */
  reportFailure(endpoint: HostPort, reason: string): void {
    const entry = this.entries.get(endpointLabel(endpoint));
    if (entry) this.record(entry, { ok: false, reason });
  }

  /** A relayed upstream connection died: check this endpoint now rather than at the next interval. */
  suspect(endpoint: HostPort): void {
    const entry = this.entries.get(endpointLabel(endpoint));
    if (entry) entry.nextCheckAt = 0;
  }

  /** Readiness: some endpoint that may take sessions is healthy. */
  anyHealthy(): boolean {
    for (const e of this.entries.values()) if (e.healthy && !e.readReplica) return true;
    return false;
  }

  /** For tests and diagnostics. */
  snapshot(): Array<{ endpoint: string; healthy: boolean; sessions: number; placement: string | null; seed: boolean; readReplica: boolean }> {
    return [...this.entries.values()].map((e) => ({
      endpoint: e.key, healthy: e.healthy, sessions: e.sessions, seed: e.seed, readReplica: e.readReplica,
      placement: e.placement ? `${e.placement.cloud}.${e.placement.region}.${e.placement.zone}` : null,
    }));
  }

  private healthIntervalMs(): number {
    return Math.min(this.deps.config().upstream.discovery.refreshMs, MAX_HEALTH_INTERVAL_MS);
  }

  private tickMs(): number {
    return Math.max(10, Math.min(250, Math.floor(this.healthIntervalMs() / 4)));
  }

  private tick(): void {
    this.syncSeeds();
    const now = Date.now();
    for (const entry of this.entries.values()) {
      if (!entry.checking && now >= entry.nextCheckAt) void this.check(entry);
    }
    const discovery = this.deps.config().upstream.discovery;
    if (discovery.ybServers && !this.discovering && now >= this.nextDiscoveryAt) void this.discover();
  }

  private async check(entry: Entry): Promise<void> {
    entry.checking = true;
    const config = this.deps.config();
    try {
      const result = await probeEndpoint(entry.endpoint, this.deps.tls(), serviceIdentity(config), config.upstream.connectTimeoutMs);
      this.record(entry, result);
    } finally {
      entry.checking = false;
    }
  }

  private record(entry: Entry, result: ProbeResult): void {
    const interval = this.healthIntervalMs();
    if (result.ok) {
      entry.failures = 0;
      entry.successes++;
      entry.nextCheckAt = Date.now() + interval;
      if (!entry.healthy && entry.successes >= RISE) this.setHealthy(entry, true, 'checks_passed');
      return;
    }
    entry.successes = 0;
    entry.failures++;
    // While an endpoint is suspect, re-check sooner, so a dead one is marked down within about one interval.
    entry.nextCheckAt = Date.now() + (entry.healthy ? Math.floor(interval / 4) : interval);
    if (entry.healthy && entry.failures >= FALL) this.setHealthy(entry, false, result.reason);
  }

  private setHealthy(entry: Entry, healthy: boolean, reason: string): void {
    entry.healthy = healthy;
    if (!this.entries.has(entry.key)) return;
    this.deps.metrics.upstreamUp.set({ endpoint: entry.key }, healthy ? 1 : 0);
    if (healthy) this.deps.logger.info({ event: 'upstream.up', endpoint: entry.key }, 'upstream endpoint up');
    else this.deps.logger.warn({ event: 'upstream.down', endpoint: entry.key, reason }, 'upstream endpoint down');
  }

  /** Seeds follow the config: new ones are added, removed ones dropped unless discovery still lists them. */
  private syncSeeds(): void {
    const config = this.deps.config();
    if (this.seedsOf === config) return;
    this.seedsOf = config;
    const keys = new Set(config.upstream.endpoints.map(endpointLabel));
    for (const entry of this.entries.values()) {
      if (entry.seed && !keys.has(entry.key)) {
        entry.seed = false;
        if (!entry.discovered) this.remove(entry);
      }
    }
    for (const endpoint of config.upstream.endpoints) this.add(endpoint).seed = true;
    if (!config.upstream.discovery.ybServers) {
      for (const entry of this.entries.values()) if (entry.discovered && !entry.seed) this.remove(entry);
    }
  }

  private add(endpoint: HostPort): Entry {
    const key = endpointLabel(endpoint);
    let entry = this.entries.get(key);
    if (entry) return entry;
    entry = {
      key, endpoint: { host: endpoint.host, port: endpoint.port }, seed: false, discovered: false, placement: null,
      readReplica: false, healthy: true, failures: 0, successes: 0, sessions: 0, checking: false, nextCheckAt: 0,
    };
    this.entries.set(key, entry);
    this.deps.metrics.upstreamUp.set({ endpoint: key }, 1);
    return entry;
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.key);
    this.deps.metrics.upstreamUp.remove({ endpoint: entry.key });
  }

  private async discover(): Promise<void> {
    const config = this.deps.config();
    this.discovering = true;
    this.nextDiscoveryAt = Date.now() + config.upstream.discovery.refreshMs;
    try {
      const identity = serviceIdentity(config);
      if (!identity) return this.discoveryFailed('no_service_identity');
      const healthyFirst = [...this.entries.values()].sort((a, b) => Number(b.healthy) - Number(a.healthy) || Number(b.seed) - Number(a.seed));
      for (const entry of healthyFirst) {
        try {
          const servers = await discoverServers(entry.endpoint, this.deps.tls(), identity, config.upstream.discovery.usePublicIp, config.upstream.connectTimeoutMs);
          if (servers.length === 0) continue; // not a YugabyteDB answer worth replacing the list with
          this.lastDiscoveryError = null;
          return this.apply(servers, entry.key);
        } catch {
          // try the next endpoint
        }
      }
      this.discoveryFailed('no_endpoint_answered');
    } finally {
      this.discovering = false;
    }
  }

  private discoveryFailed(reason: string): void {
    if (this.lastDiscoveryError === reason) return;
    this.lastDiscoveryError = reason;
    this.deps.logger.warn({ event: 'upstream.discovery_failed', reason }, 'yb_servers() discovery failed; keeping the endpoint list');
  }

  private apply(servers: readonly DiscoveredServer[], source: string): void {
    if (!this.deps.config().upstream.discovery.ybServers) return;
    const seen = new Set<string>();
    const added: string[] = [];
    for (const server of servers) {
      const key = endpointLabel(server.endpoint);
      if (!this.entries.has(key)) added.push(key);
      const entry = this.add(server.endpoint);
      entry.discovered = true;
      entry.placement = server.placement;
      entry.readReplica = server.readReplica;
      seen.add(key);
    }
    const removed: string[] = [];
    for (const entry of [...this.entries.values()]) {
      if (seen.has(entry.key)) continue;
      entry.discovered = false;
      if (!entry.seed) { this.remove(entry); removed.push(entry.key); }
    }
    if (added.length > 0 || removed.length > 0) {
      this.deps.logger.info({ event: 'upstream.discovered', source, endpoints: seen.size, added, removed }, 'cluster topology changed');
    }
  }
}

/** `cloud.region.zone` with `*` (whole part or inside one); missing trailing parts match anything. */
export function compilePlacement(pattern: string): (p: Placement) => boolean {
  const parts = pattern.split('.');
  const [cloud, region, ...zone] = parts;
  const matchers = [cloud, region, zone.length > 0 ? zone.join('.') : undefined].map(partMatcher);
  return (p) => matchers[0]!(p.cloud) && matchers[1]!(p.region) && matchers[2]!(p.zone);
}

function partMatcher(part: string | undefined): (value: string) => boolean {
  if (part === undefined || part === '*' || part === '') return () => true;
  if (!part.includes('*')) return (value) => value === part;
  const re = new RegExp(`^${part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\-]/g, '\\$&')).join('.*')}$`);
  return (value) => re.test(value);
}
