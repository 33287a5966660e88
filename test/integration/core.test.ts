// The core proxy end to end, against a real PostgreSQL, with real clients (pg, postgres.js, psql, raw sockets):
// TLS, SCRAM login, upstream mapping, the relay (extended protocol, pipelining, COPY, LISTEN/NOTIFY), cancel,
// refusals, upstream failures and draining.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import pg from 'pg';
import postgres from 'postgres';
import { sharedPostgres } from '../helpers/pg.js';
import { freePort } from '../helpers/ports.js';
import { startTestProxy } from '../helpers/proxy.js';
import { buildSSLRequest, buildStartup, buildQuery } from '../helpers/frontend-builders.js';
import { sendAndCollect, messages, errorFields, connectTls, readUntil } from '../helpers/raw-client.js';
import { buildSASLInitialResponse, buildSASLResponse } from '../helpers/frontend-builders.js';

const run = promisify(execFile);
const server = await sharedPostgres(t);
const proxy = await startTestProxy(t, { pg: server });

async function connect(user: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client(proxy.clientConfig(user, extra));
  await client.connect();
  return client;
}

t.test('psql with sslmode=verify-full logs in and queries', async (t) => {
  const { stdout } = await run('psql', [proxy.conninfo('admin'), '-At', '-c', 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'], {
    env: { ...process.env, PGPASSWORD: proxy.passwords.admin },
  });
  // The upstream session runs as the mapped identity, over TLS.
  t.equal(stdout.trim(), 'yb_admin|t');
});

t.test('pg client: simple and extended protocol with parameters', async (t) => {
  const client = await connect('admin');
  t.teardown(() => client.end());
  const simple = await client.query('select 1 as one');
  t.same(simple.rows, [{ one: 1 }]);
  const extended = await client.query('select $1::int + $2::int as sum, $3::text as s', [40, 2, 'x\'y']);
  t.same(extended.rows, [{ sum: 42, s: "x'y" }]);
  const named = await client.query({ name: 'q1', text: 'select owner from accounts where id = $1', values: [2] });
  t.same(named.rows, [{ owner: 'bob' }]);
  const again = await client.query({ name: 'q1', text: 'select owner from accounts where id = $1', values: [3] });
  t.same(again.rows, [{ owner: 'carol' }]);
  await t.rejects(client.query('select * from no_such_table'), { code: '42P01' });
  t.same((await client.query('select 2 as two')).rows, [{ two: 2 }], 'session usable after an upstream error');
});

t.test('pipelined extended queries keep their order', async (t) => {
  const client = await connect('admin');
  t.teardown(() => client.end());
  const results = await Promise.all(Array.from({ length: 50 }, (_, i) => client.query('select $1::int as i, pg_sleep(0) as z', [i])));
  t.same(results.map((r) => r.rows[0].i), Array.from({ length: 50 }, (_, i) => i));
});

t.test('postgres.js client with pipelining', async (t) => {
  const sql = postgres({
    host: '127.0.0.1', port: proxy.port, user: 'admin', password: proxy.passwords.admin, database: 'yugabyte',
    ssl: { ca: fs.readFileSync(server.pki.ca.certFile, 'utf8') }, max: 1, onnotice: () => undefined,
  });
  t.teardown(() => sql.end({ timeout: 1 }));
  const rows = await Promise.all([1, 2, 3, 4].map((i) => sql`select ${i}::int as i`));
  t.same(rows.map((r) => r[0]!.i), [1, 2, 3, 4]);
  const [row] = await sql`select count(*)::int as n from generate_series(1, 50000)`;
  t.equal(row!.n, 50000);
});

