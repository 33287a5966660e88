// SCRAM pass-through: the ClientKey a server recovers from a client's proof logs in to another server holding
// the same verifier (ClientProof = ClientKey XOR HMAC(H(ClientKey), AuthMessage)), and nowhere else.
import t from 'tap';
import { ScramClient, ScramClientError, type ScramKeys } from '../../../src/auth/scram-client.js';
import { ScramServerExchange } from '../../../src/auth/scram-server.js';
import { clientKeyOf, saltedPassword, serverKeyOf } from '../../../src/auth/scram-crypto.js';
import { createScramVerifier, parseScramVerifier, type ScramVerifier } from '../../../src/auth/verifier.js';

const MOCK = Buffer.alloc(32, 3);

/** Logs `client` in to a server exchange holding `verifier`; returns the server's outcome and the client's view. */
function login(client: ScramClient, verifier: ScramVerifier): { clientKey: Buffer | null; serverOk: boolean; clientOk: boolean } {
  const server = new ScramServerExchange({ verifier, mockSecret: MOCK, username: 'u', channelBinding: null });
  const first = server.clientFirst('SCRAM-SHA-256', client.clientFirstMessage());
  if (!first.ok) return { clientKey: null, serverOk: false, clientOk: false };
  let final: Buffer;
  try {
    final = client.handleServerFirst(first.message);
  } catch (err) {
    t.type(err, ScramClientError);
    return { clientKey: null, serverOk: false, clientOk: false };
  }
  const done = server.clientFinal(final);
  if (!done.ok) return { clientKey: null, serverOk: false, clientOk: false };
  let clientOk = true;
  try { client.verifyServerFinal(done.message); } catch { clientOk = false; }
  return { clientKey: done.clientKey, serverOk: true, clientOk };
}

const keysOf = (v: ScramVerifier, clientKey: Buffer): ScramKeys => ({ clientKey, serverKey: v.serverKey, salt: v.salt, iterations: v.iterations });

t.test('RFC 7677 vector from keys instead of the password', async (t) => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const salted = saltedPassword('pencil', salt, 4096);
  const client = new ScramClient({ clientKey: clientKeyOf(salted), serverKey: serverKeyOf(salted), salt, iterations: 4096 }, { clientNonce: 'rOprNGfwEbeRWgbNEkqO', username: 'user' });
  t.equal(client.clientFirstMessage().toString(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  const final = client.handleServerFirst(Buffer.from('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'));
  t.equal(final.toString(), 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  t.doesNotThrow(() => client.verifyServerFinal(Buffer.from('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')));
});

t.test('recovered ClientKey logs in where the same verifier is held, and only there', async (t) => {
  const verifier = parseScramVerifier(createScramVerifier('client-password', { iterations: 64 }))!;
  const front = login(new ScramClient('client-password'), verifier);
  t.ok(front.serverOk && front.clientOk && front.clientKey, 'client logs in to the proxy');
  const keys = keysOf(verifier, front.clientKey!);

  const upstream = login(new ScramClient(keys), verifier);
  t.same({ serverOk: upstream.serverOk, clientOk: upstream.clientOk }, { serverOk: true, clientOk: true }, 'same verifier upstream: in, and the upstream proved itself');

  // Same password, other salt (YSQL re-hashed it): refused before a proof is sent.
  const resalted = parseScramVerifier(createScramVerifier('client-password', { iterations: 64 }))!;
  t.same(login(new ScramClient(keys), resalted), { clientKey: null, serverOk: false, clientOk: false });
  // Other iteration count with the same salt: also another verifier.
  const moreIter = parseScramVerifier(createScramVerifier('client-password', { iterations: 65, salt: verifier.salt }))!;
  t.same(login(new ScramClient(keys), moreIter), { clientKey: null, serverOk: false, clientOk: false });
  // Same salt and iterations but another password upstream: the upstream refuses the proof.
  const other = parseScramVerifier(createScramVerifier('other-password', { iterations: 64, salt: verifier.salt }))!;
  t.equal(login(new ScramClient(keys), other).serverOk, false);
  // A server that accepts anything cannot fake the ServerSignature without the verifier's ServerKey.
  const fake = login(new ScramClient({ ...keys, serverKey: Buffer.alloc(32) }), verifier);
  t.same({ serverOk: fake.serverOk, clientOk: fake.clientOk }, { serverOk: true, clientOk: false });
});

t.test('verifier_mismatch reason for another salt', async (t) => {
  const verifier = parseScramVerifier(createScramVerifier('p', { iterations: 8 }))!;
  const c = new ScramClient(keysOf(verifier, Buffer.alloc(32, 1)), { clientNonce: 'abc' });
  c.clientFirstMessage();
  const reason = (() => { try { c.handleServerFirst(Buffer.from(`r=abcdef,s=${Buffer.alloc(16, 9).toString('base64')},i=8`)); return null; } catch (err) { return (err as ScramClientError).reason; } })();
  t.equal(reason, 'verifier_mismatch');
});
