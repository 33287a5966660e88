// The listener: accepts TCP connections, applies the network allow list before any TLS work, keeps the
// session registry and the connection limits, swaps config/TLS/policy on reload, and drains on shutdown.
import net from 'node:net';
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { Config, UserConfig } from './config/types.js';
import { addressAllowed, buildBlockList } from './config/cidr.js';
import { loadListenerTls, type ListenerTls } from './net/tls.js';
import type { UpstreamTls } from './net/upstream.js';
import { AccessPolicy } from './policy/index.js';
import type { Metrics } from './observability/metrics.js';
import type { Logger } from './observability/logger.js';
import { CancelRegistry } from './session/cancel.js';
import { EndpointPool } from './net/endpoints.js';
import { Session } from './session/session.js';
import type { ProxyContext, SessionLimits } from './session/context.js';
import { clientError } from './errors.js';
import { readPreamble } from './net/proxy-protocol.js';
import { RefusalLog } from './net/refusal-log.js';
import { AuthFailureTracker } from './auth/lockout.js';

type Generation = {
  readonly config: Config;
  readonly listenerTls: ListenerTls;
  readonly upstreamTls: UpstreamTls;
  readonly policy: AccessPolicy;
  readonly allow: net.BlockList;
  readonly trustedProxies: net.BlockList | null;
  readonly users: ReadonlyMap<string, UserConfig>;
  /** Per-user `from` lists (users without one are allowed from all of network.allow). */
  readonly userFrom: ReadonlyMap<string, net.BlockList>;
};

/** Builds everything derived from one config; throws (with a message naming the file) on unreadable files. */
export function buildGeneration(config: Config): Generation {
  return {
    config,
    listenerTls: loadListenerTls(config.tls),
    upstreamTls: {
      mode: config.upstream.tls.mode,
      ca: config.upstream.tls.caFile ? readFileNamed(config.upstream.tls.caFile, 'upstream.tls.ca') : null,
    },
    policy: new AccessPolicy(config.roles),
    allow: buildBlockList(config.network.allow),
    trustedProxies: config.network.trustedProxies.length > 0 ? buildBlockList(config.network.trustedProxies) : null,
    users: new Map(config.users.map((u) => [u.name, u])),
    userFrom: new Map(config.users.filter((u) => u.from !== null).map((u) => [u.name, buildBlockList(u.from!)])),
  };
}

