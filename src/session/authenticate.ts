// Client authentication over the startup conversation: SCRAM-SHA-256 (PLUS over TLS) against the verifier
// in the config. An unknown user runs the same exchange against a mock verifier and fails at the same step,
// so responses cannot tell users apart. Returns an outcome; the session decides what to say and log.
import type { Duplex } from 'node:stream';
import { FrontendCode } from '../protocol/codes.js';
import { decodeSASLInitialResponse, decodeSASLResponse } from '../protocol/frontend.js';
import {
  encodeAuthenticationSASL, encodeAuthenticationSASLContinue, encodeAuthenticationSASLFinal,
} from '../protocol/backend.js';
import { parseScramVerifier } from '../auth/verifier.js';
import { ScramServerExchange, scramMechanisms, type ChannelBinding } from '../auth/scram-server.js';
import type { UserConfig } from '../config/types.js';
import type { SocketReader } from './socket-reader.js';

export type AuthOutcome =
  | { ok: true; method: 'scram'; clientKey: Buffer | null }
  | { ok: false; method: 'scram'; reason: string };

export type ScramContext = {
  readonly mockSecret: Buffer;
  readonly channelBinding: ChannelBinding | null;
};

export async function authenticateScram(
  socket: Duplex, reader: SocketReader, username: string, user: UserConfig | null, ctx: ScramContext,
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
  socket.write(encodeAuthenticationSASLFinal(serverFinal.message));
  return { ok: true, method: 'scram', clientKey: serverFinal.clientKey ?? null };
}

function fail(reason: string): AuthOutcome {
  return { ok: false, method: 'scram', reason };
}
