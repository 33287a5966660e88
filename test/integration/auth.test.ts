// Authentication in depth, end to end against a real PostgreSQL: SCRAM-SHA-256-PLUS with psql and raw
// exchanges (downgrade and tampering), client certificates with pg, verifiers copied from pg_authid, SCRAM
// pass-through upstream, and upstream secrets re-read on reload. Every refusal must be the one FATAL 28P01.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { X509Certificate, randomBytes } from 'node:crypto';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { buildSASLInitialResponse, buildSASLResponse, buildStartup } from '../helpers/frontend-builders.js';
import { connectTls, errorFields, readUntil, type RawMessage } from '../helpers/raw-client.js';
import { tlsServerEndPoint } from '../../src/auth/tls-binding.js';
import { clientKeyOf, hmac, saltedPassword, sha256, xor } from '../../src/auth/scram-crypto.js';
import { createScramVerifier, parseScramVerifier } from '../../src/auth/verifier.js';
import { loadConfig } from '../../src/config/load.js';

const run = promisify(execFile);
const server = await sharedPostgres(t);
const pki = server.pki;
// Many deliberate failures from one address: keep the lockout (another feature) out of the way.
const NO_LOCKOUT = { limits: { authFailures: { max: 100_000, window: '1m', lockout: '1s' } } };
const proxy = await startTestProxy(t, { pg: server, overrides: NO_LOCKOUT });
const caPem = fs.readFileSync(pki.ca.certFile, 'utf8');
const AUTH_FAILED = (user: string): string => `password authentication failed for user "${user}"`;

/** auth.failed reasons logged since `mark` (a count of log lines). */
function failuresSince(p: TestProxy, mark: number): string[] {
  return p.logs().slice(mark).filter((l) => l.event === 'auth.failed').map((l) => l.reason as string);
}

async function psql(conninfo: string, password: string): Promise<{ ok: true; out: string } | { ok: false; err: string }> {
  try {
    const { stdout } = await run('psql', [conninfo, '-At', '-c', 'select current_user'], { env: { ...process.env, PGPASSWORD: password } });
    return { ok: true, out: stdout.trim() };
  } catch (err) {
    return { ok: false, err: String((err as { stderr?: string }).stderr ?? err) };
  }
}

t.test('SCRAM-SHA-256-PLUS: psql with channel_binding=require', async (t) => {
  const ok = await psql(proxy.conninfo('admin', { channel_binding: 'require' }), proxy.passwords.admin!);
  t.same(ok, { ok: true, out: 'yb_admin' });

  // The same client against a server that does not offer PLUS must refuse to go on.
  const noPlus = await startTestProxy(t, { pg: server, runOptions: { offerChannelBinding: false } });
  const refused = await psql(noPlus.conninfo('admin', { channel_binding: 'require' }), noPlus.passwords.admin!);
  t.equal(refused.ok, false);
  t.match(refused.ok ? '' : refused.err, /channel binding/);
  // …while a client that merely prefers binding still logs in there (the server works, only PLUS is gone).
  t.same(await psql(noPlus.conninfo('admin', { channel_binding: 'prefer' }), noPlus.passwords.admin!), { ok: true, out: 'yb_admin' });
});

type RawScram = {
  mechanism: string;
  gs2: string; // e.g. "p=tls-server-end-point,,", "n,,", "y,,"
  cbData?: Buffer; // appended to the GS2 header in c= (binding data)
  user?: string;
  password?: string;
  tamper?: 'nonce' | 'proof' | 'c-biws';
  plaintext?: boolean;
};
type RawResult = { mechanisms: string[]; steps: string[]; error: Record<string, string> | null };

const serverCertDer = new X509Certificate(fs.readFileSync(pki.server.certFile)).raw;
const otherCertDer = new X509Certificate(fs.readFileSync(pki.otherServer.certFile)).raw;
const GOOD_CB = tlsServerEndPoint(serverCertDer)!;

