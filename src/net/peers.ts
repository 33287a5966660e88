// Cancel across ysqlgate replicas (PgBouncer-style peering). A cancel key's processId carries the tag of the
// replica that issued it; a replica that gets a CancelRequest tagged for another replica forwards it to that
// peer, as a client would (SSLRequest, TLS, CancelRequest), with the FORWARDED bit set so a forwarded request
// is never forwarded again. Keys this replica owns but does not know, and anything unroutable, are dropped.
//
// processId layout (always positive):  bit 31 = 0 | bit 30 FORWARDED | bits 22-29 replica tag | bits 0-21 random
//
// Tags: when `peers` lists every replica including this one (the same list everywhere, found by listen port
// and a local address), the tag is the 1-based index in the list and forwarding goes straight to that peer.
// Otherwise (peers = the others only) the tag is random above the list's length and a foreign key is sent to
// every peer. The key travels only over TLS; the peer must present this replica's own certificate (replicas
// behind one load balancer share it) or one that verifies against `tls.clientCA`.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import tls from 'node:tls';
import { randomInt } from 'node:crypto';
import type { HostPort } from '../config/types.js';

export const FORWARDED_BIT = 1 << 30;
export const TAG_SHIFT = 22;
export const TAG_MASK = 0xff;
export const SESSION_BITS_MAX = 1 << TAG_SHIFT;

export type Replica = { readonly tag: number; readonly selfIndex: number | null };

export function tagOf(processId: number): number {
  return (processId >>> TAG_SHIFT) & TAG_MASK;
}

/** This replica's tag: its 1-based place in `peers` when it finds itself there, else a random unused one. */
export function chooseReplica(peers: readonly HostPort[], listen: HostPort, localAddresses = localAddressSet()): Replica {
  const selfIndex = peers.findIndex((p) => p.port === listen.port && (p.host === listen.host || localAddresses.has(p.host.toLowerCase())));
  if (selfIndex >= 0 && selfIndex < TAG_MASK) return { tag: selfIndex + 1, selfIndex };
  const low = Math.min(peers.length + 1, TAG_MASK);
  return { tag: randomInt(low, TAG_MASK + 1), selfIndex: null };
}

/** The key as this replica looks it up: a forwarded request arrives with the FORWARDED bit set. */
export function localProcessId(processId: number): number {
  return processId & ~FORWARDED_BIT;
}

/**
 * Peers to forward a CancelRequest to when no session here holds the key: none for a forwarded request or one
 * tagged for this replica; the owning peer when the tag names a place in `peers`; else every other peer.
 */
export function peerTargets(processId: number, replica: Replica, peers: readonly HostPort[]): HostPort[] {
  if (processId & FORWARDED_BIT) return [];
  const tag = tagOf(processId);
  if (tag === replica.tag) return [];
  if (tag >= 1 && tag <= peers.length && tag - 1 !== replica.selfIndex) return [peers[tag - 1]!];
  return peers.filter((_, i) => i !== replica.selfIndex);
}

export type PeerCancelResult = 'peer' | 'unknown' | 'failed';

/** Forwards a cancel this replica does not hold (see peerTargets); 'peer' when at least one peer took it. */
export async function cancelViaPeers(
  processId: number, secretKey: number, replica: Replica, peers: readonly HostPort[], trust: PeerTrust, timeoutMs: number,
): Promise<PeerCancelResult> {
  const targets = peerTargets(processId, replica, peers);
  if (targets.length === 0) return 'unknown';
  const sent = await Promise.all(targets.map((p) => sendPeerCancel(p, processId | FORWARDED_BIT, secretKey, trust, timeoutMs)));
  return sent.some(Boolean) ? 'peer' : 'failed';
}

export type PeerTrust = { readonly ownCertificateDer: Buffer; readonly clientCAFile: string | null };

/** Sends one CancelRequest to a peer over TLS; resolves false when it could not be delivered. Bounded in time. */
export function sendPeerCancel(peer: HostPort, processId: number, secretKey: number, trust: PeerTrust, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    let secure: tls.TLSSocket | null = null;
    const raw = net.connect({ host: peer.host, port: peer.port, noDelay: true });
    const finish = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!ok) { secure?.destroy(); raw.destroy(); }
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    raw.on('error', () => finish(false));
    raw.once('connect', () => raw.write(SSL_REQUEST));
    raw.once('data', (answer: Buffer) => {
      raw.pause();
      if (answer.length !== 1 || answer[0] !== 0x53 /* S */) return finish(false); // never send a key in plaintext
      const ca = readCa(trust.clientCAFile);
      secure = tls.connect({ socket: raw, rejectUnauthorized: false, ca, checkServerIdentity: () => undefined });
      secure.on('error', () => finish(false));
      secure.once('secureConnect', () => {
        if (!trusted(secure!, trust.ownCertificateDer, ca !== undefined)) return finish(false);
        secure!.end(cancelRequest(processId, secretKey));
        secure!.resume();
        secure!.once('close', () => finish(true));
      });
    });
  });
}

/** The peer shows our own certificate, or one that chains to the configured client CA (never system roots). */
function trusted(socket: tls.TLSSocket, ownCertificateDer: Buffer, haveCa: boolean): boolean {
  const raw = socket.getPeerCertificate()?.raw;
  if (raw && raw.equals(ownCertificateDer)) return true;
  return haveCa && socket.authorized;
}

function readCa(file: string | null): Buffer | undefined {
  if (!file) return undefined;
  try { return fs.readFileSync(file); } catch { return undefined; }
}

// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SSLREQUEST
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-CANCELREQUEST
function cancelRequest(processId: number, secretKey: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(80877102, 4);
  b.writeInt32BE(processId | 0, 8);
  b.writeInt32BE(secretKey | 0, 12);
  return b;
}

function localAddressSet(): Set<string> {
  const out = new Set<string>(['localhost']);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) out.add(a.address.toLowerCase());
  }
  return out;
}
