import t, { type Test } from 'tap';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ScramClient, ScramClientError } from '../../../src/auth/scram-client.js';
import { saltedPasswordCacheStats } from '../../../src/auth/scram-crypto.js';
import {
  ScramServerExchange, scramMechanisms, type ChannelBinding, type ScramServerOptions,
} from '../../../src/auth/scram-server.js';
import { createScramVerifier, parseScramVerifier, saslprep } from '../../../src/auth/verifier.js';

// RFC 7677 section 3 test vector.
const RFC = {
  password: 'pencil',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const MOCK_SECRET = Buffer.alloc(32, 7);
const ITER = 16; // cheap iterations for the many negative cases
const PASSWORD = 'correct horse';
const VERIFIER = parseScramVerifier(createScramVerifier(PASSWORD, { iterations: ITER }))!;
const CB: ChannelBinding = { type: 'tls-server-end-point', data: createHash('sha256').update('cert').digest() };

function server(over: Partial<ScramServerOptions> = {}): ScramServerExchange {
  return new ScramServerExchange({
    verifier: VERIFIER, mockSecret: MOCK_SECRET, username: 'alice', channelBinding: null, ...over,
  });
}

const hmac = (k: Buffer, d: string): Buffer => createHmac('sha256', k).update(d).digest();

// An independent client, written against RFC 5802 directly, that can send any GS2 header and binding data.
function finalFor(opts: {
  password: string; clientFirstBare: string; serverFirst: string; gs2: string; cbData?: Buffer; nonce?: string;
}): string {
  const attrs = new Map(opts.serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
  const salted = pbkdf2Sync(saslprep(opts.password), Buffer.from(attrs.get('s')!, 'base64'),
    Number(attrs.get('i')), 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash('sha256').update(clientKey).digest();
  const c = Buffer.concat([Buffer.from(opts.gs2), opts.cbData ?? Buffer.alloc(0)]).toString('base64');
  const withoutProof = `c=${c},r=${opts.nonce ?? attrs.get('r')!}`;
  const sig = hmac(storedKey, `${opts.clientFirstBare},${opts.serverFirst},${withoutProof}`);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ sig[i]!));
  return `${withoutProof},p=${proof.toString('base64')}`;
}

// Runs client-first through the server; returns the server-first text (fails the test when refused).
function first(t: Test, s: ScramServerExchange, mech: string, msg: string): string {
  const r = s.clientFirst(mech, Buffer.from(msg));
  t.ok(r.ok, `client-first accepted: ${msg}`);
  return r.ok ? r.message.toString() : '';
}

t.test('RFC 7677 vector: client side', async (t) => {
  const c = new ScramClient(RFC.password, { clientNonce: RFC.clientNonce, username: 'user' });
  t.equal(c.clientFirstMessage().toString(), RFC.clientFirst);
  t.equal(c.handleServerFirst(Buffer.from(RFC.serverFirst)).toString(), RFC.clientFinal);
  t.doesNotThrow(() => c.verifyServerFinal(Buffer.from(RFC.serverFinal)));
});

t.test('RFC 7677 vector: server side and client against server', async (t) => {
  const verifier = parseScramVerifier(createScramVerifier(RFC.password, { salt: RFC.salt, iterations: 4096 }))!;
  const s = server({ verifier, serverNonce: RFC.serverNonce });
  t.equal(first(t, s, 'SCRAM-SHA-256', RFC.clientFirst), RFC.serverFirst);
  const fin = s.clientFinal(Buffer.from(RFC.clientFinal));
  t.ok(fin.ok);
  if (fin.ok) {
    t.equal(fin.message.toString(), RFC.serverFinal);
    const salted = pbkdf2Sync('pencil', RFC.salt, 4096, 32, 'sha256');
    t.same(fin.clientKey, hmac(salted, 'Client Key'), 'recovered ClientKey');
  }
  // Our client (which sends n=*) against our server with the same nonces.
  const s2 = server({ verifier, serverNonce: RFC.serverNonce });
  const c = new ScramClient(RFC.password, { clientNonce: RFC.clientNonce });
  const sf = s2.clientFirst('SCRAM-SHA-256', c.clientFirstMessage());
  t.ok(sf.ok);
  if (!sf.ok) return;
  const f = s2.clientFinal(c.handleServerFirst(sf.message));
  t.ok(f.ok);
  if (f.ok) t.doesNotThrow(() => c.verifyServerFinal(f.message));
});

t.test('mechanisms offered', async (t) => {
  t.same(scramMechanisms(null), ['SCRAM-SHA-256']);
  t.same(scramMechanisms(CB), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
});

t.test('SCRAM-SHA-256-PLUS with tls-server-end-point', async (t) => {
  const gs2 = 'p=tls-server-end-point,,';
  const bare = 'n=,r=plusnonce';
  const run = (cbData: Buffer, gs2Sent = gs2): ReturnType<ScramServerExchange['clientFinal']> => {
    const s = server({ channelBinding: CB });
    const sf = first(t, s, 'SCRAM-SHA-256-PLUS', gs2 + bare);
    return s.clientFinal(Buffer.from(finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: gs2Sent, cbData })));
  };
  t.ok(run(CB.data).ok, 'right binding data');
  t.same(run(randomBytes(32)), { ok: false, reason: 'channel_binding_mismatch' }, 'other certificate hash');
  t.same(run(Buffer.alloc(0)), { ok: false, reason: 'channel_binding_mismatch' }, 'binding data omitted');
  t.same(run(CB.data, 'n,,'), { ok: false, reason: 'channel_binding_mismatch' }, 'c= carries another header');
  // 'n' over TLS is allowed (client without channel binding support), with c=biws.
  const s = server({ channelBinding: CB });
  const sf = first(t, s, 'SCRAM-SHA-256', 'n,,' + bare);
  t.ok(s.clientFinal(Buffer.from(finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' }))).ok);
});

t.test('GS2 header and mechanism rules', async (t) => {
  const cases: [string, ChannelBinding | null, string, string][] = [
    // [name, channel binding, mechanism, client-first] -> reason
    ['y while PLUS offered => downgrade', CB, 'SCRAM-SHA-256', 'y,,n=,r=abc'],
    ['p without TLS', null, 'SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=abc'],
    ['PLUS mechanism with n flag', CB, 'SCRAM-SHA-256-PLUS', 'n,,n=,r=abc'],
    ['PLUS mechanism with y flag', CB, 'SCRAM-SHA-256-PLUS', 'y,,n=,r=abc'],
    ['plain mechanism with p flag', CB, 'SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=abc'],
    ['PLUS mechanism without TLS', null, 'SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc'],
    ['unknown mechanism', null, 'SCRAM-SHA-1', 'n,,n=,r=abc'],
    ['mechanism case', null, 'scram-sha-256', 'n,,n=,r=abc'],
    ['tls-unique binding', CB, 'SCRAM-SHA-256-PLUS', 'p=tls-unique,,n=,r=abc'],
    ['authzid', null, 'SCRAM-SHA-256', 'n,a=bob,n=,r=abc'],
    ['authzid with PLUS', CB, 'SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,a=bob,n=,r=abc'],
    ['bad flag', null, 'SCRAM-SHA-256', 'x,,n=,r=abc'],
    ['missing header', null, 'SCRAM-SHA-256', 'n=,r=abc'],
  ];
  const expected = [
    'downgrade', 'bad_gs2_header', 'bad_gs2_header', 'bad_gs2_header', 'bad_gs2_header', 'unsupported_mechanism',
    'unsupported_mechanism', 'unsupported_mechanism', 'bad_gs2_header', 'bad_gs2_header', 'bad_gs2_header',
    'bad_gs2_header', 'bad_gs2_header',
  ];
  cases.forEach(([name, cb, mech, msg], i) => {
    t.same(server({ channelBinding: cb }).clientFirst(mech, Buffer.from(msg)), { ok: false, reason: expected[i] }, name);
  });
  t.ok(server().clientFirst('SCRAM-SHA-256', Buffer.from('y,,n=,r=abc')).ok, 'y without TLS is fine');
});

t.test('client-first syntax', async (t) => {
  const bad: [string, string, string][] = [
    ['mandatory extension', 'n,,m=ext,n=,r=abc', 'malformed'],
    ['extension after nonce', 'n,,n=,r=abc,x=1', 'malformed'],
    ['order swapped', 'n,,r=abc,n=', 'malformed'],
    ['no nonce', 'n,,n=', 'malformed'],
    ['empty nonce', 'n,,n=,r=', 'bad_nonce'],
    ['space in nonce', 'n,,n=,r=ab c', 'bad_nonce'],
    ['DEL in nonce', 'n,,n=,r=ab\x7f', 'bad_nonce'],
    ['non-ASCII nonce', 'n,,n=,r=ab\u00e9', 'bad_nonce'],
    ['comma in nonce', 'n,,n=,r=ab,cd', 'malformed'],
    ['huge nonce', 'n,,n=,r=' + 'a'.repeat(2000), 'bad_nonce'],
    ['NUL', 'n,,n=\0,r=abc', 'malformed'],
    ['empty', '', 'malformed'],
    ['oversized', 'n,,n=' + 'a'.repeat(9000) + ',r=abc', 'malformed'],
  ];
  for (const [name, msg, reason] of bad) {
    t.same(server().clientFirst('SCRAM-SHA-256', Buffer.from(msg)), { ok: false, reason }, name);
  }
  t.same(server().clientFirst('SCRAM-SHA-256', Buffer.from([0x6e, 0x2c, 0x2c, 0xff, 0xfe])),
    { ok: false, reason: 'malformed' }, 'invalid UTF-8');
  for (let i = 0; i < 50; i++) {
    const r = server().clientFirst('SCRAM-SHA-256', randomBytes(1 + (i % 40)));
    t.equal(r.ok, false);
  }
  t.ok(server().clientFirst('SCRAM-SHA-256', Buffer.from('n,,n=someone-else,r=abc')).ok, 'n= ignored');
});

t.test('client-final rules', async (t) => {
  const bare = 'n=,r=cnonce';
  const setup = (): { s: ScramServerExchange; sf: string; good: string } => {
    const s = server();
    const sf = first(t, s, 'SCRAM-SHA-256', 'n,,' + bare);
    return { s, sf, good: finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' }) };
  };
  const { s, good } = setup();
  const ok = s.clientFinal(Buffer.from(good));
  t.ok(ok.ok, 'control: good proof accepted');
  t.same(s.clientFinal(Buffer.from(good)), { ok: false, reason: 'malformed' }, 'no second final');

  const mutate: [string, (good: string, sf: string) => string, string][] = [
    ['tampered proof', (g) => g.slice(0, -5) + (g.at(-5) === 'A' ? 'B' : 'A') + g.slice(-4), 'bad_proof'],
    ['proof from another password', (_g, sf) => finalFor({ password: 'wrong', clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' }), 'bad_proof'],
    ['c= for y', (g) => g.replace('c=biws', 'c=eSws'), 'channel_binding_mismatch'],
    ['c= non-canonical', (g) => g.replace('c=biws', 'c=biws='), 'channel_binding_mismatch'],
    ['wrong nonce', (_g, sf) => finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,', nonce: 'cnonceXYZ' }), 'bad_nonce'],
    ['client nonce only', (_g, sf) => finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,', nonce: 'cnonce' }), 'bad_nonce'],
    ['nonce with suffix', (_g, sf) => finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,', nonce: sf.split(',')[0]!.slice(2) + 'x' }), 'bad_nonce'],
    ['extension before proof', (g) => g.replace(',p=', ',x=1,p='), 'malformed'],
    ['attribute order', (g) => { const [c, r, p] = g.split(','); return [r, c, p].join(','); }, 'malformed'],
    ['missing proof', (g) => g.slice(0, g.indexOf(',p=')), 'malformed'],
    ['short proof', (g) => g.slice(0, g.indexOf(',p=')) + ',p=' + Buffer.alloc(31).toString('base64'), 'malformed'],
    ['proof not base64', (g) => g.slice(0, -3) + '!!=', 'malformed'],
    ['garbage', () => 'hello', 'malformed'],
  ];
  for (const [name, f, reason] of mutate) {
    const { s: s2, sf, good: g } = setup();
    t.same(s2.clientFinal(Buffer.from(f(g, sf))), { ok: false, reason }, name);
    t.same(s2.clientFinal(Buffer.from(g)), { ok: false, reason: 'malformed' }, `${name}: no retry after failure`);
  }
  t.same(server().clientFinal(Buffer.from(good)), { ok: false, reason: 'malformed' }, 'final before first');
  const twice = server();
  first(t, twice, 'SCRAM-SHA-256', 'n,,' + bare);
  t.same(twice.clientFirst('SCRAM-SHA-256', Buffer.from('n,,' + bare)), { ok: false, reason: 'malformed' }, 'first twice');
});

t.test('unknown user: same shapes, stable salt, fails only at the proof', async (t) => {
  const real = parseScramVerifier(createScramVerifier(PASSWORD))!; // default 4096 iterations, 16-byte salt
  const shape = /^r=cn[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]{22}==,i=4096$/;
  const bare = 'n=,r=cn';
  const exchange = (verifier: typeof real | null, username: string, secret = MOCK_SECRET): { sf: string; reason: string } => {
    const s = server({ verifier, username, mockSecret: secret });
    const sf = first(t, s, 'SCRAM-SHA-256', 'n,,' + bare);
    const fin = s.clientFinal(Buffer.from(finalFor({ password: 'guess', clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' })));
    return { sf, reason: fin.ok ? 'ok' : fin.reason };
  };
  const known = exchange(real, 'alice');
  const ghost1 = exchange(null, 'ghost');
  const ghost2 = exchange(null, 'ghost');
  const other = exchange(null, 'phantom');
  const otherSecret = exchange(null, 'ghost', Buffer.alloc(32, 9));
  t.match(known.sf, shape);
  t.match(ghost1.sf, shape);
  t.equal(known.reason, 'bad_proof');
  t.equal(ghost1.reason, 'unknown_user');
  const salt = (sf: string): string => sf.split(',')[1]!;
  t.equal(salt(ghost1.sf), salt(ghost2.sf), 'stable salt for one unknown name');
  t.not(salt(ghost1.sf), salt(other.sf), 'different names, different salts');
  t.not(salt(ghost1.sf), salt(otherSecret.sf), 'salt depends on the secret');
  t.not(ghost1.sf.split(',')[0], ghost2.sf.split(',')[0], 'fresh server nonce each time');

  // Earlier failures are reported the same way for known and unknown users.
  for (const verifier of [real, null]) {
    const s = server({ verifier, username: 'ghost' });
    const sf = first(t, s, 'SCRAM-SHA-256', 'n,,' + bare);
    const g = finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' });
    t.same(s.clientFinal(Buffer.from(g.replace('c=biws', 'c=eSws'))), { ok: false, reason: 'channel_binding_mismatch' });
  }
  // Even the right password of someone else cannot pass the mock.
  const s = server({ verifier: null, username: 'ghost' });
  const sf = first(t, s, 'SCRAM-SHA-256', 'n,,' + bare);
  t.same(s.clientFinal(Buffer.from(finalFor({ password: PASSWORD, clientFirstBare: bare, serverFirst: sf, gs2: 'n,,' }))),
    { ok: false, reason: 'unknown_user' });
  t.throws(() => server({ mockSecret: Buffer.alloc(8) }), 'short mock secret refused');
});

t.test('client against server with random passwords (SASLprep)', async (t) => {
  const alphabet = ['a', 'Z', '9', ' ', '\u00e9', 'e\u0301', '\ufb01', '\u00a0', '\u00ad', '\u05d0', '\u4e2d', '\u{1f600}', '\u0007', '=', ','];
  for (let n = 0; n < 25; n++) {
    let pw = '';
    const len = 1 + (n % 12);
    for (let i = 0; i < len; i++) pw += alphabet[randomBytes(1)[0]! % alphabet.length];
    const verifier = parseScramVerifier(createScramVerifier(pw, { iterations: ITER }))!;
    const s = server({ verifier });
    const c = new ScramClient(pw);
    const sf = s.clientFirst('SCRAM-SHA-256', c.clientFirstMessage());
    if (!sf.ok) { t.fail(`first refused for ${JSON.stringify(pw)}`); continue; }
    const fin = s.clientFinal(c.handleServerFirst(sf.message));
    t.ok(fin.ok, `login with ${JSON.stringify(pw)}`);
    if (fin.ok) c.verifyServerFinal(fin.message);
  }
  // Equivalent spellings log in: the verifier was made from the ligature, the client types "fi".
  const verifier = parseScramVerifier(createScramVerifier('\ufb01x\u00e9', { iterations: ITER }))!;
  const s = server({ verifier });
  const c = new ScramClient('fixe\u0301');
  const sf = s.clientFirst('SCRAM-SHA-256', c.clientFirstMessage());
  t.ok(sf.ok && s.clientFinal(c.handleServerFirst(sf.message)).ok, 'NFKC-equivalent password accepted');
});

t.test('client refuses bad server messages', async (t) => {
  const reason = (f: () => void): string => {
    try { f(); return 'none'; } catch (e) { return e instanceof ScramClientError ? e.reason : 'other'; }
  };
  const sfOf = (rest: string): Buffer => Buffer.from(rest);
  const fresh = (): ScramClient => { const c = new ScramClient('pw', { clientNonce: 'abc' }); c.clientFirstMessage(); return c; };
  const salt = Buffer.alloc(16, 1).toString('base64');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=xyz123,s=${salt},i=16`))), 'bad_nonce', 'nonce not extending ours');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abc,s=${salt},i=16`))), 'bad_nonce', 'no server part');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abc d,s=${salt},i=16`))), 'bad_nonce', 'space in nonce');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abcd,s=${salt},i=0`))), 'bad_iterations');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abcd,s=${salt},i=10000001`))), 'bad_iterations');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abcd,s=${salt},i=-5`))), 'bad_iterations');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abcd,s=,i=16`))), 'malformed', 'empty salt');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`m=x,r=abcd,s=${salt},i=16`))), 'malformed', 'extension');
  t.equal(reason(() => fresh().handleServerFirst(sfOf(`r=abcd,s=${salt},i=16,x=1`))), 'malformed', 'trailing attr');
  t.equal(reason(() => fresh().handleServerFirst(sfOf('garbage'))), 'malformed');
  t.equal(reason(() => new ScramClient('pw').handleServerFirst(sfOf(`r=abcd,s=${salt},i=16`))), 'out_of_order');

  const ready = (): ScramClient => { const c = fresh(); c.handleServerFirst(sfOf(`r=abcd,s=${salt},i=1`)); return c; };
  t.equal(reason(() => ready().verifyServerFinal(Buffer.from('e=invalid-proof'))), 'server_error');
  t.equal(reason(() => ready().verifyServerFinal(Buffer.from('v=' + Buffer.alloc(32).toString('base64')))), 'bad_server_signature');
  t.equal(reason(() => ready().verifyServerFinal(Buffer.from('v=' + Buffer.alloc(31).toString('base64')))), 'bad_server_signature');
  t.equal(reason(() => ready().verifyServerFinal(Buffer.from('x=1'))), 'malformed');
  t.equal(reason(() => fresh().verifyServerFinal(Buffer.from('v=AAAA'))), 'out_of_order');
  t.throws(() => new ScramClient('pw', { clientNonce: 'a,b' }));
});

t.test('SaltedPassword cache avoids repeated PBKDF2', async (t) => {
  const verifier = parseScramVerifier(createScramVerifier('cache-me', { iterations: 4096 }))!;
  const login = (): void => {
    const s = server({ verifier });
    const c = new ScramClient('cache-me');
    const sf = s.clientFirst('SCRAM-SHA-256', c.clientFirstMessage());
    if (!sf.ok) throw new Error('refused');
    const fin = s.clientFinal(c.handleServerFirst(sf.message));
    if (!fin.ok) throw new Error('refused');
    c.verifyServerFinal(fin.message);
  };
  const before = saltedPasswordCacheStats();
  login();
  login();
  login();
  const after = saltedPasswordCacheStats();
  t.equal(after.misses - before.misses, 1, 'one PBKDF2');
  t.equal(after.hits - before.hits, 2, 'two cache hits');
  t.ok(after.size <= after.max);
});