/** A SCRAM client written here against RFC 5802, so it can send any header, binding or proof. */
async function rawScram(port: number, o: RawScram): Promise<RawResult> {
  const user = o.user ?? 'admin';
  const password = o.password ?? proxy.passwords.admin!;
  const s: net.Socket = o.plaintext ? await new Promise((resolve) => { const c = net.connect({ host: '127.0.0.1', port }, () => resolve(c)); }) : await connectTls(port, pki.ca.certFile);
  t.teardown(() => s.destroy());
  s.write(buildStartup({ user, database: 'yugabyte' }));
  const steps: string[] = [];
  const label = (m: RawMessage): string => (m.code === 'R' ? `R${m.body.readInt32BE(0)}` : m.code);
  const sasl = (await readUntil(s, 'R'))[0]!;
  const mechanisms = sasl.body.subarray(4).toString('utf8').split('\0').filter(Boolean);
  steps.push(label(sasl));
  const bare = `n=,r=${randomBytes(12).toString('base64')}`;
  s.write(buildSASLInitialResponse(o.mechanism, o.gs2 + bare));
  const second = await readUntil(s, 'R');
  steps.push(...second.map(label));
  const cont = second.find((m) => m.code === 'R');
  if (!cont) {
    const e = second.find((m) => m.code === 'E');
    return { mechanisms, steps, error: e ? errorFields(e.body) : null };
  }
  const serverFirst = cont.body.subarray(4).toString('utf8');
  const attrs = new Map(serverFirst.split(',').map((a) => [a[0], a.slice(2)]));
  let nonce = attrs.get('r')!;
  if (o.tamper === 'nonce') nonce += 'x';
  const cbind = o.tamper === 'c-biws' ? Buffer.from('n,,') : Buffer.concat([Buffer.from(o.gs2), o.cbData ?? Buffer.alloc(0)]);
  const withoutProof = `c=${cbind.toString('base64')},r=${nonce}`;
  const salted = saltedPassword(password, Buffer.from(attrs.get('s')!, 'base64'), Number(attrs.get('i')));
  const clientKey = clientKeyOf(salted);
  const proof = xor(clientKey, hmac(sha256(clientKey), `${bare},${serverFirst},${withoutProof}`));
  if (o.tamper === 'proof') proof[0] = proof[0]! ^ 1;
  s.write(buildSASLResponse(`${withoutProof},p=${proof.toString('base64')}`));
  const third = await readUntil(s, 'Z');
  steps.push(...third.map(label).filter((c) => c !== 'S')); // ParameterStatus count varies with the server
  const e = third.find((m) => m.code === 'E');
  return { mechanisms, steps, error: e ? errorFields(e.body) : null };
}

const OK_STEPS = ['R10', 'R11', 'R12', 'R0', 'K', 'Z'];
const FAIL_AT_FINAL = ['R10', 'R11', 'E'];
const FAIL_AT_FIRST = ['R10', 'E'];
const PLUS = 'SCRAM-SHA-256-PLUS';
const PLAIN = 'SCRAM-SHA-256';
const EP = 'p=tls-server-end-point,,';

