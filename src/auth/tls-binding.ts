// RFC 5929 tls-server-end-point channel binding data for SCRAM-SHA-256-PLUS: a hash of our server certificate.
// Pure: reads only the certificate's outer signatureAlgorithm from DER; returns null where no binding is defined.
import { createHash } from 'node:crypto';

type Tlv = { tag: number; start: number; end: number; next: number }; // start/end: the value's bytes

// One DER TLV at `pos`, bounded by `limit`; null when truncated or not minimal enough to be sane.
function readTlv(buf: Buffer, pos: number, limit: number): Tlv | null {
  if (pos + 2 > limit) return null;
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > limit) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) return null;
  return { tag, start, end, next: end };
}

const SEQUENCE = 0x30;
const OID = 0x06;

function decodeOid(bytes: Buffer): string | null {
  if (bytes.length === 0) return null;
  const arcs: number[] = [];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return null;
    if (!(b & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  if (bytes[bytes.length - 1]! & 0x80) return null;
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

// Signature algorithm OID -> the hash RFC 5929 prescribes (MD5 and SHA-1 are replaced by SHA-256).
const HASH_BY_SIGNATURE_OID: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.4': 'sha256', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'sha256', // sha1WithRSAEncryption
  '1.2.840.113549.1.1.14': 'sha224', // sha224WithRSAEncryption
  '1.2.840.113549.1.1.11': 'sha256', // sha256WithRSAEncryption
  '1.2.840.113549.1.1.12': 'sha384', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 'sha512', // sha512WithRSAEncryption
  '1.2.840.10045.4.1': 'sha256', // ecdsa-with-SHA1
  '1.2.840.10045.4.3.1': 'sha224', // ecdsa-with-SHA224
  '1.2.840.10045.4.3.2': 'sha256', // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': 'sha384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'sha512', // ecdsa-with-SHA512
  '1.2.840.10040.4.3': 'sha256', // dsa-with-sha1
  '2.16.840.1.101.3.4.3.1': 'sha224', // dsa-with-sha224
  '2.16.840.1.101.3.4.3.2': 'sha256', // dsa-with-sha256
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const HASH_BY_DIGEST_OID: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha256', // sha1 -> sha256
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

// RSASSA-PSS-params ::= SEQUENCE { hashAlgorithm [0] AlgorithmIdentifier DEFAULT sha1, ... }
function pssHash(buf: Buffer, params: Tlv | null): string | null {
  if (params === null) return 'sha256'; // absent parameters: the default hash is SHA-1, which maps to SHA-256
  if (params.tag !== SEQUENCE) return null;
  if (params.start === params.end) return 'sha256'; // all defaults
  const first = readTlv(buf, params.start, params.end);
  if (first === null) return null;
  if (first.tag !== 0xa0) return 'sha256'; // hashAlgorithm omitted: default SHA-1 -> SHA-256
  const algId = readTlv(buf, first.start, first.end);
  if (algId === null || algId.tag !== SEQUENCE) return null;
  const oid = readTlv(buf, algId.start, algId.end);
  if (oid === null || oid.tag !== OID) return null;
  return HASH_BY_DIGEST_OID[decodeOid(buf.subarray(oid.start, oid.end)) ?? ''] ?? null;
}

/** The hash algorithm for tls-server-end-point, or null (Ed25519/Ed448, unknown, or unparsable). */
export function certificateBindingHash(certDer: Buffer): string | null {
  const cert = readTlv(certDer, 0, certDer.length);
  if (cert === null || cert.tag !== SEQUENCE || cert.end !== certDer.length) return null;
  const tbs = readTlv(certDer, cert.start, cert.end);
  if (tbs === null || tbs.tag !== SEQUENCE) return null;
  const sigAlg = readTlv(certDer, tbs.next, cert.end);
  if (sigAlg === null || sigAlg.tag !== SEQUENCE) return null;
  const oidTlv = readTlv(certDer, sigAlg.start, sigAlg.end);
  if (oidTlv === null || oidTlv.tag !== OID) return null;
  const oid = decodeOid(certDer.subarray(oidTlv.start, oidTlv.end));
  if (oid === null) return null;
  if (oid === RSASSA_PSS) {
    const params = oidTlv.next < sigAlg.end ? readTlv(certDer, oidTlv.next, sigAlg.end) : null;
    return pssHash(certDer, params);
  }
  // Ed25519 (1.3.101.112) and Ed448 have no separate digest: RFC 5929 defines no binding, PostgreSQL refuses.
  return HASH_BY_SIGNATURE_OID[oid] ?? null;
}

/** RFC 5929 tls-server-end-point: hash of the DER certificate with its signature's hash (SHA-256 for MD5/SHA-1). */
export function tlsServerEndPoint(certDer: Buffer): Buffer | null {
  const hash = certificateBindingHash(certDer);
  return hash === null ? null : createHash(hash).update(certDer).digest();
}
