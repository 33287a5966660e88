import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { certificateBindingHash, tlsServerEndPoint } from '../../../src/auth/tls-binding.js';
import { CERTS } from './certs.fixture.js';

t.test('tls-server-end-point uses the signature hash, SHA-256 for MD5/SHA-1', async (t) => {
  for (const c of CERTS) {
    const der = new X509Certificate(c.pem).raw;
    t.equal(certificateBindingHash(der), c.hash, `${c.name}: hash`);
    const got = tlsServerEndPoint(der);
    t.equal(got === null ? null : got.toString('hex'), c.digestHex, `${c.name}: digest`);
  }
});

t.test('malformed DER yields null', async (t) => {
  const der = new X509Certificate(CERTS[0]!.pem).raw;
  t.equal(tlsServerEndPoint(Buffer.alloc(0)), null);
  t.equal(tlsServerEndPoint(Buffer.from('garbage')), null);
  t.equal(tlsServerEndPoint(der.subarray(0, der.length - 1)), null, 'truncated');
  t.equal(tlsServerEndPoint(Buffer.concat([der, Buffer.from([0])])), null, 'trailing byte');
  for (let i = 0; i < Math.min(der.length, 64); i++) tlsServerEndPoint(der.subarray(0, i)); // must not throw
  t.pass('prefixes do not throw');
});