t.test('raw SCRAM over TLS: controls succeed, every downgrade and tampering is the same FATAL 28P01', async (t) => {
  const ok = await rawScram(proxy.port, { mechanism: PLUS, gs2: EP, cbData: GOOD_CB });
  t.same(ok.mechanisms, [PLUS, PLAIN], 'PLUS offered first over TLS');
  t.same(ok.steps, OK_STEPS, 'PLUS with the right tls-server-end-point binding logs in');
  t.same((await rawScram(proxy.port, { mechanism: PLAIN, gs2: 'n,,' })).steps, OK_STEPS, 'a client without binding support (n) may use plain SCRAM');

  const cases: Array<[string, RawScram, string, string[]]> = [
    ['y while PLUS was offered (downgrade)', { mechanism: PLAIN, gs2: 'y,,' }, 'downgrade', FAIL_AT_FIRST],
    ['PLUS with flag n', { mechanism: PLUS, gs2: 'n,,' }, 'bad_gs2_header', FAIL_AT_FIRST],
    ['PLUS with flag y', { mechanism: PLUS, gs2: 'y,,' }, 'bad_gs2_header', FAIL_AT_FIRST],
    ['p with plain SCRAM-SHA-256', { mechanism: PLAIN, gs2: EP, cbData: GOOD_CB }, 'bad_gs2_header', FAIL_AT_FIRST],
    ['PLUS with binding type tls-unique', { mechanism: PLUS, gs2: 'p=tls-unique,,', cbData: GOOD_CB }, 'bad_gs2_header', FAIL_AT_FIRST],
    ['PLUS with an authzid', { mechanism: PLUS, gs2: 'p=tls-server-end-point,a=yb_admin,', cbData: GOOD_CB }, 'bad_gs2_header', FAIL_AT_FIRST],
    ['PLUS with the binding of another certificate (MITM)', { mechanism: PLUS, gs2: EP, cbData: tlsServerEndPoint(otherCertDer)! }, 'channel_binding_mismatch', FAIL_AT_FINAL],
    ['PLUS with empty binding data', { mechanism: PLUS, gs2: EP }, 'channel_binding_mismatch', FAIL_AT_FINAL],
    ['PLUS with c=biws in the final message', { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, tamper: 'c-biws' }, 'channel_binding_mismatch', FAIL_AT_FINAL],
    ['tampered nonce', { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, tamper: 'nonce' }, 'bad_nonce', FAIL_AT_FINAL],
    ['tampered proof', { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, tamper: 'proof' }, 'bad_proof', FAIL_AT_FINAL],
    ['wrong password', { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, password: 'nope' }, 'bad_proof', FAIL_AT_FINAL],
    ['unknown user', { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, user: 'nobody' }, 'unknown_user', FAIL_AT_FINAL],
  ];
  for (const [name, o, reason, steps] of cases) {
    const mark = proxy.logs().length;
    const got = await rawScram(proxy.port, o);
    t.same(got.steps, steps, `${name}: steps`);
    t.same(got.error && { S: got.error.S, C: got.error.C, M: got.error.M }, { S: 'FATAL', C: '28P01', M: AUTH_FAILED(o.user ?? 'admin') }, `${name}: uniform FATAL 28P01`);
    t.same(failuresSince(proxy, mark), [reason], `${name}: logged reason`);
  }
});

t.test('raw SCRAM without TLS: PLUS is not offered and p is refused', async (t) => {
  const plain = await startTestProxy(t, { pg: server, users: [{ name: 'admin', roles: ['dba'], upstream: { user: 'yb_admin' } }], overrides: { ...NO_LOCKOUT, tls: { mode: 'optional' } } });
  const password = plain.passwords.admin!;
  const ok = await rawScram(plain.port, { mechanism: PLAIN, gs2: 'y,,', plaintext: true, password });
  t.same(ok.mechanisms, [PLAIN], 'only SCRAM-SHA-256 without TLS');
  t.same(ok.steps, OK_STEPS, 'y is honest here: the server really offered no PLUS');
  for (const [o, reason] of [
    [{ mechanism: PLUS, gs2: EP, cbData: GOOD_CB }, 'unsupported_mechanism'],
    [{ mechanism: PLAIN, gs2: EP, cbData: GOOD_CB }, 'bad_gs2_header'],
  ] as Array<[RawScram, string]>) {
    const mark = plain.logs().length;
    const got = await rawScram(plain.port, { ...o, plaintext: true, password });
    t.same(got.steps, FAIL_AT_FIRST);
    t.equal(got.error?.C, '28P01');
    t.equal(got.error?.M, AUTH_FAILED('admin'));
    t.same(failuresSince(plain, mark), [reason]);
  }
});

