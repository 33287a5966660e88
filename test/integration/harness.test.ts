// The test harness itself: throwaway PostgreSQL (start/query/TLS/stop/kill), seeded roles, and the test PKI.
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';
import { ensureDevCertificates, issueClientCertificate } from '../../src/demo/certs.js';
import { startPostgres } from '../../src/demo/postgres.js';
import { markOwner, sweepStale } from '../../src/demo/pg-process.js';
import { sharedPostgres } from '../helpers/pg.js';
import { freePort } from '../helpers/ports.js';
import { testPki } from '../helpers/pki.js';
import { buildTestConfigDoc } from '../helpers/proxy.js';
import { parseConfig } from '../../src/config/load.js';
import { stringify } from 'yaml';

const run = promisify(execFile);

async function connect(cfg: pg.ClientConfig): Promise<pg.Client> {
  const c = new pg.Client(cfg);
  await c.connect();
  return c;
}

async function opensslVerify(caFile: string, certFile: string): Promise<boolean> {
  try {
    await run('openssl', ['verify', '-CAfile', caFile, certFile]);
    return true;
  } catch {
    return false;
  }
}

t.test('test PKI: chains, names, expiry and key modes', async (t) => {
  const pki = await testPki();
  t.ok(await opensslVerify(pki.ca.certFile, pki.server.certFile), 'server cert chains to the CA');
  t.ok(await opensslVerify(pki.ca.certFile, pki.clients.good.certFile), 'good client cert');
  t.ok(await opensslVerify(pki.ca.certFile, pki.clients.wrongCn.certFile), 'wrong-CN cert still chains');
  t.notOk(await opensslVerify(pki.ca.certFile, pki.clients.expired.certFile), 'expired cert fails');
  t.notOk(await opensslVerify(pki.ca.certFile, pki.clients.unknownCa.certFile), 'unknown-CA client cert fails');
  t.notOk(await opensslVerify(pki.ca.certFile, pki.otherServer.certFile), 'other server fails against our CA');
  t.ok(await opensslVerify(pki.otherCa.certFile, pki.otherServer.certFile), 'other server chains to other CA');
  const text = (await run('openssl', ['x509', '-in', pki.server.certFile, '-noout', '-text'])).stdout;
  t.match(text, /DNS:localhost/);
  t.match(text, /IP Address:127\.0\.0\.1/);
  t.match(text, /prime256v1|P-256/);
  const subj = async (f: string): Promise<string> => (await run('openssl', ['x509', '-in', f, '-noout', '-subject'])).stdout;
  t.match(await subj(pki.clients.good.certFile), /CN ?= ?certuser\b/);
  t.notMatch(await subj(pki.clients.wrongCn.certFile), /CN ?= ?certuser\s*$/m);
  for (const pair of [pki.ca, pki.server, pki.otherCa, pki.clients.good, pki.clients.expired]) {
    t.equal(fs.statSync(pair.keyFile).mode & 0o777, 0o600, `${path.basename(pair.keyFile)} is 0600`);
  }
});

t.test('ensureDevCertificates creates only what is missing', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-devcerts-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = await ensureDevCertificates(dir);
  const before = fs.readFileSync(first.serverCert, 'utf8');
  const again = await ensureDevCertificates(dir);
  t.equal(fs.readFileSync(again.serverCert, 'utf8'), before, 'second call keeps the certificates');
  fs.rmSync(first.serverCert);
  await ensureDevCertificates(dir);
  t.ok(await opensslVerify(first.caCert, first.serverCert), 'a missing server cert is reissued by the same CA');
  const client = await issueClientCertificate(dir, 'alice');
  t.equal(path.basename(client.certFile), 'client-alice.crt');
  t.ok(await opensslVerify(first.caCert, client.certFile));
});

t.test('shared PostgreSQL: query, seeded roles, TLS verify-full, statement log', async (t) => {
  const server = await sharedPostgres(t);
  t.same(await server.query('SELECT 1 AS x'), [{ x: 1 }]);
  const pki = server.pki;
  const ca = fs.readFileSync(pki.ca.certFile, 'utf8');
  const base = { host: '127.0.0.1', port: server.port, database: 'yugabyte' };

  const ro = await connect({ ...base, user: 'app_ro', password: server.upstream.app_ro, ssl: { ca } });
  t.teardown(() => ro.end());
  const ssl = await ro.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  t.equal(ssl.rows[0].ssl, true, 'TLS with the test server cert, verified against the test CA');
  t.equal((await ro.query('SELECT count(*)::int AS n FROM public.accounts')).rows[0].n, 3);
  await t.rejects(ro.query("INSERT INTO public.accounts VALUES (9, 'x', 1)"), { code: '42501' }, 'app_ro has no INSERT grant');

  await t.rejects(connect({ ...base, user: 'app_ro', password: server.upstream.app_ro, ssl: { ca: fs.readFileSync(pki.otherCa.certFile, 'utf8') } }),
    /certificate|self.signed|verify/i, 'verify against an unrelated CA fails');
  await t.rejects(connect({ ...base, user: 'app_ro', password: 'wrong', ssl: { ca } }), { code: '28P01' });

  const { stdout } = await run('psql', [`host=127.0.0.1 port=${server.port} dbname=yugabyte user=yb_admin sslmode=verify-full sslrootcert=${pki.ca.certFile}`,
    '-Atc', 'select current_user, 40 + 2'], { env: { ...process.env, PGPASSWORD: server.upstream.yb_admin } });
  t.equal(stdout.trim(), 'yb_admin|42', 'psql verify-full works with the test CA');
  t.match(server.readLog(), /statement: select current_user, 40 \+ 2/, 'log_statement=all reaches readLog()');
});

