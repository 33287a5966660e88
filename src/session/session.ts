// One client connection, end to end: negotiate → authenticate → authorize the database and startup settings
// → log in upstream as the mapped identity → relay → close. One idempotent close(reason) emits the one
// `session.closed` line and settles the metrics. What the client is told comes only from errors.ts.
import type net from 'node:net';
import { randomUUID } from 'node:crypto';
import { clientError, type ClientErrorName } from '../errors.js';
import {
  AUTHENTICATION_OK, encodeBackendKeyData, encodeErrorResponse, encodeNegotiateProtocolVersion,
  encodeParameterStatus, encodeReadyForQuery, type ErrorFields,
} from '../protocol/backend.js';
import { ProtocolViolation } from '../protocol/errors.js';
import { parseStartupOptions } from '../protocol/startup.js';
import { tlsServerEndPoint } from '../auth/tls-binding.js';
import { endpointLabel, openUpstream, sendCancelRequest, UpstreamError, type BackendKey, type UpstreamConnection } from '../net/upstream.js';
import type { UserConfig } from '../config/types.js';
import { redactSql, type AccessDecision, type AccessPolicy } from '../policy/index.js';
import type { Logger } from '../observability/logger.js';
import { isRefusal } from '../observability/metrics.js';
import type { Lease } from '../net/endpoints.js';
import { cancelViaPeers, localProcessId } from '../net/peers.js';
import { negotiate, type StartupMessage } from './negotiate.js';
import { authenticateClient, inspectPeerCertificate } from './authenticate.js';
import type { ScramKeys } from '../auth/scram-client.js';
import { PeerClosedError, type SocketReader } from './socket-reader.js';
import { Relay, type RelayEndReason, type StatementKind } from './relay.js';
import type { ProxyContext } from './context.js';

/** The client (as a trusted PROXY header reports it, else the peer); `acceptedAt` starts the startup timeout. */
export type ClientAddress = { readonly address: string; readonly port: number; readonly acceptedAt?: number };

export type CloseReason =
  | 'client_closed' | 'client_terminated' | 'cancel_request' | 'startup_timeout' | 'tls_failed' | 'tls_required'
  | 'protocol_violation' | 'auth_failed' | 'auth_abandoned' | 'database_denied' | 'startup_denied'
  | 'replication_refused' | 'too_many_connections' | 'too_many_user_connections' | 'no_upstream' | 'upstream_error'
  | 'upstream_lost' | 'idle_timeout' | 'shutdown' | 'revoked' | 'internal_error' | 'locked_out';

/** Startup parameters that are not settings and so are never forwarded as such. */
const NOT_FORWARDED = new Set(['user', 'database', 'options', 'replication', 'client_encoding']);
const FATAL_GRACE_MS = 1000;
/** Largest client message before authentication: PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH (65535) plus header. */
const PRE_AUTH_MAX_MESSAGE = 65_540;

export class Session {
  readonly id = randomUUID();
  readonly startedAt = Date.now();
  user: string | null = null;
  userConfig: UserConfig | null = null;
  database: string | null = null;
  private socket: net.Socket;
  private upstream: UpstreamConnection | null = null;
  private relay: Relay | null = null;
  private cancelKey: { processId: number; secretKey: number } | null = null;
  /** This session's count on its upstream endpoint (least-connections balancing), released on close. */
  private lease: Lease | null = null;
  private closed = false;
  private admitted = false;
  private userAdmitted = false;
  private bytesFromClient = 0;
  private bytesToClient = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private log: Logger;
  private readonly startup = new AbortController();
  /** The real reason of an authentication refused on purpose (per-user `from`), for the log only. */
  private authDenial: string | null = null;
  /** SCRAM pass-through only: the client's ClientKey, held until the upstream login and then wiped. */
  private scramKeys: ScramKeys | null = null;
  /** The parameters the rules pinned upstream at login (default_transaction_read_only, search_path). */
  private upstreamWalls: Readonly<Record<string, string>> | null = null;
  private onClosed: (() => void) | null = null;
  readonly done = new Promise<void>((resolve) => { this.onClosed = resolve; });