type CertName = keyof typeof pki.clients | 'none';

async function pgLogin(p: TestProxy, user: string, cert: CertName, password?: string): Promise<{ ok: true; user: string } | { ok: false; code?: string; message: string }> {
  const ssl: Record<string, string> = { ca: caPem };
  if (cert !== 'none') {
    ssl.cert = fs.readFileSync(pki.clients[cert].certFile, 'utf8');
    ssl.key = fs.readFileSync(pki.clients[cert].keyFile, 'utf8');
  }
  const client = new pg.Client({ ...p.clientConfig(user), password, ssl });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query('select current_user as u');
    await client.end();
    return { ok: true, user: rows[0].u };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { ok: false, code: e.code, message: e.message };
  }
}

t.test('auth: cert — a certificate alone, CN = user name; every failure is the one 28P01', async (t) => {
  t.equal(pki.goodCn, 'certuser');
  t.same(await pgLogin(proxy, 'certuser', 'good'), { ok: true, user: 'app_ro' }, 'right CN logs in, mapped upstream');
  const denied = { ok: false, code: '28P01', message: AUTH_FAILED('certuser') };
  const asUnknown = (r: Awaited<ReturnType<typeof pgLogin>>): unknown => (r.ok ? r : { ...r, message: r.message.replace('nobody', 'certuser') });
  const cases: Array<[CertName, string]> = [
    ['wrongCn', 'certificate_name_mismatch'],
    ['expired', 'certificate_expired'],
    ['unknownCa', 'certificate_untrusted'],
    ['none', 'no_client_certificate'],
  ];
  for (const [cert, reason] of cases) {
    const mark = proxy.logs().length;
    // A password does not stand in for the certificate: refused like a wrong password.
    t.same(await pgLogin(proxy, 'certuser', cert, 'anything'), denied, `${cert}: refused like a wrong password`);
    t.same(failuresSince(proxy, mark), [reason], `${cert}: log says ${reason}`);
    // Without a password, exactly what an unknown user gets (a password request): the name's kind is not revealed.
    t.same(await pgLogin(proxy, 'certuser', cert), asUnknown(await pgLogin(proxy, 'nobody', cert)), `${cert}: same as an unknown user`);
  }
  // The raw exchange has the unknown user's shape too: SASL, SASLContinue, then 28P01.
  const certShape = await rawScram(proxy.port, { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, user: 'certuser', password: 'x' });
  const unknownShape = await rawScram(proxy.port, { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, user: 'nobody', password: 'x' });
  t.same(certShape.steps, unknownShape.steps, 'a certificate user without a certificate looks like an unknown user');
  // The good certificate names certuser only: it does not log in as another user.
  t.same(await pgLogin(proxy, 'admin', 'good', 'wrong'), { ok: false, code: '28P01', message: AUTH_FAILED('admin') });
  const res = await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`);
  const text = await res.text();
  t.match(text, /ysqlgate_auth_attempts_total\{method="cert",result="success"\} [1-9]/);
  t.match(text, /ysqlgate_auth_attempts_total\{method="cert",result="failure"\} [1-9]/);
});

t.test('scram + clientCertificate: required — a verified certificate naming the user AND the password', async (t) => {
  const p = await startTestProxy(t, {
    pg: server, overrides: NO_LOCKOUT,
    users: [{ name: 'certuser', roles: ['reader'], clientCertificate: 'required', password: 'pw-and-cert', upstream: { user: 'app_ro' } }],
  });
  t.same(await pgLogin(p, 'certuser', 'good', 'pw-and-cert'), { ok: true, user: 'app_ro' });
  const denied = { ok: false, code: '28P01', message: AUTH_FAILED('certuser') };
  const cases: Array<[CertName, string, string]> = [
    ['good', 'wrong-password', 'bad_proof'],
    ['wrongCn', 'pw-and-cert', 'certificate_name_mismatch'],
    ['expired', 'pw-and-cert', 'certificate_expired'],
    ['unknownCa', 'pw-and-cert', 'certificate_untrusted'],
    ['none', 'pw-and-cert', 'no_client_certificate'],
  ];
  for (const [cert, password, reason] of cases) {
    const mark = p.logs().length;
    t.same(await pgLogin(p, 'certuser', cert, password), denied, `${cert}/${password}: refused`);
    t.same(failuresSince(p, mark), [reason], `${cert}/${password}: log says ${reason}`);
  }
  // The certificate failure ends the exchange where a wrong password does: no SASLFinal that would confirm the password.
  const shape = async (password: string): Promise<string[]> => (await rawScram(p.port, { mechanism: PLUS, gs2: EP, cbData: GOOD_CB, user: 'certuser', password })).steps;
  t.same(await shape('pw-and-cert'), FAIL_AT_FINAL, 'right password, no certificate');
  t.same(await shape('wrong-password'), FAIL_AT_FINAL, 'wrong password, no certificate');
});

const created: string[] = [];
t.teardown(async () => { for (const r of created) await server.query(`DROP ROLE IF EXISTS ${r}`).catch(() => undefined); });

async function createRole(name: string, password: string): Promise<string> {
  await server.query(`DROP ROLE IF EXISTS ${name}`);
  await server.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}'`);
  created.push(name);
  const [row] = await server.query(`SELECT rolpassword FROM pg_authid WHERE rolname = '${name}'`);
  return row.rolpassword as string;
}