t.test('COPY FROM STDIN and TO STDOUT of 100,000 rows round-trips byte for byte', async (t) => {
  const env = { ...process.env, PGPASSWORD: proxy.passwords.admin };
  const dir = fs.mkdtempSync('/tmp/ysqlgate-copy-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) lines.push(`${i}\trow ${i} ${'x'.repeat(i % 50)}\t${(i * 1.5).toFixed(1)}`);
  const input = `${lines.join('\n')}\n`;
  fs.writeFileSync(`${dir}/in.tsv`, input);
  await run('psql', [proxy.conninfo('admin'), '-v', 'ON_ERROR_STOP=1', '-c', 'drop table if exists copy_rt; create table copy_rt (id int, label text, v numeric)'], { env });
  await run('psql', [proxy.conninfo('admin'), '-v', 'ON_ERROR_STOP=1', '-c', `\\copy copy_rt from '${dir}/in.tsv'`], { env });
  await run('psql', [proxy.conninfo('admin'), '-v', 'ON_ERROR_STOP=1', '-c', `\\copy (select * from copy_rt order by id) to '${dir}/out.tsv'`], { env, maxBuffer: 1 << 26 });
  const output = fs.readFileSync(`${dir}/out.tsv`, 'utf8');
  t.equal(output.length, input.length);
  t.ok(output === input, 'identical bytes');
});

t.test('LISTEN/NOTIFY across two sessions', async (t) => {
  const listener = await connect('admin');
  const notifier = await connect('admin');
  t.teardown(async () => { await listener.end(); await notifier.end(); });
  const got = new Promise<pg.Notification>((resolve) => listener.on('notification', resolve));
  await listener.query('listen ysqlgate_test');
  await notifier.query("notify ysqlgate_test, 'hello'");
  const n = await got;
  t.equal(n.channel, 'ysqlgate_test');
  t.equal(n.payload, 'hello');
});

t.test('a large result arrives whole', async (t) => {
  const client = await connect('admin');
  t.teardown(() => client.end());
  const r = await client.query("select i, repeat('y', 100) as pad from generate_series(1, 20000) i");
  t.equal(r.rowCount, 20000);
  t.equal(r.rows[19999].i, 20000);
});

t.test('cancel of pg_sleep(30) returns 57014 within 2 s', async (t) => {
  const client = await connect('admin');
  t.teardown(() => client.end());
  const started = Date.now();
  const sleeping = client.query('select pg_sleep(30)');
  await new Promise((r) => setTimeout(r, 300));
  // pg's own cancel path: a new connection carrying the key ysqlgate issued.
  const canceller = new pg.Client(proxy.clientConfig('admin'));
  const cancel = (canceller as unknown as { cancel(target: pg.Client, query: unknown): void });
  cancel.cancel(client, (client as unknown as { activeQuery: unknown }).activeQuery);
  await t.rejects(sleeping, { code: '57014' });
  t.ok(Date.now() - started < 2000, `cancelled after ${Date.now() - started} ms`);
  t.same((await client.query('select 1 as ok')).rows, [{ ok: 1 }]);
});

t.test('BackendKeyData is ysqlgate\'s own and an unknown cancel key is ignored', async (t) => {
  const client = await connect('admin');
  t.teardown(() => client.end());
  const upstreamPid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid;
  const issued = (client as unknown as { processID: number }).processID;
  t.not(issued, upstreamPid);
  const bogus = Buffer.alloc(16);
  bogus.writeInt32BE(16, 0); bogus.writeInt32BE(80877102, 4); bogus.writeInt32BE(issued, 8); bogus.writeInt32BE(12345, 12);
  const { bytes } = await sendAndCollect(proxy.port, bogus, 1000);
  t.equal(bytes.length, 0, 'nothing is sent back');
  t.same((await client.query('select 1 as ok')).rows, [{ ok: 1 }]);
});

t.test('plaintext startup is refused while TLS is required', async (t) => {
  const { bytes, closed } = await sendAndCollect(proxy.port, buildStartup({ user: 'admin', database: 'yugabyte' }));
  const [msg] = messages(bytes);
  t.equal(msg?.code, 'E');
  const f = errorFields(msg!.body);
  t.equal(f.S, 'FATAL');
  t.equal(f.C, '28000');
  t.equal(f.M, 'ysqlgate requires TLS; connect with sslmode=require or stronger');
  t.ok(closed);
});

t.test('SSLRequest followed by plaintext bytes in one write is refused, never parsed', async (t) => {
  const payload = Buffer.concat([buildSSLRequest(), buildStartup({ user: 'admin', database: 'yugabyte' })]);
  const { bytes, closed } = await sendAndCollect(proxy.port, payload);
  t.not(bytes[0], 0x53, 'no S: TLS is not offered');
  const [msg] = messages(bytes);
  t.equal(msg?.code, 'E');
  t.equal(errorFields(msg!.body).C, '08P01');
  t.ok(closed);
});

t.test('wrong password and unknown user get identical responses', async (t) => {
  const attempt = async (user: string, password: string): Promise<{ code?: string; message: string }> => {
    const client = new pg.Client(proxy.clientConfig(user, { password }));
    try {
      await client.connect();
      await client.end();
      return { message: 'connected' };
    } catch (err) {
      const e = err as { code?: string; message: string };
      return { code: e.code, message: e.message.replace(user, 'USER') };
    }
  };
  const wrong = await attempt('admin', 'not-the-password');
  const unknown = await attempt('nobody', 'not-the-password');
  t.equal(wrong.code, '28P01');
  t.same(unknown, wrong);
  t.equal(wrong.message, 'password authentication failed for user "USER"');
  // The raw exchange has the same shape for both: AuthenticationSASL, then SASLContinue with a salt and 4096.
  const shape = async (user: string): Promise<string[]> => {
    const s = await connectTls(proxy.port, server.pki.ca.certFile);
    s.write(buildStartup({ user, database: 'yugabyte' }));
    const first = await readUntil(s, 'R');
    s.write(buildSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=abcdefghijklmnop'));
    const second = await readUntil(s, 'R');
    const serverFirst = second[0]!.body.subarray(4).toString();
    s.write(buildSASLResponse(`c=biws,r=${/r=([^,]+)/.exec(serverFirst)![1]},p=${Buffer.alloc(32).toString('base64')}`));
    const third = await readUntil(s, 'E');
    s.destroy();
    const f = errorFields(third.find((m) => m.code === 'E')!.body);
    return [first[0]!.body.readInt32BE(0).toString(), serverFirst.replace(/r=[^,]+,s=[^,]+/, 'r=R,s=S'), f.C!, f.M!.replace(user, 'USER')];
  };
  t.same(await shape('nobody'), await shape('admin'));
});

t.test('upstream verify-full against a certificate from another CA fails with 08006', async (t) => {
  const other = await startTestProxy(t, {
    pg: server,
    overrides: { upstream: { tls: { mode: 'verify-full', ca: server.pki.otherCa.certFile } } },
  });
  const client = new pg.Client(other.clientConfig('admin'));
  await t.rejects(client.connect(), { code: '08006', message: 'no YSQL endpoint available' });
});

t.test('a database the roles do not allow is refused with 42501', async (t) => {
  const client = new pg.Client(proxy.clientConfig('app', { database: 'postgres' }));
  await t.rejects(client.connect(), { code: '42501', message: 'permission denied for database "postgres"' });
});

t.test('replication connections are refused', async (t) => {
  const client = new pg.Client({ ...proxy.clientConfig('admin'), replication: 'database' } as pg.ClientConfig);
  await t.rejects(client.connect(), { code: '42501' });
});

t.test('GSSENCRequest is answered N and the connection continues', async (t) => {
  const { stdout } = await run('psql', [`${proxy.conninfo('admin')} gssencmode=prefer`, '-At', '-c', 'select 7'], {
    env: { ...process.env, PGPASSWORD: proxy.passwords.admin },
  });
  t.equal(stdout.trim(), '7');
});

t.test('protocol 3.2 / _pq_ options get NegotiateProtocolVersion (3.0)', async (t) => {
  const s = await connectTls(proxy.port, server.pki.ca.certFile);
  s.write(buildStartup({ user: 'admin', database: 'yugabyte', '_pq_.test': 'x' }, { major: 3, minor: 2 }));
  const msgs = await readUntil(s, 'R');
  s.destroy();
  const v = msgs.find((m) => m.code === 'v');
  t.ok(v, 'NegotiateProtocolVersion sent');
  t.equal(v!.body.readInt32BE(0), 0, 'newest minor version supported: 0');
  t.equal(v!.body.readInt32BE(4), 1);
  t.equal(v!.body.toString('utf8', 8, v!.body.length - 1), '_pq_.test');
});

t.test('the upstream killed mid-session gives the client an error; the proxy keeps serving', async (t) => {
  const victim = await connect('admin');
  victim.on('error', () => undefined);
  const pid = (await victim.query('select pg_backend_pid() as pid')).rows[0].pid;
  await server.query(`select pg_terminate_backend(${pid})`);
  await t.rejects(victim.query('select 1'));
  await victim.end().catch(() => undefined);
  const other = await connect('admin');
  t.same((await other.query('select 1 as ok')).rows, [{ ok: 1 }]);
  await other.end();
});

t.test('no reachable endpoint: FATAL 08006', async (t) => {
  const port = await freePort(); // nothing listens there
  const dead = await startTestProxy(t, { pg: server, overrides: { upstream: { endpoints: [`127.0.0.1:${port}`], connectTimeout: '1s' } } });
  await t.rejects(new pg.Client(dead.clientConfig('admin')).connect(), { code: '08006' });
});

t.test('a dead first endpoint is skipped', async (t) => {
  const port = await freePort(); // nothing listens there
  const p2 = await startTestProxy(t, { pg: server, overrides: { upstream: { endpoints: [`127.0.0.1:${port}`, `127.0.0.1:${server.port}`] } } });
  const c = new pg.Client(p2.clientConfig('admin'));
  await c.connect();
  t.same((await c.query('select 1 as ok')).rows, [{ ok: 1 }]);
  await c.end();
});

t.test('admin endpoint: healthz, readyz, metrics', async (t) => {
  const base = `http://127.0.0.1:${proxy.adminPort}`;
  t.equal((await fetch(`${base}/healthz`)).status, 200);
  t.equal((await fetch(`${base}/readyz`)).status, 200);
  const text = await (await fetch(`${base}/metrics`)).text();
  t.match(text, /ysqlgate_client_connections_total\{outcome="accepted"\} \d+/);
  t.match(text, /ysqlgate_auth_attempts_total\{method="scram",result="success"\} \d+/);
  t.match(text, /ysqlgate_auth_attempts_total\{method="scram",result="failure"\} \d+/);
});

t.test('logs carry the events and never a secret', async (t) => {
  const logs = proxy.logs();
  const events = new Set(logs.map((l) => l.event));
  for (const e of ['auth.succeeded', 'auth.failed', 'session.closed']) t.ok(events.has(e), e);
  const text = JSON.stringify(logs);
  for (const [user, password] of Object.entries(proxy.passwords)) t.notOk(text.includes(password), `no password of ${user}`);
  for (const secret of Object.values(server.upstream)) t.notOk(text.includes(secret), 'no upstream secret');
  const closed = logs.find((l) => l.event === 'session.closed' && l.user === 'admin');
  t.ok(closed?.session && closed?.client && closed?.database, 'session, client, user, database on every session event');
  t.type(closed?.durationMs, 'number');
});

t.test('drain: sessions finish, then the rest get 57P01', async (t) => {
  const p = await startTestProxy(t, { pg: server });
  const client = new pg.Client(p.clientConfig('admin'));
  await client.connect();
  const errored = new Promise<{ code?: string }>((resolve) => client.on('error', (e) => resolve(e as { code?: string })));
  const proxyHandle = (p as unknown as { close(reason?: string): Promise<void> });
  const closing = proxyHandle.close();
  const err = await errored;
  t.equal(err.code, '57P01');
  await closing;
  await t.rejects(new pg.Client(p.clientConfig('admin')).connect());
});

t.test('raw simple query after login through a raw TLS socket', async (t) => {
  // Smoke test of the raw helpers used by the security tests.
  const s = await connectTls(proxy.port, server.pki.ca.certFile);
  s.write(buildStartup({ user: 'admin', database: 'yugabyte' }));
  await readUntil(s, 'R');
  s.destroy();
  t.pass();
  void buildQuery;
});

t.test('PostgreSQL 17 direct TLS: ALPN "postgresql" required', async (t) => {
  const tls = await import('node:tls');
  const ca = fs.readFileSync(server.pki.ca.certFile);
  const direct = (alpn: string[] | undefined): Promise<{ bytes: Buffer; alpn: string | false }> => new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const s = tls.connect({ host: '127.0.0.1', port: proxy.port, ca, servername: 'localhost', ALPNProtocols: alpn }, () => {
      s.write(buildStartup({ user: 'admin', database: 'yugabyte' }));
    });
    const timer = setTimeout(() => s.destroy(), 2000);
    s.on('data', (c) => { chunks.push(c); if (chunks.length > 0) { clearTimeout(timer); s.destroy(); } });
    s.on('close', () => resolve({ bytes: Buffer.concat(chunks), alpn: s.alpnProtocol ?? false }));
    s.on('error', () => undefined);
  });
  const ok = await direct(['postgresql']);
  t.equal(ok.alpn, 'postgresql');
  t.equal(String.fromCharCode(ok.bytes[0]!), 'R', 'authentication request after a direct TLS handshake');
  const without = await direct(undefined);
  t.equal(without.bytes.length, 0, 'no ALPN: closed without a reply');
});

