// Client-certificate checks as pure decisions: was a certificate presented, did OpenSSL verify it against
// `tls.clientCA` (chain and validity period), and does its subject CN name the user. Never logs; the reason
// codes are for the `auth.failed` log line only: every failure looks the same to the client.

/** What the TLS layer says about the client's certificate; built by the session from the TLS socket. */
export type PeerCertificate = {
  readonly presented: boolean;
  /** OpenSSL's verify result was X509_V_OK (chain to tls.clientCA, within validity). */
  readonly verified: boolean;
  /** OpenSSL's verify error code when not verified (for the log reason), e.g. CERT_HAS_EXPIRED. */
  readonly verifyError: string | null;
  /** Subject as Node's X509Certificate prints it: one `KEY=value` attribute per line. */
  readonly subject: string | null;
};

export type CertFailure = 'no_client_certificate' | 'certificate_expired' | 'certificate_untrusted'
  | 'certificate_invalid' | 'certificate_name_mismatch';
export type CertOutcome = { ok: true } | { ok: false; reason: CertFailure };

export const NO_PEER_CERTIFICATE: PeerCertificate = { presented: false, verified: false, verifyError: null, subject: null };

const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

/** The chain and validity check alone (the `clientcert=verify-ca` part). */
export function checkCertificateTrusted(peer: PeerCertificate): CertOutcome {
  if (!peer.presented) return { ok: false, reason: 'no_client_certificate' };
  if (peer.verified) return { ok: true };
  const code = peer.verifyError ?? '';
  if (EXPIRED.has(code)) return { ok: false, reason: 'certificate_expired' };
  if (UNTRUSTED.has(code)) return { ok: false, reason: 'certificate_untrusted' };
  return { ok: false, reason: 'certificate_invalid' };
}

/**
 * The subject's common name, only when there is exactly one CN attribute and it is printed unescaped;
 * anything ambiguous (several CNs, escaped or quoted characters) names nobody.
 */
export function subjectCommonName(subject: string | null): string | null {
  if (subject === null) return null;
  const cns = subject.split('\n').filter((line) => line.startsWith('CN='));
  if (cns.length !== 1) return null;
  const cn = cns[0]!.slice(3);
  if (cn === '' || /["\\]/.test(cn)) return null;
  return cn;
}

/** `auth: cert` and `clientCertificate: required`: a verified certificate whose CN equals the user name. */
export function checkClientCertificate(peer: PeerCertificate, username: string): CertOutcome {
  const trusted = checkCertificateTrusted(peer);
  if (!trusted.ok) return trusted;
  const cn = subjectCommonName(peer.subject);
  if (cn === null || cn !== username) return { ok: false, reason: 'certificate_name_mismatch' };
  return { ok: true };
}