const setVerifier = (name: string, verifier: string) => (doc: Record<string, any>): void => {
  doc.users.find((u: { name: string }) => u.name === name).password = verifier;
};

t.test('a verifier copied from pg_authid.rolpassword works unchanged; hash-password output is interchangeable', async (t) => {
  const password = 'Ysql-Verifier-Pw-1';
  const verifier = await createRole('ysqlgate_copied', password);
  t.match(verifier, /^SCRAM-SHA-256\$4096:/);
  const parsed = parseScramVerifier(verifier)!;
  t.ok(parsed);
  t.equal(createScramVerifier(password, { salt: parsed.salt, iterations: parsed.iterations }), verifier, 'same bytes as PostgreSQL');
  const p = await startTestProxy(t, {
    pg: server, users: [{ name: 'copied', roles: ['reader'], upstream: { user: 'app_ro' } }], mutate: setVerifier('copied', verifier),
  });
  t.same(await pgLogin(p, 'copied', 'none', password), { ok: true, user: 'app_ro' });
  t.same(await pgLogin(p, 'copied', 'none', 'not-it'), { ok: false, code: '28P01', message: AUTH_FAILED('copied') });
  t.same(await psql(p.conninfo('copied', { channel_binding: 'require' }), password), { ok: true, out: 'app_ro' }, 'and with PLUS');
});

