// The hot path after login. Client→upstream: frame every message, check Query/Parse/FunctionCall against the
// access rules, forward the original bytes. Upstream→client: headers only, whole chunks forwarded in place.
// A denied statement is replaced by a statement the upstream rejects at parse time, so the upstream itself
// aborts the transaction, discards to Sync and keeps pipelined responses in order; its ErrorResponse is
// then replaced by the denial. The denied text never reaches the upstream. Backpressure both ways.
import type net from 'node:net';
import { randomBytes } from 'node:crypto';
import { FrontendCode } from '../protocol/codes.js';
import { FrontendFramer, type Frame } from '../protocol/framer.js';
import { decodeBind, decodeClose, decodeFunctionCall, decodeParse, decodeQuery } from '../protocol/frontend.js';
import { decodeErrorFields, encodeErrorResponse } from '../protocol/backend.js';
import { BackendScanner } from '../protocol/backend-scanner.js';
import { serialize } from 'pg-protocol/dist/serializer';
import type { AccessDecision, SessionGuard } from '../policy/index.js';
import { PreparedStatements } from './prepared-statements.js';

export type StatementKind = 'query' | 'parse' | 'function_call';

export type RelayHooks = {
  /** `sql` is the statement text (absent for FunctionCall); log only a redacted form of it. */
  onStatement(kind: StatementKind, decision: AccessDecision, seconds: number, sql?: string): void;
  onClientBytes(n: number): void;
  onUpstreamBytes(n: number): void;
  /** The relay has stopped: `who` closed, ended (Terminate) or failed. */
  onEnd(reason: RelayEndReason): void;
};

export type RelayEndReason = 'client_terminated' | 'client_closed' | 'upstream_closed' | 'client_protocol_violation'
  | 'upstream_protocol_violation';

type PendingDenial = { marker: string; group: number; decision: Extract<AccessDecision, { allow: false }> };