  constructor(raw: net.Socket, private readonly ctx: ProxyContext, readonly client: ClientAddress) {
    this.socket = raw;
    this.log = ctx.logger.child({ session: this.id, client: `${client.address}:${client.port}` });
  }

  /** Runs the whole session; never throws. */
  async run(): Promise<void> {
    const limits = this.ctx.config().limits;
    // Counted from accept: the PROXY header (server.ts) spends the same budget as TLS, startup and auth.
    const spent = this.client.acceptedAt === undefined ? 0 : Date.now() - this.client.acceptedAt;
    const timer = setTimeout(() => this.startupTimedOut(), Math.max(0, limits.startupTimeoutMs - spent));
    try {
      await this.startUp();
    } catch (err) {
      this.failStartup(err);
    } finally {
      clearTimeout(timer);
    }
    return this.done;
  }

  private async startUp(): Promise<void> {
    const config = this.ctx.config();
    const negotiated = await negotiate(this.socket, {
      // Before authentication a client may only send small messages (SASL, password): an unauthenticated peer
      // must not make the proxy hold `limits.maxMessageSize` per connection.
      tls: this.ctx.listenerTls(), maxMessageSize: Math.min(config.limits.maxMessageSize, PRE_AUTH_MAX_MESSAGE),
      signal: this.startup.signal,
    });
    if (negotiated.kind === 'cancel') {
      await this.forwardCancel(negotiated.processId, negotiated.secretKey);
      return this.close('cancel_request');
    }
    this.socket = negotiated.socket;
    const { reader, startup } = negotiated;
    if (!negotiated.tls && config.tls.mode === 'required') return this.refuse('tls_required', 'tlsRequired');
    this.admitted = this.ctx.limits.admit();
    if (!this.admitted) return this.refuse('too_many_connections', 'tooManyConnections');
    if (startup.minorVersion > 0 || startup.protocolOptions.length > 0) {
      this.socket.write(encodeNegotiateProtocolVersion(0, startup.protocolOptions));
    }
    const username = startup.parameters.get('user') ?? '';
    this.user = username;
    this.database = startup.parameters.get('database') || username;
    this.log = this.log.child({ user: this.user, database: this.database });
    if (startup.parameters.has('replication') && startup.parameters.get('replication') !== 'false') {
      return this.refuse('replication_refused', 'replicationRefused');
    }
    // Locked out (limits.authFailures, per address and per name, known or not): refused before any credential
    // is looked at, so a locked account cannot be probed; this says only "locked", never whether the user exists.
    const lock = this.ctx.authFailures.check(this.client.address, username);
    if (lock.locked) {
      this.ctx.metrics.authAttempts.inc({ method: 'scram', result: 'locked' });
      this.log.warn({ event: 'auth.failed', reason: 'locked_out', scope: lock.scope }, 'locked out');
      return this.sendAndClose('locked_out', clientError('lockedOut'));
    }
    const found = this.ctx.findUser(username);
    // Outside the user's `from`: the same exchange as an unknown user (mock verifier), so the same answer as a
    // wrong password; only the log says why.
    const user = found && !this.ctx.userAllowedFrom(found, this.client.address) ? null : found;
    if (found && !user) this.authDenial = 'address_not_allowed_for_user';
    if (!(await this.authenticate(username, user, reader, negotiated.tls !== null))) {
      const locked = this.ctx.authFailures.recordFailure(this.client.address, username);
      if (locked.length > 0) this.log.warn({ event: 'auth.locked', scopes: locked }, 'authentication locked out');
      return;
    }
    this.userConfig = user!;
    await this.authorizeAndConnect(user!, startup, reader);
  }

