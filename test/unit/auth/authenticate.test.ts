// Timing sanity, structurally (not timed): an unknown user, a wrong password and a failed client certificate go
// through the same SCRAM exchange, the same messages and the same verification work, and fail at the same step.
// The crypto primitives are counted by swapping node:crypto's exports (syncBuiltinESMExports) under the code.
import t from 'tap';
import crypto, { randomBytes } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import type { Duplex } from 'node:stream';
import { authenticateClient, type AuthContext, type AuthOutcome } from '../../../src/session/authenticate.js';
import { ScramClient } from '../../../src/auth/scram-client.js';
import { createScramVerifier } from '../../../src/auth/verifier.js';
import type { UserConfig } from '../../../src/config/types.js';
import type { SocketReader } from '../../../src/session/socket-reader.js';
import { NO_PEER_CERTIFICATE } from '../../../src/auth/cert.js';

const PASSWORD = 'the-right-password';
const alice: UserConfig = {
  name: 'alice', auth: 'scram', password: createScramVerifier(PASSWORD), clientCertificate: 'optional', roles: ['r'], from: null,
  upstream: { user: 'alice', password: { kind: 'none' } },
};
const CTX: AuthContext = {
  mockSecret: randomBytes(32),
  channelBinding: { type: 'tls-server-end-point', data: randomBytes(32) },
  peerCertificate: NO_PEER_CERTIFICATE,
};

// Counting wrappers around the primitives every verification uses.
const counts: Record<string, number> = {};
const names = ['createHmac', 'createHash', 'timingSafeEqual', 'pbkdf2Sync'] as const;
const originals = Object.fromEntries(names.map((n) => [n, crypto[n]])) as Record<(typeof names)[number], (...a: unknown[]) => unknown>;
for (const n of names) {
  (crypto as unknown as Record<string, unknown>)[n] = (...args: unknown[]) => { counts[n] = (counts[n] ?? 0) + 1; return originals[n](...args); };
}
syncBuiltinESMExports();
t.teardown(() => { for (const n of names) (crypto as unknown as Record<string, unknown>)[n] = originals[n]; syncBuiltinESMExports(); });
const resetCounts = (): void => { for (const k of Object.keys(counts)) delete counts[k]; };

type Trace = { sent: string[]; finalPhaseWork: Record<string, number>; reads: number; outcome: AuthOutcome };

/** Drives authenticateClient with the project's SCRAM client (plain SCRAM-SHA-256, flag n). */
async function trace(username: string, user: UserConfig | null, password: string, ctx = CTX): Promise<Trace> {
  const writes: Buffer[] = [];
  const socket = { write: (b: Buffer) => { writes.push(b); return true; } } as unknown as Duplex;
  const client = new ScramClient(password);
  let reads = 0;
  let finalWork: Record<string, number> = {};
  const reader = {
    readMessage: async () => {
      reads++;
      if (reads === 1) {
        const data = client.clientFirstMessage();
        const mech = Buffer.from('SCRAM-SHA-256\0');
        const len = Buffer.alloc(4);
        len.writeInt32BE(data.length);
        return { code: 0x70, body: Buffer.concat([mech, len, data]) };
      }
      const serverFirst = writes.at(-1)!.subarray(9);
      const final = client.handleServerFirst(serverFirst);
      resetCounts(); // from here on: only the server's verification of the proof
      return { code: 0x70, body: final };
    },
  } as unknown as SocketReader;
  const outcome = await authenticateClient(socket, reader, username, user, ctx);
  finalWork = { ...counts };
  const sent = writes.map((w) => {
    const type = w.readInt32BE(5);
    const data = w.subarray(9).toString('utf8');
    // Nonces are random and salts differ per user: keep their shape (lengths), not their value.
    const shaped = type === 11
      ? data.replace(/^r=([^,]+),s=([^,]+),i=(\d+)$/, (_m, r: string, s: string, i: string) => `r=<${r.length}>,s=<${Buffer.from(s, 'base64').length}>,i=${i}`)
      : data.replace(/[^\0]/g, '').length.toString();
    return `${String.fromCharCode(w[0]!)}${type}:${shaped}`;
  });
  return { sent, finalPhaseWork: finalWork, reads, outcome };
}