export class Relay {
  private readonly framer: FrontendFramer;
  private readonly prepared = new PreparedStatements();
  private readonly scanner: BackendScanner;
  private readonly markerPrefix = `ysqlgate_denied_${randomBytes(6).toString('hex')}_`;
  private denials: PendingDenial[] = [];
  private denialCount = 0;
  /** Requests that end in a ReadyForQuery (Query, Sync, FunctionCall) sent / answered. */
  private syncsSent = 0;
  private syncsAnswered = 0;
  private stopped = false;
  private fatalAtBoundary: Buffer | null = null;
  transactionStatus = 0x49; // 'I'
  statements = 0;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private guard: SessionGuard,
    private readonly hooks: RelayHooks,
    maxMessageSize: number,
  ) {
    this.framer = new FrontendFramer(maxMessageSize);
    this.scanner = new BackendScanner({
      onReadyForQuery: (status) => this.onReadyForQuery(status),
      onErrorResponse: (message) => this.onErrorResponse(message),
    });
  }

  /** Starts relaying; `clientLeftover`/`upstreamLeftover` are bytes already read during login. */
  start(clientLeftover: Buffer, upstreamLeftover: Buffer): void {
    this.client.on('data', (chunk: Buffer) => this.fromClient(chunk));
    this.upstream.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    this.client.on('drain', () => this.upstream.resume());
    this.upstream.on('drain', () => this.client.resume());
    this.client.on('end', () => this.end('client_closed'));
    this.client.on('close', () => this.end('client_closed'));
    this.upstream.on('end', () => this.end('upstream_closed'));
    this.upstream.on('close', () => this.end('upstream_closed'));
    this.client.on('error', () => this.end('client_closed'));
    this.upstream.on('error', () => this.end('upstream_closed'));
    if (upstreamLeftover.length > 0) this.fromUpstream(upstreamLeftover);
    if (clientLeftover.length > 0) this.fromClient(clientLeftover);
    this.client.resume();
    this.upstream.resume();
  }

  /** Later statements are checked by `guard` (config reload), including named statements prepared before. */
  rebind(guard: SessionGuard): void {
    this.guard = guard;
    this.prepared.rulesChanged();
  }

  /** No request is waiting for the upstream: nothing would be lost by closing now. */
  get idle(): boolean {
    return this.syncsAnswered >= this.syncsSent;
  }

  /**
   * Sends `fatal` to the client without splitting an upstream message: at once when between messages,
   * else right after the message in flight completes (the caller bounds the wait).
   */
  sendFatalAtBoundary(fatal: Buffer): boolean {
    if (this.scanner.atBoundary) {
      this.client.write(fatal);
      return true;
    }
    this.fatalAtBoundary = fatal;
    return false;
  }

  private fromClient(chunk: Buffer): void {
    if (this.stopped) return;
    this.hooks.onClientBytes(chunk.length);
    let frames: Frame[];
    try {
      frames = this.framer.push(chunk);
    } catch {
      this.end('client_protocol_violation');
      return;
    }
    if (frames.length === 0) return;
    let ok = true;
    if (frames.length === 1) {
      const out = this.inspect(frames[0]!);
      if (out === null) return;
      ok = this.upstream.write(out);
    } else {
      this.upstream.cork();
      for (const frame of frames) {
        const out = this.inspect(frame);
        if (out === null) break;
        ok = this.upstream.write(out);
      }
      this.upstream.uncork();
    }
    if (!ok) this.client.pause();
  }

  /** Returns the bytes to send upstream for one client message, or null to stop (Terminate / violation). */
  private inspect(frame: Frame): Buffer | null {
    try {
      switch (frame.code) {
        case FrontendCode.Query: {
          this.syncsSent++;
          const sql = decodeQuery(frame.body);
          const decision = this.check('query', () => this.guard.checkQuery(sql), sql);
          return decision.allow ? frame.raw : serialize.query(this.deny(decision, this.syncsSent));
        }
        case FrontendCode.Parse: {
          const parse = decodeParse(frame.body);
          const decision = this.check('parse', () => this.guard.checkParse(parse.name, parse.query), parse.query);
          if (!decision.allow) return serialize.parse({ name: parse.name, text: this.deny(decision, this.syncsSent + 1) });
          this.prepared.parsed(parse.name, parse.query);
          return frame.raw;
        }
        case FrontendCode.Bind:
          return this.prepared.stale ? this.recheckBind(frame) : frame.raw;
        case FrontendCode.Close:
          this.prepared.closed(decodeClose(frame.body));
          return frame.raw;
        case FrontendCode.FunctionCall: {
          this.syncsSent++;
          const decision = this.check('function_call', () => this.guard.checkFunctionCall(decodeFunctionCall(frame.body).functionOid));
          // A failed FunctionCall and a failed Query both answer ErrorResponse + ReadyForQuery.
          return decision.allow ? frame.raw : serialize.query(this.deny(decision, this.syncsSent));
        }
        case FrontendCode.Sync:
          this.syncsSent++;
          return frame.raw;
        case FrontendCode.Terminate:
          this.upstream.end(frame.raw);
          this.end('client_terminated');
          return null;
        default:
          return frame.raw;
      }
    } catch {
      this.end('client_protocol_violation');
      return null;
    }
  }

  /**
   * After a reload, a named statement parsed under the old rules is checked again by the new ones at its first
   * Bind: a revoked privilege must not live on in a prepared statement. A denial fails the Bind as the server
   * would (error, discard to Sync) through a Parse that cannot succeed and creates nothing.
   */
  private recheckBind(frame: Frame): Buffer {
    const { statement } = decodeBind(frame.body);
    const sql = this.prepared.needsRecheck(statement);
    if (sql === null) return frame.raw;
    const decision = this.check('parse', () => this.guard.checkParse(statement, sql), sql);
    if (decision.allow) {
      this.prepared.rechecked(statement);
      return frame.raw;
    }
    const marker = this.deny(decision, this.syncsSent + 1);
    return serialize.parse({ name: marker, text: marker });
  }

  private check(kind: StatementKind, run: () => AccessDecision, sql?: string): AccessDecision {
    const started = process.hrtime.bigint();
    const decision = run();
    this.statements++;
    this.hooks.onStatement(kind, decision, Number(process.hrtime.bigint() - started) / 1e9, sql);
    return decision;
  }

  /**
   * Records a denial and returns the SQL that makes the upstream fail in its place. `group` is the number of
   * the ReadyForQuery that closes the request (a Query's own; for a Parse, the next Sync's).
   */
  private deny(decision: AccessDecision, group: number): string {
    if (decision.allow) throw new Error('deny() called for an allowed statement');
    const marker = `${this.markerPrefix}${++this.denialCount}`;
    this.denials.push({ marker, group, decision });
    this.scanner.watchErrors = true;
    return marker;
  }

  private fromUpstream(chunk: Buffer): void {
    if (this.stopped) return;
    const out: Buffer[] = [];
    const stopAtBoundary = this.fatalAtBoundary !== null;
    try {
      this.scanner.scan(chunk, out, stopAtBoundary);
    } catch {
      this.end('upstream_protocol_violation');
      return;
    }
    let bytes = 0;
    let ok = true;
    if (out.length === 1) {
      bytes = out[0]!.length;
      ok = this.client.write(out[0]!);
    } else if (out.length > 1) {
      this.client.cork();
      for (const piece of out) {
        bytes += piece.length;
        ok = this.client.write(piece);
      }
      this.client.uncork();
    }
    this.hooks.onUpstreamBytes(bytes);
    if (stopAtBoundary && this.scanner.atBoundary && this.fatalAtBoundary) {
      this.client.write(this.fatalAtBoundary);
      this.fatalAtBoundary = null;
      return;
    }
    if (!ok) this.upstream.pause();
  }

  private onReadyForQuery(status: number): void {
    this.syncsAnswered++;
    this.transactionStatus = status;
    if (this.denials.length > 0) {
      this.denials = this.denials.filter((d) => d.group > this.syncsAnswered);
      this.scanner.watchErrors = this.denials.length > 0;
    }
  }

  private onErrorResponse(message: Buffer): Buffer {
    const fields = decodeErrorFields(message.subarray(5));
    const text = fields.get('M') ?? '';
    const index = this.denials.findIndex((d) => text.includes(`"${d.marker}"`));
    if (index < 0) return message;
    const { decision } = this.denials[index]!;
    this.denials.splice(index, 1);
    return encodeErrorResponse({
      severity: 'ERROR', code: decision.sqlstate, message: decision.message, ...(decision.hint ? { hint: decision.hint } : {}),
    });
  }

  private end(reason: RelayEndReason): void {
    if (this.stopped) return;
    this.stopped = true;
    this.hooks.onEnd(reason);
  }
}