  private async authenticate(username: string, user: UserConfig | null, reader: SocketReader, overTls: boolean): Promise<boolean> {
    const tlsSocket = overTls ? (this.socket as import('node:tls').TLSSocket) : null;
    // The certificate this handshake used (a reload may have swapped the listener's since).
    const certificateDer = tlsSocket ? (tlsSocket.getX509Certificate()?.raw ?? this.ctx.listenerTls().certificateDer) : null;
    const binding = certificateDer ? tlsServerEndPoint(certificateDer) : null;
    const outcome = await authenticateClient(this.socket, reader, username, user, {
      mockSecret: this.ctx.mockSecret,
      channelBinding: binding && this.ctx.offerChannelBinding ? { type: 'tls-server-end-point', data: binding } : null,
      peerCertificate: inspectPeerCertificate(tlsSocket),
    });
    this.ctx.metrics.authAttempts.inc({ method: outcome.method, result: outcome.ok ? 'success' : 'failure' });
    if (!outcome.ok) {
      this.log.warn({ event: 'auth.failed', method: outcome.method, reason: this.authDenial ?? outcome.reason }, 'authentication failed');
      this.refuse('auth_failed', 'authFailed', username);
      return false;
    }
    this.log.info({ event: 'auth.succeeded', method: outcome.method }, 'authenticated');
    this.scramKeys = outcome.scramKeys;
    return true;
  }

  private async authorizeAndConnect(user: UserConfig, startup: StartupMessage, reader: SocketReader): Promise<void> {
    const policy = this.ctx.policy();
    const database = this.database!;
    if (!policy.mayOpenDatabase(user, database)) return this.refuse('database_denied', 'databaseDenied', database);
    const settings = this.startupSettings(startup);
    if (settings === null) return;
    const verdict = policy.checkStartup(user, database, settings);
    if (!verdict.allow) {
      this.log.warn({ event: 'connection.rejected', reason: 'startup_denied', rule: verdict.rule }, 'startup setting denied');
      return this.refuse('startup_denied', 'startupParameterDenied', verdict.message);
    }
    this.userAdmitted = this.ctx.limits.admitUser(user.name);
    if (!this.userAdmitted) return this.refuse('too_many_user_connections', 'tooManyUserConnections', user.name);
    this.socket.write(AUTHENTICATION_OK);
    const parameters: Record<string, string> = {};
    for (const { name, value } of settings) parameters[name] = value;
    Object.assign(parameters, verdict.upstreamParams);
    this.upstreamWalls = verdict.upstreamParams;
    const upstream = await this.connectUpstream(user, database, parameters);
    this.scramKeys?.clientKey.fill(0); // every endpoint has been tried: the pass-through key is no longer needed
    this.scramKeys = null;
    if (upstream === null) return;
    this.upstream = upstream;
    this.cancelKey = this.ctx.cancels.issue({ cancelUpstream: () => this.cancelUpstream() });
    const hello: Buffer[] = upstream.parameterStatus.map(([name, value]) => encodeParameterStatus(name, value));
    hello.push(encodeBackendKeyData(this.cancelKey.processId, this.cancelKey.secretKey), encodeReadyForQuery('I'));
    this.socket.write(Buffer.concat(hello));
    const clientLeftover = reader.detach();
    this.startRelay(user, database, clientLeftover, upstream);
  }

  /** Client settings to forward: startup parameters plus `-c`/`--` settings from `options`; null when refused. */
  private startupSettings(startup: StartupMessage): Array<{ name: string; value: string }> | null {
    const settings: Array<{ name: string; value: string }> = [];
    for (const [name, value] of startup.parameters) {
      if (!NOT_FORWARDED.has(name.toLowerCase())) settings.push({ name, value });
    }
    const options = startup.parameters.get('options');
    if (options) {
      for (const option of parseStartupOptions(options)) {
        if (option.kind === 'switch') {
          this.refuse('startup_denied', 'startupParameterDenied', `startup option -${option.flag} is not allowed through ysqlgate`);
          return null;
        }
        if (option.name !== 'client_encoding') settings.push({ name: option.name, value: option.value });
      }
    }
    return settings;
  }