t.test('SCRAM pass-through: upstream session runs as the same role, no upstream password in the config', async (t) => {
  const password = 'Pass-Through-Pw-2';
  const verifier = await createRole('ysqlgate_pt', password);
  const p = await startTestProxy(t, {
    pg: server, overrides: NO_LOCKOUT,
    users: [{ name: 'pt', roles: ['dba'], upstream: { user: 'ysqlgate_pt', password: 'passthrough' } }],
    mutate: setVerifier('pt', verifier),
  });
  t.same(p.config.users[0]!.upstream.password, { kind: 'passthrough' });
  t.notOk(p.yaml.includes(password), 'the password is nowhere in the config');
  t.notMatch(p.yaml, /env:|file:/, 'no secret reference either');
  const client = new pg.Client({ ...p.clientConfig('pt'), password });
  await client.connect();
  t.teardown(() => client.end());
  const { rows } = await client.query('select current_user as cu, session_user as su, (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl');
  t.same(rows, [{ cu: 'ysqlgate_pt', su: 'ysqlgate_pt', ssl: true }]);
  t.same(await psql(p.conninfo('pt', { channel_binding: 'require' }), password), { ok: true, out: 'ysqlgate_pt' }, 'PLUS towards the proxy, pass-through upstream');

  // A wrong password never reaches the upstream.
  t.same(await pgLogin(p, 'pt', 'none', 'wrong'), { ok: false, code: '28P01', message: AUTH_FAILED('pt') });

  // YSQL's verifier changes (same password, new salt): the recovered key no longer fits, login fails with 08006.
  await server.query(`ALTER ROLE ysqlgate_pt PASSWORD '${password}'`);
  const mark = p.logs().length;
  const r = await pgLogin(p, 'pt', 'none', password);
  t.same(r, { ok: false, code: '08006', message: 'no YSQL endpoint available' });
  const failed = p.logs().slice(mark).find((l) => l.event === 'upstream.login_failed');
  t.equal(failed?.reason, 'auth_failed');
});

t.test('pass-through with a verifier that differs only in keys (same salt) is refused by the upstream', async (t) => {
  const verifier = await createRole('ysqlgate_pt2', 'Upstream-Pw-3');
  const parsed = parseScramVerifier(verifier)!;
  // Same salt and iterations, other password: the proxy accepts the client, the upstream refuses the key.
  const local = createScramVerifier('Proxy-Pw-4', { salt: parsed.salt, iterations: parsed.iterations });
  const p = await startTestProxy(t, {
    pg: server, overrides: NO_LOCKOUT,
    users: [{ name: 'pt2', roles: ['dba'], upstream: { user: 'ysqlgate_pt2', password: 'passthrough' } }],
    mutate: setVerifier('pt2', local),
  });
  const mark = p.logs().length;
  t.same(await pgLogin(p, 'pt2', 'none', 'Proxy-Pw-4'), { ok: false, code: '08006', message: 'no YSQL endpoint available' });
  const failed = p.logs().slice(mark).find((l) => l.event === 'upstream.login_failed');
  t.equal(failed?.reason, 'auth_failed');
  t.equal(failed?.sqlstate, '28P01');
});

t.test('upstream { file } secrets are re-read on reload; a missing one is a config error naming the key', async (t) => {
  const secretFile = path.join(fs.mkdtempSync('/tmp/ysqlgate-secret-'), 'admin');
  t.teardown(() => fs.rmSync(path.dirname(secretFile), { recursive: true, force: true }));
  fs.writeFileSync(secretFile, 'stale-password\n');
  const p = await startTestProxy(t, {
    pg: server, overrides: NO_LOCKOUT,
    users: [{ name: 'admin', roles: ['dba'], upstream: { user: 'yb_admin' } }],
    mutate: (doc) => { doc.users[0].upstream.password = { file: secretFile }; },
  });
  const login = (): Promise<unknown> => pgLogin(p, 'admin', 'none', p.passwords.admin);
  t.same(await login(), { ok: false, code: '08006', message: 'no YSQL endpoint available' }, 'stale secret');
  fs.writeFileSync(secretFile, `${server.upstream.yb_admin}\n`);
  t.same(await login(), { ok: false, code: '08006', message: 'no YSQL endpoint available' }, 'not before a reload');
  p.running.reload(loadConfig(p.configFile));
  t.same(await login(), { ok: true, user: 'yb_admin' }, 'rotated secret used after reload');
  fs.rmSync(secretFile);
  const problems = (() => { try { loadConfig(p.configFile); return null; } catch (err) { return (err as { problems?: unknown }).problems; } })();
  t.same(problems, [{ path: 'users[0].upstream.password', message: `cannot read secret file ${secretFile}: ENOENT` }]);
  t.same(await login(), { ok: true, user: 'yb_admin' }, 'a rejected reload keeps the old secret');
});
