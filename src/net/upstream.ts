// The upstream leg: connect to a YSQL endpoint, negotiate TLS with libpq's sslmode meanings, and log in as the
// mapped upstream identity (SCRAM-SHA-256, md5, cleartext or trust, as the server asks). pg-protocol parses the
// server's messages and builds ours. Secrets are used here and never put into errors or logs.
import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol/dist/serializer';
import { Parser } from 'pg-protocol/dist/parser';
import type { BackendMessage } from 'pg-protocol/dist/messages';
import type { HostPort, UpstreamTlsMode } from '../config/types.js';
import { ScramClient, type ScramKeys } from '../auth/scram-client.js';
import { md5PasswordResponse } from '../auth/md5.js';
import { SocketReader } from '../session/socket-reader.js';

export type UpstreamTls = { readonly mode: UpstreamTlsMode; readonly ca: Buffer | null };

export type UpstreamLogin = {
  readonly user: string;
  readonly password: string | null;
  /** SCRAM pass-through: log in with the client's recovered ClientKey instead of a password (SCRAM only). */
  readonly scramKeys?: ScramKeys | null;
  readonly database: string;
  /** Extra startup parameters (client settings plus the policy's pinned ones). Never `client_encoding`. */
  readonly parameters: Readonly<Record<string, string>>;
};

export type BackendKey = { readonly processId: number; readonly secretKey: number };

export type UpstreamConnection = {
  readonly socket: net.Socket;
  readonly endpoint: HostPort;
  readonly parameterStatus: ReadonlyArray<readonly [string, string]>;
  readonly backendKey: BackendKey | null;
  /** Bytes read after ReadyForQuery (normally none). */
  readonly leftover: Buffer;
};

export type UpstreamFailure = 'connect_failed' | 'timeout' | 'tls_refused' | 'tls_failed' | 'auth_failed'
  | 'auth_unsupported' | 'server_error' | 'protocol';

export class UpstreamError extends Error {
  constructor(
    readonly reason: UpstreamFailure,
    readonly endpoint: HostPort,
    /** A server ErrorResponse received during login (code, message), when that is the cause. */
    readonly serverError: { code: string; message: string; severity: string } | null = null,
  ) {
    super(`upstream ${endpoint.host}:${endpoint.port}: ${reason}`);
  }
}

export function endpointLabel(e: HostPort): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** Opens a TCP connection (and TLS as configured) to one endpoint. */
export async function connectTransport(endpoint: HostPort, tlsConfig: UpstreamTls, signal: AbortSignal): Promise<net.Socket> {
  const raw = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    const onAbort = (): void => { s.destroy(); reject(new UpstreamError('timeout', endpoint)); };
    signal.addEventListener('abort', onAbort, { once: true });
    s.once('connect', () => { signal.removeEventListener('abort', onAbort); resolve(s); });
    s.once('error', () => { signal.removeEventListener('abort', onAbort); reject(new UpstreamError('connect_failed', endpoint)); });
  });
  if (tlsConfig.mode === 'disable') return raw;
  raw.write(serialize.requestSsl());
  const answer = await readOneByte(raw, endpoint, signal);
  if (answer !== 0x53 /* S */) {
    raw.destroy();
    throw new UpstreamError('tls_refused', endpoint);
  }
  return startClientTls(raw, endpoint, tlsConfig, signal);
}

function readOneByte(socket: net.Socket, endpoint: HostPort, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      socket.off('data', onData); socket.off('error', onError); socket.off('close', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      socket.pause();
      // Anything after the single answer byte arrived before TLS: never trust it (CVE-2021-23215 class).
      if (chunk.length !== 1) { socket.destroy(); reject(new UpstreamError('protocol', endpoint)); return; }
      resolve(chunk[0]!);
    };
    const onError = (): void => { cleanup(); reject(new UpstreamError('connect_failed', endpoint)); };
    const onAbort = (): void => { cleanup(); socket.destroy(); reject(new UpstreamError('timeout', endpoint)); };
    socket.on('data', onData); socket.once('error', onError); socket.once('close', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One secure context per upstream TLS config (a config generation): parsing the CA per connection is waste. */
const clientContexts = new WeakMap<UpstreamTls, tls.SecureContext>();

function clientContext(cfg: UpstreamTls): tls.SecureContext {
  let context = clientContexts.get(cfg);
  if (!context) {
    context = tls.createSecureContext(cfg.ca ? { ca: cfg.ca } : {});
    clientContexts.set(cfg, context);
  }
  return context;
}

function startClientTls(raw: net.Socket, endpoint: HostPort, cfg: UpstreamTls, signal: AbortSignal): Promise<net.Socket> {
  // libpq: sslmode=require with a root certificate configured behaves as verify-ca.
  const verifyChain = cfg.mode === 'verify-ca' || cfg.mode === 'verify-full' || (cfg.mode === 'require' && cfg.ca !== null);
  const verifyName = cfg.mode === 'verify-full';
  const options: tls.ConnectionOptions = {
    socket: raw,
    secureContext: clientContext(cfg),
    rejectUnauthorized: verifyChain,
    servername: net.isIP(endpoint.host) ? undefined : endpoint.host,
    checkServerIdentity: verifyName ? (_host, cert) => tls.checkServerIdentity(endpoint.host, cert) : () => undefined,
    ALPNProtocols: undefined,
  };
  return new Promise((resolve, reject) => {
    const secure = tls.connect(options);
    const onAbort = (): void => { secure.destroy(); reject(new UpstreamError('timeout', endpoint)); };
    signal.addEventListener('abort', onAbort, { once: true });
    secure.once('secureConnect', () => { signal.removeEventListener('abort', onAbort); resolve(secure); });
    secure.once('error', () => { signal.removeEventListener('abort', onAbort); secure.destroy(); reject(new UpstreamError('tls_failed', endpoint)); });
  });
}

/** Connects to one endpoint and logs in; resolves after the server's first ReadyForQuery. */
export async function openUpstream(endpoint: HostPort, tlsConfig: UpstreamTls, login: UpstreamLogin, timeoutMs: number): Promise<UpstreamConnection> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  let socket: net.Socket | null = null;
  try {
    socket = await connectTransport(endpoint, tlsConfig, controller.signal);
    socket.setNoDelay(true);
    const connected = socket;
    const onAbort = (): void => { connected.destroy(); };
    controller.signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await logIn(socket, endpoint, login);
    } catch (err) {
      if (controller.signal.aborted) throw new UpstreamError('timeout', endpoint);
      throw err;
    } finally {
      controller.signal.removeEventListener('abort', onAbort);
    }
  } catch (err) {
    socket?.destroy();
    throw err instanceof UpstreamError ? err : new UpstreamError('protocol', endpoint);
  } finally {
    clearTimeout(timer);
  }
}