  private async connectUpstream(user: UserConfig, database: string, parameters: Record<string, string>): Promise<UpstreamConnection | null> {
    const config = this.ctx.config();
    const password = this.ctx.upstreamPassword(user);
    let lastError: UpstreamError | null = null;
    const endpoints = this.ctx.endpoints;
    for (const endpoint of endpoints.candidates()) {
      if (this.closed) return null;
      const label = endpointLabel(endpoint);
      const started = process.hrtime.bigint();
      this.lease = endpoints.lease(endpoint); // counted before the connect, so concurrent starts spread
      try {
        const connection = await openUpstream(endpoint, this.ctx.upstreamTls(), {
          user: user.upstream.user, password, scramKeys: this.scramKeys, database, parameters,
        }, config.upstream.connectTimeoutMs);
        this.ctx.metrics.upstreamConnectSeconds.observe({ endpoint: label }, Number(process.hrtime.bigint() - started) / 1e9);
        if (this.closed) { connection.socket.destroy(); return null; }
        return connection;
      } catch (err) {
        lastError = err instanceof UpstreamError ? err : new UpstreamError('protocol', endpoint);
        this.lease.release();
        this.lease = null;
        // Only an endpoint that did not answer as a server counts against its health (not a refused login).
        if (!ANSWERED.has(lastError.reason)) endpoints.reportFailure(endpoint, lastError.reason);
        this.log.warn({ event: 'upstream.login_failed', endpoint: label, reason: lastError.reason, sqlstate: lastError.serverError?.code }, 'upstream login failed');
        // A server that answered with an error about the request (no such database, permission) has spoken for
        // the cluster: tell the client what it said. One that is only busy or not serving (too many connections,
        // starting up, shutting down) speaks for itself: try the next endpoint.
        if (lastError.reason === 'server_error' && !nodeLocalError(lastError.serverError?.code)) break;
      }
    }
    const serverError = lastError?.reason === 'server_error' ? lastError.serverError : null;
    if (serverError) {
      this.sendAndClose('upstream_error', { severity: 'FATAL', code: serverError.code, message: serverError.message });
    } else {
      this.refuse('no_upstream', 'noUpstream', '', lastError ? { detail: upstreamDetail(lastError) } : undefined);
    }
    return null;
  }

  private startRelay(user: UserConfig, database: string, clientLeftover: Buffer, upstream: UpstreamConnection): void {
    const guard = this.ctx.policy().openSession(user, database);
    const metrics = this.ctx.metrics;
    const statementsLog = this.ctx.config().log.statements;
    this.relay = new Relay(this.socket, upstream.socket, guard, {
      onStatement: (kind, decision, seconds, sql) => this.onStatement(kind, decision, seconds, statementsLog, sql),
      onClientBytes: (n) => { this.bytesFromClient += n; metrics.bytes.inc({ direction: 'client_to_upstream' }, n); this.touch(); },
      onUpstreamBytes: (n) => { this.bytesToClient += n; metrics.bytes.inc({ direction: 'upstream_to_client' }, n); },
      onEnd: (reason) => this.onRelayEnd(reason),
    }, this.ctx.config().limits.maxMessageSize);
    this.relay.start(clientLeftover, upstream.leftover);
    this.touch();
  }

  private onStatement(kind: StatementKind, decision: AccessDecision, seconds: number, statementsLog: string, sql?: string): void {
    const metrics = this.ctx.metrics;
    metrics.statementCheckSeconds.observe(seconds);
    metrics.statements.inc({ role: decision.role ?? 'none', privilege: decision.privilege, decision: decision.allow ? 'allow' : 'deny' });
    if (!decision.allow && statementsLog !== 'none') {
      this.log.warn({
        event: 'statement.denied', kind, role: decision.role, rule: decision.rule, privilege: decision.privilege,
        sqlstate: decision.sqlstate, statement: decision.redactedSql,
      }, 'statement denied');
    } else if (decision.allow && statementsLog === 'all') {
      // Redacting costs a scan of the text: only on this path, never for the default `denied`.
      this.log.info({
        event: 'statement.allowed', kind, role: decision.role, privilege: decision.privilege,
        statement: sql === undefined ? null : redactSql(sql),
      }, 'statement allowed');
    }
  }

