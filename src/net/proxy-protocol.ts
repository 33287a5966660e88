// PROXY protocol v1 (text) and v2 (binary) headers, as sent by load balancers in front of the proxy
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt). Parses strictly: capped lengths, valid
// addresses and ports, CRLF, v2 version/command/family checks. Honoured only from `network.trustedProxies`:
// from a trusted peer the header is required, from any other peer a header is an error. Never writes a byte.
import type net from 'node:net';
import { parseIPv4, parseIPv6 } from '../config/cidr.js';

/** The client a trusted proxy reports; null for LOCAL / UNKNOWN (health checks: use the peer's own address). */
export type ProxySource = { readonly address: string; readonly port: number; readonly family: 'IPv4' | 'IPv6' } | null;

export type ProxyHeader = { readonly version: 1 | 2; readonly source: ProxySource; readonly length: number };

/** Stable reason codes, for logs and the `client_connections_total{outcome}` label. */
export type PreambleRefusal = 'proxy_header_invalid' | 'proxy_header_missing' | 'proxy_header_untrusted' | 'startup_timeout' | 'client_closed';

export class ProxyHeaderError extends Error {
  override readonly name = 'ProxyHeaderError';
  constructor(readonly reason: string) {
    super(`invalid PROXY protocol header: ${reason}`);
  }
}

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v1: "the maximum line lengths the receiver must support including the CRLF are 107 bytes". */
const V1_MAX_LENGTH = 107;
const V2_HEADER_LENGTH = 16;
/** v2 addresses plus TLVs; load balancers send a few hundred bytes at most. Larger is refused, not buffered. */
const V2_MAX_PAYLOAD = 4096;
/** A preamble longer than this is refused whatever it is. */
export const MAX_PROXY_HEADER = V2_HEADER_LENGTH + V2_MAX_PAYLOAD;

/**
 * Can these first bytes of a stream be the start of a PROXY header? Used on untrusted peers: a PostgreSQL
 * client's first byte is 0x00 (a length below 16 MiB) or 0x16 (direct TLS), never 'P' or CR.
 */
export function startsLikeProxyHeader(buf: Buffer): boolean {
  if (buf.length === 0) return false;
  return isPrefixOf(buf, V1_PREFIX) || isPrefixOf(buf, V2_SIGNATURE);
}

function isPrefixOf(buf: Buffer, signature: Buffer): boolean {
  const n = Math.min(buf.length, signature.length);
  return buf.subarray(0, n).equals(signature.subarray(0, n));
}

/** One header at the start of `buf`: the header, null while more bytes are needed, or a ProxyHeaderError. */
export function decodeProxyHeader(buf: Buffer): ProxyHeader | null {
  if (buf.length === 0) return null;
  if (isPrefixOf(buf, V2_SIGNATURE)) return buf.length < V2_SIGNATURE.length ? null : decodeV2(buf);
  if (isPrefixOf(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? null : decodeV1(buf);
  throw new ProxyHeaderError('missing');
}

// v1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 5433\r\n" | "PROXY TCP6 ..." | "PROXY UNKNOWN[ anything]\r\n"
function decodeV1(buf: Buffer): ProxyHeader | null {
  const limit = Math.min(buf.length, V1_MAX_LENGTH);
  let end = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const b = buf[i]!;
    if (b === 0x0d) { end = i; break; }
    if (b < 0x20 || b > 0x7e) throw new ProxyHeaderError('v1_bad_character');
  }
  if (end === -1) {
    if (buf.length >= V1_MAX_LENGTH) throw new ProxyHeaderError('v1_too_long');
    return null;
  }
  if (end + 1 >= buf.length) return null; // CR seen, LF not yet
  if (buf[end + 1] !== 0x0a) throw new ProxyHeaderError('v1_bad_line_end');
  const length = end + 2;
  const line = buf.toString('latin1', V1_PREFIX.length, end);
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { version: 1, source: null, length };
  const parts = line.split(' ');
  if (parts.length !== 5) throw new ProxyHeaderError('v1_bad_fields');
  const [proto, src, dst, srcPort, dstPort] = parts as [string, string, string, string, string];
  if (proto !== 'TCP4' && proto !== 'TCP6') throw new ProxyHeaderError('v1_bad_protocol');
  const parse = proto === 'TCP4' ? parseIPv4 : parseIPv6;
  if (parse(src) === null || parse(dst) === null) throw new ProxyHeaderError('v1_bad_address');
  const port = v1Port(srcPort);
  v1Port(dstPort);
  return { version: 1, source: { address: proto === 'TCP4' ? src : canonicalIPv6(src), port, family: proto === 'TCP4' ? 'IPv4' : 'IPv6' }, length };
}

function v1Port(text: string): number {
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text) || Number(text) > 65535) throw new ProxyHeaderError('v1_bad_port');
  return Number(text);
}