function readFileNamed(file: string, key: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new Error(`${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export class ProxyServer {
  private generation: Generation;
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private readonly perUser = new Map<string, number>();
  private admittedCount = 0;
  private draining = false;
  readonly cancels = new CancelRegistry();
  private readonly context: ProxyContext;
  /** Upstream endpoints, their health and session counts; started and stopped by main.ts. */
  readonly endpoints: EndpointPool;
  private readonly refusals: RefusalLog;
  /** Lockout tables live as long as the process: a reload must not unlock anyone. */
  private readonly authFailures = new AuthFailureTracker(() => this.generation.config.limits.authFailures);
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    generation: Generation, private readonly metrics: Metrics, private readonly logger: Logger,
    options: { offerChannelBinding: boolean } = { offerChannelBinding: true },
  ) {
    this.generation = generation;
    this.endpoints = new EndpointPool({ config: () => this.generation.config, tls: () => this.generation.upstreamTls, metrics, logger });
    const limits: SessionLimits = {
      admit: () => {
        if (this.admittedCount >= this.generation.config.limits.maxConnections) return false;
        this.admittedCount++;
        return true;
      },
      release: () => { this.admittedCount--; },
      admitUser: (user) => {
        const n = this.perUser.get(user) ?? 0;
        if (n >= this.generation.config.limits.maxConnectionsPerUser) return false;
        this.perUser.set(user, n + 1);
        return true;
      },
      releaseUser: (user) => {
        const n = (this.perUser.get(user) ?? 1) - 1;
        if (n <= 0) this.perUser.delete(user); else this.perUser.set(user, n);
      },
    };
    this.context = {
      config: () => this.generation.config,
      listenerTls: () => this.generation.listenerTls,
      upstreamTls: () => this.generation.upstreamTls,
      policy: () => this.generation.policy,
      findUser: (name) => this.generation.users.get(name) ?? null,
      metrics, logger, cancels: this.cancels, limits, endpoints: this.endpoints,
      mockSecret: randomBytes(32),
      offerChannelBinding: options.offerChannelBinding,
      upstreamPassword: (user) => (user.upstream.password.kind === 'password' ? user.upstream.password.value : null),
      authFailures: this.authFailures,
      userAllowedFrom: (user, address) => this.userAllowedFrom(this.generation, user.name, address),
    };
    this.refusals = new RefusalLog(logger);
    this.sweeper = setInterval(() => this.authFailures.sweep(), 60_000).unref();
    this.server = net.createServer({ noDelay: true, pauseOnConnect: true }, (socket) => this.accept(socket));
    this.server.on('error', (err) => logger.error({ event: 'listener.error', err: { message: err.message } }, 'listener error'));
  }

  get config(): Config {
    return this.generation.config;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  listenerTlsInfo(): ListenerTls {
    return this.generation.listenerTls;
  }

  upstreamTlsInfo(): UpstreamTls {
    return this.generation.upstreamTls;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  async listen(): Promise<number> {
    const { host, port } = this.generation.config.listen;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    const acceptedAt = Date.now();
    const address = socket.remoteAddress ?? '';
    const family = socket.remoteFamily ?? '';
    const port = socket.remotePort ?? 0;
    socket.on('error', () => undefined);
    const { trustedProxies, allow } = this.generation;
    const trusted = trustedProxies !== null && addressAllowed(trustedProxies, address, family);
    // Gate 1, before a single byte is read or sent: the network allow list. A trusted proxy's own address need
    // not be on it: the client it reports is checked once the PROXY header is read.
    if (this.draining || (!trusted && !addressAllowed(allow, address, family))) {
      return this.refuseAtAccept(socket, this.draining ? 'draining' : 'address_not_allowed', address, port);
    }
    // Trusted peer: the PROXY header (required). Others: refuse a header. Either way nothing is sent.
    void readPreamble(socket, trusted, this.generation.config.limits.startupTimeoutMs).then((pre) => {
      if (!pre.ok && pre.reason === 'client_closed') return void socket.destroy(); // TCP health checks, port scans
      if (!pre.ok) return this.refuseAtAccept(socket, pre.reason, address, port, pre.detail ? { detail: pre.detail, peer: address } : {});
      const source = pre.header?.source ?? null;
      if (source === null) return this.startSession(socket, address, port, acceptedAt);
      if (this.draining || !addressAllowed(this.generation.allow, source.address, source.family)) {
        return this.refuseAtAccept(socket, this.draining ? 'draining' : 'address_not_allowed', source.address, source.port, { peer: address });
      }
      this.startSession(socket, source.address, source.port, acceptedAt);
    });
  }

  /** Closes a connection refused before the PostgreSQL conversation: no byte sent, counted, log rate limited. */
  private refuseAtAccept(socket: net.Socket, reason: string, address: string, port: number, extra: Record<string, unknown> = {}): void {
    socket.destroy();
    this.metrics.clientConnectionsTotal.inc({ outcome: reason });
    this.refusals.refused(reason, `${address}:${port}`, extra);
  }

  private userAllowedFrom(generation: Generation, user: string, address: string): boolean {
    const from = generation.userFrom.get(user);
    return from === undefined || addressAllowed(from, address, '');
  }

  private startSession(socket: net.Socket, address: string, port: number, acceptedAt: number): void {
    socket.setNoDelay(true);
    const session = new Session(socket, this.context, { address, port, acceptedAt });
    this.sessions.add(session);
    this.metrics.clientConnections.inc();
    this.metrics.clientConnectionsTotal.inc({ outcome: 'accepted' });
    this.logger.debug({ event: 'connection.accepted', session: session.id, client: `${address}:${port}` }, 'connection accepted');
    void session.run().finally(() => {
      this.sessions.delete(session);
      this.metrics.clientConnections.dec();
    });
  }

  /** Swaps in a new config; new connections and the next statement of every session use it. */
  reload(next: Generation): void {
    this.generation = next;
    for (const session of this.sessions) {
      const user = session.user !== null && session.userConfig ? next.users.get(session.user) : undefined;
      // A removed user, or one no longer allowed from this session's address (`from`), is ended with 57P01.
      if (session.userConfig && (!user || !this.userAllowedFrom(next, user.name, session.client.address))) {
        session.terminate('revoked', clientError('sessionRevoked'));
        continue;
      }
      // The walls a session was opened with upstream (read-only default, pinned search_path, the database
      // itself) cannot be changed in place: a session the new rules would open differently is ended too.
      if (user && !session.openedAsUnder(next.policy, user)) {
        session.terminate('revoked', clientError('sessionRevoked'));
        continue;
      }
      if (user) {
        session.userConfig = user;
        session.rebind();
      }
    }
  }

  /** Stops accepting; waits up to `graceMs` for sessions to end, then terminates the rest with 57P01. */
  async drain(graceMs: number): Promise<void> {
    this.draining = true;
    this.server.close(); // stop accepting now; its callback would wait for every connection
    clearInterval(this.sweeper);
    this.refusals.flush();

    const deadline = Date.now() + graceMs;
    while (this.sessions.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const remaining = [...this.sessions];
    for (const session of remaining) session.terminate('shutdown', clientError('shutdown'));
    await Promise.race([
      Promise.all(remaining.map((s) => s.done)),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
  }
}