  private onRelayEnd(reason: RelayEndReason): void {
    switch (reason) {
      case 'client_terminated': return this.close('client_terminated');
      case 'client_closed': return this.close('client_closed');
      case 'client_protocol_violation': return this.terminate('protocol_violation', clientError('protocolViolation', 'malformed message'));
      case 'upstream_closed':
      case 'upstream_protocol_violation':
        this.ctx.endpoints.suspect(this.upstream!.endpoint); // health-check it now; the pool owns upstream_up
        return this.terminate('upstream_lost', clientError('upstreamLost'));
    }
  }

  /**
   * Whether `policy` would open this session upstream the same way it was opened: same database allowed, same
   * pinned parameters (read-only default, search_path). Sessions still starting up are judged at their own checks.
   */
  openedAsUnder(policy: AccessPolicy, user: UserConfig): boolean {
    if (this.upstreamWalls === null || this.database === null) return true;
    if (!policy.mayOpenDatabase(user, this.database)) return false;
    const verdict = policy.checkStartup(user, this.database, []);
    if (!verdict.allow) return false;
    const before = this.upstreamWalls;
    const after = verdict.upstreamParams;
    const names = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...names].every((name) => before[name] === after[name]);
  }

  /** Applies reloaded rules to this session's next statements. */
  rebind(): void {
    if (!this.relay || !this.userConfig || !this.database) return;
    this.relay.rebind(this.ctx.policy().openSession(this.userConfig, this.database));
  }

  /** Ends the session with a FATAL sent at a message boundary (shutdown, revocation, upstream loss). */
  terminate(reason: CloseReason, fatal: ErrorFields): void {
    if (this.closed) return;
    if (!this.relay) return this.sendAndClose(reason, fatal);
    const encoded = encodeErrorResponse(fatal);
    if (this.relay.sendFatalAtBoundary(encoded)) return this.close(reason);
    setTimeout(() => this.close(reason), FATAL_GRACE_MS).unref();
  }

  private touch(): void {
    const idleMs = this.ctx.config().limits.idleTimeoutMs;
    if (idleMs <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(() => this.idleExpired(), idleMs);
  }

  private idleExpired(): void {
    if (this.relay && !this.relay.idle) { this.idleTimer?.refresh(); return; }
    this.terminate('idle_timeout', clientError('idleTimeout'));
  }

  private async cancelUpstream(): Promise<void> {
    const upstream = this.upstream;
    if (!upstream?.backendKey) return;
    await sendCancelRequest(upstream.endpoint, this.ctx.upstreamTls(), upstream.backendKey as BackendKey, this.ctx.config().upstream.connectTimeoutMs);
  }

  private async forwardCancel(processId: number, secretKey: number): Promise<void> {
    const cancels = this.ctx.cancels;
    const local = localProcessId(processId);
    let result: string = await cancels.cancel(local, secretKey);
    // Another worker of this process group may own the key (workers: N); it answers forwarded/unknown/failed.
    if (result === 'unknown' && cancels.siblings) result = await cancels.siblings(local, secretKey);
    // Not this replica's: another ysqlgate replica in `peers` may own it (the key's tag says which).
    if (result === 'unknown') result = await this.cancelViaPeers(processId, secretKey);
    this.ctx.metrics.cancelRequests.inc({ result });
  }

  private cancelViaPeers(processId: number, secretKey: number): Promise<string> {
    const config = this.ctx.config();
    if (config.peers.length === 0) return Promise.resolve('unknown');
    const trust = { ownCertificateDer: this.ctx.listenerTls().certificateDer, clientCAFile: config.tls.clientCAFile };
    return cancelViaPeers(processId, secretKey, this.ctx.cancels.replica, config.peers, trust, config.upstream.connectTimeoutMs);
  }

  private startupTimedOut(): void {
    if (this.closed || this.relay || this.upstream) return;
    this.startup.abort();
    this.sendAndClose('startup_timeout', clientError('startupTimeout'));
  }

  private failStartup(err: unknown): void {
    if (this.closed) return;
    if (err instanceof ProtocolViolation && err.reason === 'direct_tls_without_alpn') {
      // Mid-TLS on a socket this session never took over: nothing can be said in plaintext; just close.
      this.log.warn({ event: 'connection.rejected', reason: 'direct_tls_without_alpn' }, 'direct TLS without ALPN');
      return this.close('tls_failed');
    }
    if (err instanceof ProtocolViolation) {
      this.log.warn({ event: 'connection.rejected', reason: 'protocol_violation', violation: err.reason }, 'protocol violation');
      return this.sendAndClose('protocol_violation', clientError('protocolViolation', err.message));
    }
    if (err instanceof PeerClosedError) return this.close(this.user ? 'auth_abandoned' : 'client_closed');
    if (this.startup.signal.aborted) return this.close('startup_timeout');
    const code = (err as NodeJS.ErrnoException)?.code;
    if (typeof code === 'string' && (code.startsWith('ERR_SSL') || code === 'ECONNRESET' || code.includes('TLS'))) {
      return this.close('tls_failed');
    }
    this.log.error({ event: 'session.error', err: { message: (err as Error)?.message, code } }, 'session failed');
    this.sendAndClose('internal_error', clientError('internal'));
  }

  private refuse(reason: CloseReason, error: ClientErrorName, arg = '', extra?: { detail?: string; hint?: string }): void {
    if (reason !== 'auth_failed') this.log.info({ event: 'connection.rejected', reason }, 'connection refused');
    this.sendAndClose(reason, clientError(error, arg, extra));
  }

  private sendAndClose(reason: CloseReason, fatal: ErrorFields): void {
    if (this.closed) return;
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeErrorResponse(fatal));
    this.close(reason);
  }

  /** Idempotent: closes both sides, releases keys and limits, logs `session.closed` once. */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.startup.abort();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    if (this.cancelKey) this.ctx.cancels.release(this.cancelKey.processId);
    this.lease?.release();
    if (this.userAdmitted && this.userConfig) this.ctx.limits.releaseUser(this.userConfig.name);
    if (this.admitted) this.ctx.limits.release();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), FATAL_GRACE_MS).unref();
    if (this.upstream) {
      const upstream = this.upstream.socket;
      if (!upstream.destroyed && upstream.writable) upstream.end(TERMINATE);
      setTimeout(() => upstream.destroy(), FATAL_GRACE_MS).unref();
    }
    if (!this.relay && isRefusal(reason)) this.ctx.metrics.clientConnectionsTotal.inc({ outcome: reason });
    if (this.relay || this.userConfig) {
      this.log.info({
        event: 'session.closed', reason, durationMs: Date.now() - this.startedAt,
        bytesFromClient: this.bytesFromClient, bytesToClient: this.bytesToClient,
        statements: this.relay?.statements ?? 0,
      }, 'session closed');
    }
    this.onClosed?.();
  }

}

const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

/** Upstream login failures where the endpoint did answer as a server: not a health failure. */
const ANSWERED = new Set(['auth_failed', 'auth_unsupported', 'server_error']);

/** SQLSTATEs that describe one node's state rather than the request: class 53 (insufficient resources),
 * 57P01/57P02/57P03 (shutting down, crash shutdown, cannot connect now), class 08 (connection exception). */
function nodeLocalError(code: string | undefined): boolean {
  if (!code) return false;
  return code.startsWith('53') || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03';
}

function upstreamDetail(err: UpstreamError): string {
  return `last endpoint failure: ${err.reason.replace(/_/g, ' ')}`;
}