t.test('unknown user and wrong password: same messages, same verification work, same step', async (t) => {
  const unknown = await trace('nobody', null, 'whatever');
  const wrong = await trace('alice', alice, 'not-the-password');
  const right = await trace('alice', alice, PASSWORD);
  t.same(right.outcome, { ok: true, method: 'scram', scramKeys: null }, 'control: the right password passes');

  t.same(unknown.outcome, { ok: false, method: 'scram', reason: 'unknown_user' });
  t.same(wrong.outcome, { ok: false, method: 'scram', reason: 'bad_proof' });
  t.same(unknown.sent, wrong.sent, 'identical message sequence and shapes');
  t.equal(unknown.sent.length, 2, 'AuthenticationSASL and SASLContinue, no SASLFinal');
  t.match(unknown.sent[1], /^R11:r=<\d+>,s=<16>,i=4096$/);
  t.equal(unknown.reads, wrong.reads, 'both read the client-final-message');
  t.same(unknown.finalPhaseWork, wrong.finalPhaseWork, 'the same HMAC/hash/compare work on the proof');
  t.ok(unknown.finalPhaseWork.timingSafeEqual === 1 && unknown.finalPhaseWork.createHmac! >= 1, 'a real comparison ran for the unknown user');
  t.notOk(unknown.finalPhaseWork.pbkdf2Sync, 'no PBKDF2 on the server side for either');
  // The successful path differs only by computing the ServerSignature after the same comparison.
  t.equal(right.finalPhaseWork.timingSafeEqual, 1);
});

t.test('a stable mock salt per unknown name, as PostgreSQL gives', async (t) => {
  const salt = async (name: string): Promise<string> => {
    const writes: Buffer[] = [];
    const socket = { write: (b: Buffer) => { writes.push(b); return true; } } as unknown as Duplex;
    const client = new ScramClient('x');
    const reader = {
      readMessage: async () => {
        if (writes.length === 1) {
          const data = client.clientFirstMessage();
          const len = Buffer.alloc(4);
          len.writeInt32BE(data.length);
          return { code: 0x70, body: Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), len, data]) };
        }
        return { code: 0x71, body: Buffer.alloc(0) }; // stop after the server-first-message
      },
    } as unknown as SocketReader;
    await authenticateClient(socket, reader, name, null, CTX);
    return /s=([^,]+)/.exec(writes[1]!.subarray(9).toString())![1]!;
  };
  t.equal(await salt('nobody'), await salt('nobody'));
  t.not(await salt('nobody'), await salt('somebody'));
});

t.test('a missing client certificate fails exactly like a wrong password (no SASLFinal first)', async (t) => {
  const strict: UserConfig = { ...alice, clientCertificate: 'required' };
  const noCert = await trace('alice', strict, PASSWORD);
  const wrong = await trace('alice', alice, 'not-the-password');
  t.same(noCert.outcome, { ok: false, method: 'scram', reason: 'no_client_certificate' });
  t.same(noCert.sent, wrong.sent);
  // Right and wrong proofs do the same work (the ServerSignature is computed either way), and the messages match.
  const right = await trace('alice', alice, PASSWORD);
  t.same(noCert.finalPhaseWork, right.finalPhaseWork);
  t.same(noCert.finalPhaseWork, wrong.finalPhaseWork, 'a right proof costs no more than a wrong one');
  const withCert = await trace('alice', strict, PASSWORD, {
    ...CTX, peerCertificate: { presented: true, verified: true, verifyError: null, subject: 'O=x\nCN=alice' },
  });
  t.same(withCert.outcome, { ok: true, method: 'scram', scramKeys: null });
  t.equal(withCert.sent.length, 3, 'SASLFinal only once both checks pass');
});

t.test('cert users: no exchange with a good certificate, the unknown user\'s exchange without; pass-through keys', async (t) => {
  const certUser: UserConfig = { ...alice, auth: 'cert', password: null, clientCertificate: 'required' };
  const nothing = { write: () => t.fail('nothing is sent for a cert user') } as unknown as Duplex;
  const noReads = { readMessage: async () => { throw new Error('no reads for a cert user'); } } as unknown as SocketReader;
  const refused = await trace('alice', certUser, 'any password');
  const unknown = await trace('alice', null, 'any password');
  t.same(refused.outcome, { ok: false, method: 'cert', reason: 'no_client_certificate' });
  t.same(refused.sent, unknown.sent, 'a refused certificate user gets the unknown user\'s messages');
  t.same(await authenticateClient(nothing, noReads, 'alice', certUser, {
    ...CTX, peerCertificate: { presented: true, verified: true, verifyError: null, subject: 'CN=alice' },
  }), { ok: true, method: 'cert', scramKeys: null });

  const pt: UserConfig = { ...alice, upstream: { user: 'alice', password: { kind: 'passthrough' } } };
  const ok = await trace('alice', pt, PASSWORD);
  t.equal(ok.outcome.ok, true);
  const keys = ok.outcome.ok ? ok.outcome.scramKeys : null;
  t.ok(keys);
  const digest = crypto.createHash('sha256').update(keys!.clientKey).digest();
  t.equal(createScramVerifier(PASSWORD, { salt: keys!.salt, iterations: keys!.iterations }).split('$')[2]!.split(':')[0], digest.toString('base64'), 'H(ClientKey) is the StoredKey');
});