async function logIn(socket: net.Socket, endpoint: HostPort, login: UpstreamLogin): Promise<UpstreamConnection> {
  const reader = new SocketReader(socket, 1 << 20);
  const parser = new Parser();
  const params: Record<string, string> = { ...login.parameters, user: login.user, database: login.database };
  socket.write(serialize.startup(params));
  const status: Array<[string, string]> = [];
  let backendKey: BackendKey | null = null;
  let scram: ScramClient | null = null;
  socket.resume();
  for (;;) {
    const frame = await reader.readMessage().catch(() => { throw new UpstreamError('protocol', endpoint); });
    const message = decode(parser, frame.code, frame.body);
    switch (message.name) {
      case 'authenticationOk':
        break;
      case 'authenticationCleartextPassword':
        socket.write(serialize.password(requirePassword(login, endpoint)));
        break;
      case 'authenticationMD5Password': {
        const salt = (message as unknown as { salt: Buffer }).salt;
        socket.write(serialize.password(md5PasswordResponse(login.user, requirePassword(login, endpoint), salt)));
        break;
      }
      case 'authenticationSASL': {
        const mechanisms = (message as unknown as { mechanisms: string[] }).mechanisms;
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new UpstreamError('auth_unsupported', endpoint);
        scram = login.scramKeys ? new ScramClient(login.scramKeys) : new ScramClient(requirePassword(login, endpoint));
        socket.write(serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', scram.clientFirstMessage().toString('utf8')));
        break;
      }
      case 'authenticationSASLContinue': {
        if (!scram) throw new UpstreamError('protocol', endpoint);
        const data = (message as unknown as { data: string }).data;
        const final = scramStep(() => scram!.handleServerFirst(Buffer.from(data, 'utf8')), endpoint);
        socket.write(serialize.sendSCRAMClientFinalMessage(final.toString('utf8')));
        break;
      }
      case 'authenticationSASLFinal': {
        if (!scram) throw new UpstreamError('protocol', endpoint);
        const data = (message as unknown as { data: string }).data;
        scramStep(() => scram!.verifyServerFinal(Buffer.from(data, 'utf8')), endpoint);
        break;
      }
      case 'parameterStatus': {
        const m = message as unknown as { parameterName: string; parameterValue: string };
        status.push([m.parameterName, m.parameterValue]);
        break;
      }
      case 'backendKeyData': {
        const m = message as unknown as { processID: number; secretKey: number };
        backendKey = { processId: m.processID, secretKey: m.secretKey };
        break;
      }
      case 'notice':
        break;
      case 'error': {
        const m = message as unknown as { code?: string; message: string; severity?: string };
        const code = m.code ?? 'XX000';
        const reason: UpstreamFailure = code.startsWith('28') ? 'auth_failed' : 'server_error';
        throw new UpstreamError(reason, endpoint, { code, message: m.message, severity: m.severity ?? 'FATAL' });
      }
      case 'readyForQuery':
        return { socket, endpoint, parameterStatus: status, backendKey, leftover: reader.detach() };
      default:
        throw new UpstreamError('protocol', endpoint);
    }
  }
}

function requirePassword(login: UpstreamLogin, endpoint: HostPort): string {
  if (login.password === null) throw new UpstreamError('auth_unsupported', endpoint);
  return login.password;
}

function scramStep<T>(step: () => T, endpoint: HostPort): T {
  try {
    return step();
  } catch {
    throw new UpstreamError('auth_failed', endpoint);
  }
}

function decode(parser: Parser, code: number, body: Buffer): BackendMessage {
  const whole = Buffer.allocUnsafe(body.length + 5);
  whole[0] = code;
  whole.writeInt32BE(body.length + 4, 1);
  body.copy(whole, 5);
  let decoded: BackendMessage | null = null;
  parser.parse(whole, (m) => { decoded = m; });
  if (decoded === null) throw new Error('incomplete message');
  return decoded;
}

/** Sends a CancelRequest for `key` to `endpoint` over the same transport rules; best effort, bounded in time. */
export async function sendCancelRequest(endpoint: HostPort, tlsConfig: UpstreamTls, key: BackendKey, timeoutMs: number): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const socket = await connectTransport(endpoint, tlsConfig, controller.signal);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.once('error', () => resolve());
      socket.end(serialize.cancel(key.processId, key.secretKey));
      socket.resume();
    });
  } finally {
    clearTimeout(timer);
  }
}
