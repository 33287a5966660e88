// Client authentication over the startup conversation: SCRAM-SHA-256 (PLUS over TLS) against the verifier
// in the config, or a client certificate (`auth: cert`, and `clientCertificate: required` on top of SCRAM).
// An unknown user runs the same exchange against a mock verifier and fails at the same step, and a certificate
// failure of a SCRAM user fails at that same step too, so responses cannot tell the cases apart. Returns an
// outcome with a reason code; the session decides what to say, log and count.
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { FrontendCode } from '../protocol/codes.js';
import { decodeSASLInitialResponse, decodeSASLResponse } from '../protocol/frontend.js';
import {
  encodeAuthenticationSASL, encodeAuthenticationSASLContinue, encodeAuthenticationSASLFinal,
} from '../protocol/backend.js';
import { parseScramVerifier } from '../auth/verifier.js';
import { ScramServerExchange, scramMechanisms, type ChannelBinding } from '../auth/scram-server.js';
import type { ScramKeys } from '../auth/scram-client.js';
import {
  NO_PEER_CERTIFICATE, checkClientCertificate, type CertOutcome, type PeerCertificate,
} from '../auth/cert.js';
import { peerVerifyError } from '../net/tls.js';
import type { UserConfig } from '../config/types.js';
import type { SocketReader } from './socket-reader.js';

export type AuthMethod = 'scram' | 'cert';
export type AuthOutcome =
  /** scramKeys: set only for `upstream.password: passthrough` users, to log in upstream with the client's key. */
  | { ok: true; method: AuthMethod; scramKeys: ScramKeys | null }
  | { ok: false; method: AuthMethod; reason: string };

export type AuthContext = {
  readonly mockSecret: Buffer;
  /** Non-null only over TLS; then SCRAM-SHA-256-PLUS is offered. */
  readonly channelBinding: ChannelBinding | null;
  /** NO_PEER_CERTIFICATE on plaintext connections. */
  readonly peerCertificate: PeerCertificate;
};

/** Runs the user's authentication method; never writes AuthenticationOk (the session does, once authorized). */
export async function authenticateClient(
  socket: Duplex, reader: SocketReader, username: string, user: UserConfig | null, ctx: AuthContext,
): Promise<AuthOutcome> {
  const binding = ctx.channelBinding;
  if (user !== null && user.auth === 'cert') {
    // Certificate alone, as PostgreSQL's `cert` method: no exchange, the TLS handshake already proved the key.
    const cert = checkClientCertificate(ctx.peerCertificate, username);
    if (cert.ok) return { ok: true, method: 'cert', scramKeys: null };
    // Refused exactly like an unknown user (the same mock exchange, then the same 28P01), so a failed
    // certificate does not reveal that a certificate user of that name exists.
    await authenticateScram(socket, reader, username, null, { mockSecret: ctx.mockSecret, channelBinding: binding });
    return { ok: false, method: 'cert', reason: cert.reason };
  }
  // `clientCertificate: required` (pg_hba clientcert=verify-full) is decided up front but only reported after the
  // proof, in place of SASLFinal: a client never learns from the messages whether its password was right.
  const certificate = user !== null && user.clientCertificate === 'required'
    ? checkClientCertificate(ctx.peerCertificate, username) : null;
  return authenticateScram(socket, reader, username, user, { mockSecret: ctx.mockSecret, channelBinding: binding }, certificate);
}

export type ScramContext = { readonly mockSecret: Buffer; readonly channelBinding: ChannelBinding | null };

export async function authenticateScram(
  socket: Duplex, reader: SocketReader, username: string, user: UserConfig | null, ctx: ScramContext,
  certificate: CertOutcome | null = null,
): Promise<AuthOutcome> {
  // A user that is unknown, or not a password user, goes through the exchange against the mock verifier.
  const verifier = user && user.auth === 'scram' && user.password ? parseScramVerifier(user.password) : null;
  const exchange = new ScramServerExchange({
    verifier, mockSecret: ctx.mockSecret, username, channelBinding: ctx.channelBinding,
  });
  socket.write(encodeAuthenticationSASL(scramMechanisms(ctx.channelBinding)));

  const first = await reader.readMessage();
  if (first.code !== FrontendCode.Password) return fail('unexpected_message');
  const initial = decodeSASLInitialResponse(first.body);
  const serverFirst = exchange.clientFirst(initial.mechanism, initial.data);
  if (!serverFirst.ok) return fail(serverFirst.reason);
  socket.write(encodeAuthenticationSASLContinue(serverFirst.message));

  const final = await reader.readMessage();
  if (final.code !== FrontendCode.Password) return fail('unexpected_message');
  const serverFinal = exchange.clientFinal(decodeSASLResponse(final.body));
  if (!serverFinal.ok) return fail(serverFinal.reason);
  if (verifier === null) return fail('unknown_user'); // unreachable by design: the mock proof never verifies
  if (certificate !== null && !certificate.ok) return fail(certificate.reason);
  socket.write(encodeAuthenticationSASLFinal(serverFinal.message));
  const passthrough = user!.upstream.password.kind === 'passthrough';
  const scramKeys = passthrough
    ? { clientKey: serverFinal.clientKey, serverKey: verifier.serverKey, salt: verifier.salt, iterations: verifier.iterations }
    : null;
  return { ok: true, method: 'scram', scramKeys };
}

function fail(reason: string): AuthOutcome {
  return { ok: false, method: 'scram', reason };
}

/** What the TLS handshake established about the client's certificate; verification itself is net/tls.ts's. */
export function inspectPeerCertificate(socket: TLSSocket | null): PeerCertificate {
  if (socket === null) return NO_PEER_CERTIFICATE;
  const x509 = socket.getPeerX509Certificate();
  if (!x509) return NO_PEER_CERTIFICATE;
  const verifyError = peerVerifyError(socket);
  return { presented: true, verified: verifyError === null, verifyError, subject: x509.subject };
}