t.test('backpressure: a client that stops reading does not make the proxy buffer the result', async (t) => {
  const { rawLogin } = await import('../helpers/raw-client.js');
  const s = await rawLogin(proxy.port, server.pki.ca.certFile, 'admin', proxy.passwords.admin!);
  t.teardown(() => s.destroy());
  if (global.gc) global.gc();
  const before = process.memoryUsage().arrayBuffers + process.memoryUsage().external;
  s.pause(); // read nothing: only the kernel buffers and the proxy's bounded queues can fill
  s.write(buildQuery("select repeat('x', 1000) from generate_series(1, 400000)")); // ≈ 400 MB of rows
  await new Promise((r) => setTimeout(r, 2500));
  const grown = process.memoryUsage().arrayBuffers + process.memoryUsage().external - before;
  t.ok(grown < 64 * 1024 * 1024, `proxy memory grew by ${(grown / 1048576).toFixed(1)} MiB for a ≈400 MB result`);
  // Reading resumes and the whole result still arrives in order.
  let bytes = 0;
  await new Promise<void>((resolve) => {
    s.on('data', (c: Buffer) => { bytes += c.length; if (c.includes(Buffer.from('SELECT 400000'))) resolve(); });
    s.resume();
  });
  t.ok(bytes > 400_000_000, `${bytes} bytes relayed`);
});

t.test('before authentication only small messages are accepted: a 1 MiB SASL message is refused at its header', async (t) => {
  const s = await connectTls(proxy.port, server.pki.ca.certFile);
  t.teardown(() => s.destroy());
  s.write(buildStartup({ user: 'admin', database: 'yugabyte' }));
  await readUntil(s, 'R');
  const header = Buffer.alloc(5);
  header[0] = 0x70; // 'p': SASLInitialResponse
  header.writeInt32BE(1024 * 1024, 1);
  s.write(header); // the body never comes: the declared length alone must be refused
  const reply = await readUntil(s, 'E', 2000);
  const error = reply.find((m) => m.code === 'E');
  t.ok(error, 'refused without waiting for the body');
  t.equal(errorFields(error!.body).C, '08P01');
});