const V2_COMMAND_LOCAL = 0x0;
const V2_COMMAND_PROXY = 0x1;
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

// v2: signature(12) ver_cmd(1) fam(1) len(2, BE) addresses TLVs
function decodeV2(buf: Buffer): ProxyHeader | null {
  if (buf.length < V2_HEADER_LENGTH) return null;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyHeaderError('v2_bad_version');
  const command = verCmd & 0x0f;
  if (command !== V2_COMMAND_LOCAL && command !== V2_COMMAND_PROXY) throw new ProxyHeaderError('v2_bad_command');
  const family = buf[13]!;
  const payload = buf.readUInt16BE(14);
  if (payload > V2_MAX_PAYLOAD) throw new ProxyHeaderError('v2_too_long');
  const length = V2_HEADER_LENGTH + payload;
  if (buf.length < length) return null;
  // LOCAL: the proxy speaks for itself (health check); the address block, if any, is ignored by the spec.
  if (command === V2_COMMAND_LOCAL) return { version: 2, source: null, length };
  const body = buf.subarray(V2_HEADER_LENGTH, length);
  let source: ProxySource;
  let addressBytes: number;
  if (family === V2_TCP4) {
    addressBytes = 12;
    if (payload < addressBytes) throw new ProxyHeaderError('v2_short_address');
    source = { address: Array.from(body.subarray(0, 4)).join('.'), port: body.readUInt16BE(8), family: 'IPv4' };
  } else if (family === V2_TCP6) {
    addressBytes = 36;
    if (payload < addressBytes) throw new ProxyHeaderError('v2_short_address');
    source = { address: ipv6Text(body.subarray(0, 16)), port: body.readUInt16BE(32), family: 'IPv6' };
  } else {
    // UNSPEC, UNIX and UDP carry no TCP client address: refuse rather than fall back to the peer's.
    throw new ProxyHeaderError('v2_unsupported_family');
  }
  checkTlvs(body.subarray(addressBytes));
  return { version: 2, source, length };
}

/** TLVs must tile the rest of the payload exactly (type 1, length 2, value). Their contents are not used. */
function checkTlvs(tlvs: Buffer): void {
  let off = 0;
  while (off < tlvs.length) {
    if (tlvs.length - off < 3) throw new ProxyHeaderError('v2_bad_tlv');
    const len = tlvs.readUInt16BE(off + 1);
    off += 3 + len;
    if (off > tlvs.length) throw new ProxyHeaderError('v2_bad_tlv');
  }
}

function ipv6Text(bytes: Buffer): string {
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i).toString(16));
  return canonicalIPv6(words.join(':'));
}

/** The RFC 5952 form (what a socket reports), so logs and lockout keys agree whatever the header spelled. */
function canonicalIPv6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

export type PreambleResult =
  | { readonly ok: true; readonly header: ProxyHeader | null }
  | { readonly ok: false; readonly reason: PreambleRefusal; readonly detail?: string };

/**
 * Reads what comes before the PostgreSQL conversation, then pauses the socket and puts back the bytes after it.
 * Trusted peer: one PROXY header, required. Other peers: only the first byte is looked at, to refuse a header.
 * Resolves (never rejects) within `timeoutMs`; the caller destroys the socket on a refusal.
 */
export function readPreamble(socket: net.Socket, trusted: boolean, timeoutMs: number): Promise<PreambleResult> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (result: PreambleResult, rest: Buffer | null): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onClosed);
      socket.off('close', onClosed);
      socket.pause();
      if (rest !== null && rest.length > 0) socket.unshift(rest);
      resolve(result);
    };
    const onClosed = (): void => finish({ ok: false, reason: 'client_closed' }, null);
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (!trusted) {
        if (startsLikeProxyHeader(buffered.subarray(0, 1))) return finish({ ok: false, reason: 'proxy_header_untrusted' }, null);
        return finish({ ok: true, header: null }, buffered);
      }
      let header: ProxyHeader | null;
      try {
        header = decodeProxyHeader(buffered);
      } catch (err) {
        const reason = (err as ProxyHeaderError).reason;
        return finish({ ok: false, reason: reason === 'missing' ? 'proxy_header_missing' : 'proxy_header_invalid', detail: reason }, null);
      }
      if (header !== null) return finish({ ok: true, header }, buffered.subarray(header.length));
      if (buffered.length >= MAX_PROXY_HEADER) finish({ ok: false, reason: 'proxy_header_invalid', detail: 'too_long' }, null);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: 'startup_timeout' }, null), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onClosed);
    socket.once('close', onClosed);
    socket.resume();
  });
}
