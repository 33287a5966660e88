// The conversation before authentication: SSLRequest / direct TLS (ALPN "postgresql") / GSSENCRequest /
// CancelRequest / StartupMessage. Bytes that arrive after SSLRequest and before the handshake completes are
// refused, never parsed (CVE-2021-23214 class). Returns what the session needs next; writes only 'S'/'N'.
import type net from 'node:net';
import type tls from 'node:tls';
import { decodeStartupPacket, type StartupPacket } from '../protocol/startup.js';
import { SSL_ACCEPTED, GSSENC_REFUSED } from '../protocol/backend.js';
import { ProtocolViolation } from '../protocol/errors.js';
import { acceptTls, ALPN_POSTGRESQL, type ListenerTls } from '../net/tls.js';
import { SocketReader } from './socket-reader.js';

export type StartupMessage = Extract<StartupPacket, { kind: 'startup' }>;

export type Negotiated =
  | { kind: 'cancel'; processId: number; secretKey: number }
  | { kind: 'startup'; socket: net.Socket; reader: SocketReader; tls: tls.TLSSocket | null; startup: StartupMessage };

export type NegotiateOptions = {
  readonly tls: ListenerTls;
  readonly maxMessageSize: number;
  readonly signal: AbortSignal;
};

const TLS_HANDSHAKE_RECORD = 0x16;
const MAX_NEGOTIATION_PACKETS = 3;

export async function negotiate(raw: net.Socket, opts: NegotiateOptions): Promise<Negotiated> {
  let socket: net.Socket = raw;
  let secure: tls.TLSSocket | null = null;
  let reader = new SocketReader(raw, opts.maxMessageSize);
  if ((await reader.peekByte()) === TLS_HANDSHAKE_RECORD) {
    // PostgreSQL 17 direct TLS: the ClientHello is the first thing on the wire; ALPN must say "postgresql".
    const hello = reader.detach();
    raw.unshift(hello);
    secure = await acceptTls(raw, opts.tls, opts.signal);
    if (secure.alpnProtocol !== ALPN_POSTGRESQL) throw new ProtocolViolation('direct_tls_without_alpn', 'direct TLS requires ALPN "postgresql"');
    socket = secure;
    reader = new SocketReader(secure, opts.maxMessageSize);
  }
  for (let i = 0; i < MAX_NEGOTIATION_PACKETS; i++) {
    const packet = decodeStartupPacket(await reader.readStartupPacket());
    switch (packet.kind) {
      case 'cancel':
        reader.detach();
        return { kind: 'cancel', processId: packet.processId, secretKey: packet.secretKey };
      case 'startup':
        return { kind: 'startup', socket, reader, tls: secure, startup: packet };
      case 'gssenc':
        if (secure) throw new ProtocolViolation('gssenc_inside_tls', 'GSSENCRequest inside TLS');
        socket.write(GSSENC_REFUSED);
        break;
      case 'ssl': {
        if (secure) throw new ProtocolViolation('ssl_inside_tls', 'SSLRequest inside TLS');
        if (reader.buffered > 0) throw new ProtocolViolation('bytes_before_tls', 'received unencrypted data after SSL request');
        reader.detach(); // pauses the socket: nothing more is read in plaintext
        raw.write(SSL_ACCEPTED);
        secure = await acceptTls(raw, opts.tls, opts.signal);
        socket = secure;
        reader = new SocketReader(secure, opts.maxMessageSize);
        break;
      }
    }
  }
  throw new ProtocolViolation('negotiation_loop', 'too many negotiation requests');
}