t.test('own instance: custom hba, kill() drops clients, restart(), stop() removes data', async (t) => {
  const pki = await testPki();
  const port = await freePort();
  const server = await startPostgres({
    port, ssl: { certFile: pki.server.certFile, keyFile: pki.server.keyFile },
    hba: ['hostssl all all 127.0.0.1/32 scram-sha-256'],
  });
  t.teardown(() => server.stop());
  t.equal(server.port, port);
  const base = { host: '127.0.0.1', port, user: 'postgres', password: server.superuserPassword, database: 'postgres' };
  await t.rejects(connect({ ...base, ssl: false }), /pg_hba|no encryption/, 'hostssl-only hba refuses plaintext');
  const c = await connect({ ...base, ssl: { ca: fs.readFileSync(pki.ca.certFile, 'utf8') } });
  c.on('error', () => undefined);
  t.same((await c.query('SELECT 2 AS y')).rows, [{ y: 2 }]);
  server.kill();
  await t.rejects(c.query('SELECT 1'), 'a client of a killed server gets an error');
  await t.rejects(connect({ ...base, ssl: { ca: fs.readFileSync(pki.ca.certFile, 'utf8') } }), 'nothing listens after kill()');
  await server.restart();
  const c2 = await connect({ ...base, ssl: { ca: fs.readFileSync(pki.ca.certFile, 'utf8') } });
  t.same((await c2.query('SELECT 3 AS z')).rows, [{ z: 3 }], 'restart() brings it back on the same port with the same password');
  await c2.end();
  await server.stop();
  t.notOk(fs.existsSync(server.dataDir), 'data dir removed');
  t.notOk(fs.existsSync(path.dirname(server.dataDir)), 'temp base removed');
});

t.test('startTestProxy config: accepted by the real loader, overrides merge, secrets stay out of the YAML', async (t) => {
  const server = await sharedPostgres(t);
  const { doc, env, passwords } = buildTestConfigDoc({
    pg: server, overrides: { limits: { maxConnections: 7 }, log: { statements: 'all' } },
    extraUsers: [{ name: 'extra', roles: ['reader'], upstream: { user: 'app_ro' }, from: ['127.0.0.1/32'] }],
  });
  const yaml = stringify(doc);
  const config = parseConfig(yaml, { baseDir: os.tmpdir(), env });
  t.equal(config.limits.maxConnections, 7, 'override applied');
  t.equal(config.limits.maxConnectionsPerUser, 200, 'sibling default kept');
  t.equal(config.log.statements, 'all');
  t.same(config.users.map((u) => u.name), ['app', 'writer', 'admin', 'certuser', 'extra']);
  t.equal(config.users.find((u) => u.name === 'certuser')!.auth, 'cert');
  t.same(config.upstream.endpoints, [{ host: '127.0.0.1', port: server.port }]);
  t.equal(passwords.app, 'app-test-password');
  for (const secret of [...Object.values(server.upstream), ...Object.values(passwords)]) t.notOk(yaml.includes(secret), 'no secret in YAML');
  const app = config.users.find((u) => u.name === 'app')!;
  t.same(app.upstream.password.kind === 'password' && app.upstream.password.value, server.upstream.app_ro);
});

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); // a zombie is dead
  } catch {
    return false;
  }
};

t.test('a server does not outlive a test process killed with SIGKILL', async (t) => {
  const fixture = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'pg-child.ts');
  const child = spawn(process.execPath, [...process.execArgv, fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('fixture did not start')), 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) { clearTimeout(timer); resolve(buf.split('\n')[0]!); }
    });
    child.once('exit', () => { clearTimeout(timer); reject(new Error('fixture exited')); });
  });
  const { pid, dataDir } = JSON.parse(line) as { pid: number; dataDir: string };
  t.ok(isAlive(pid), 'postmaster runs');
  const reaped = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await reaped; // until Node reaps it, the killed owner is a zombie that still looks alive to sweepStale
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.notOk(isAlive(pid), 'postmaster got its parent-death signal');
  const base = path.dirname(dataDir);
  t.ok(fs.existsSync(base), 'its directory is left behind (no JavaScript runs after SIGKILL)');
  sweepStale(os.tmpdir());
  t.ok(fs.existsSync(base), 'a young directory is not swept');
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(base, old, old);
  sweepStale(os.tmpdir());
  t.notOk(fs.existsSync(base), 'an old directory with a dead owner is swept');
});

t.test('sweepStale spares directories whose owner is alive', async (t) => {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-pg-'));
  t.teardown(() => fs.rmSync(base, { recursive: true, force: true }));
  markOwner(base);
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(base, old, old);
  sweepStale(os.tmpdir());
  t.ok(fs.existsSync(base));
});
