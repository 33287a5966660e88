// Client-certificate decisions: presence, OpenSSL's verify result mapped to log reasons, and the CN match,
// including ambiguous subjects (several CNs, escaped values) that must name nobody.
import t from 'tap';
import { checkCertificateTrusted, checkClientCertificate, subjectCommonName, NO_PEER_CERTIFICATE, type PeerCertificate } from '../../../src/auth/cert.js';

const peer = (over: Partial<PeerCertificate>): PeerCertificate => ({ presented: true, verified: true, verifyError: null, subject: 'O=ysqlgate\nCN=certuser', ...over });

t.test('checkClientCertificate', async (t) => {
  const cases: Array<[string, PeerCertificate, string, string | null]> = [
    ['verified, CN = user', peer({}), 'certuser', null],
    ['no certificate', NO_PEER_CERTIFICATE, 'certuser', 'no_client_certificate'],
    ['expired', peer({ verified: false, verifyError: 'CERT_HAS_EXPIRED' }), 'certuser', 'certificate_expired'],
    ['not yet valid', peer({ verified: false, verifyError: 'CERT_NOT_YET_VALID' }), 'certuser', 'certificate_expired'],
    ['unknown CA', peer({ verified: false, verifyError: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }), 'certuser', 'certificate_untrusted'],
    ['self-signed', peer({ verified: false, verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'certuser', 'certificate_untrusted'],
    ['other verify error', peer({ verified: false, verifyError: 'INVALID_PURPOSE' }), 'certuser', 'certificate_invalid'],
    ['unverified without a code fails closed', peer({ verified: false, verifyError: null }), 'certuser', 'certificate_invalid'],
    ['wrong CN', peer({ subject: 'CN=certuser-wrong' }), 'certuser', 'certificate_name_mismatch'],
    ['CN is a prefix of the user', peer({ subject: 'CN=cert' }), 'certuser', 'certificate_name_mismatch'],
    ['case differs', peer({ subject: 'CN=CertUser' }), 'certuser', 'certificate_name_mismatch'],
    ['two CNs', peer({ subject: 'CN=certuser\nCN=admin' }), 'certuser', 'certificate_name_mismatch'],
    ['no CN', peer({ subject: 'O=ysqlgate' }), 'certuser', 'certificate_name_mismatch'],
    ['CN only in O', peer({ subject: 'O=CN=certuser' }), 'certuser', 'certificate_name_mismatch'],
    ['no subject', peer({ subject: null }), 'certuser', 'certificate_name_mismatch'],
  ];
  for (const [name, p, user, reason] of cases) {
    t.same(checkClientCertificate(p, user), reason === null ? { ok: true } : { ok: false, reason }, name);
  }
  // The name check never runs before the chain check: a wrong-CN certificate from an unknown CA is untrusted.
  t.same(checkClientCertificate(peer({ verified: false, verifyError: 'UNABLE_TO_GET_ISSUER_CERT', subject: 'CN=x' }), 'certuser'), { ok: false, reason: 'certificate_untrusted' });
  t.same(checkCertificateTrusted(peer({ subject: 'CN=anyone' })), { ok: true });
});

t.test('subjectCommonName refuses escaped or quoted values', async (t) => {
  t.equal(subjectCommonName('CN=app'), 'app');
  t.equal(subjectCommonName('CN=a\\nCN=b'), null);
  t.equal(subjectCommonName('CN="quoted"'), null);
  t.equal(subjectCommonName('CN='), null);
});
