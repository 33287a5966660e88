// Access rules through the proxy against a real PostgreSQL: denials behave exactly like server errors (session
// usable, transaction aborted, extended protocol discarded to Sync, pipelined order kept), psql's catalog
// queries work for a reader, the read-only wall stops writes the parser cannot see, and no denied statement
// ever reaches the upstream.
import t from 'tap';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy } from '../helpers/proxy.js';
import { rawLogin, exchange, errorFields } from '../helpers/raw-client.js';
import { buildParse, buildBind, buildExecute, buildSync, buildQuery, buildFunctionCall } from '../helpers/frontend-builders.js';

const run = promisify(execFile);
const server = await sharedPostgres(t);
await server.query(`
  create table if not exists public.audit (id serial primary key, note text);
  alter table public.audit owner to yb_admin;
  grant select, insert on public.audit to app_rw; grant usage on sequence public.audit_id_seq to app_rw;
  create or replace function public.sneaky_write() returns int language sql as
    $$ insert into public.accounts values (99, 'mallory', 0) returning 1 $$;
  alter function public.sneaky_write() owner to yb_admin;`, 'yugabyte');

const roles = [
  { name: 'reader', databases: ['yugabyte'], allow: [{ privileges: ['read'], objects: ['public.*'] }], deny: [{ objects: ['public.salaries'] }] },
  // A writer restricted on one table: may read everything public and write everything but public.salaries.
  { name: 'writer', databases: ['yugabyte'], allow: [{ privileges: ['read', 'write'], objects: ['public.*'] }], deny: [{ privileges: ['write'], objects: ['public.salaries'] }] },
  { name: 'dba', databases: ['*'], allow: [{ privileges: ['all'] }] },
];
const proxy = await startTestProxy(t, {
  pg: server,
  roles,
  users: [
    { name: 'app', roles: ['reader'], upstream: { user: 'app_ro' } },
    // Mapped to an upstream role that COULD write: only the read-only wall stops hidden writes.
    { name: 'sly', roles: ['reader'], upstream: { user: 'app_rw' } },
    { name: 'writer', roles: ['writer'], upstream: { user: 'app_rw' } },
    { name: 'admin', roles: ['dba'], upstream: { user: 'yb_admin' } },
  ],
});

async function connect(user: string): Promise<pg.Client> {
  const c = new pg.Client(proxy.clientConfig(user));
  await c.connect();
  t.teardown(() => c.end().catch(() => undefined));
  return c;
}

t.test("a reader's INSERT gets 42501 and its next SELECT works", async (t) => {
  const c = await connect('app');
  const err = await c.query("insert into accounts values (50, 'eve', 1)").catch((e) => e);
  t.equal(err.code, '42501');
  t.match(err.message, /^permission denied: role reader may not run write on/);
  t.ok(err.hint, 'the hint names the rule');
  t.same((await c.query('select count(*)::int as n from accounts where id = 50')).rows, [{ n: 0 }]);
});

t.test('a denied table stays denied; its neighbour is readable', async (t) => {
  const c = await connect('app');
  await t.rejects(c.query('select * from salaries'), { code: '42501' });
  await t.rejects(c.query('select * from public.salaries'), { code: '42501' });
  await t.rejects(c.query('select * from accounts a join salaries s using (id)'), { code: '42501' });
  t.equal((await c.query('select * from accounts')).rowCount, 3);
});

t.test('BEGIN, allowed INSERT, denied statement, COMMIT: the row is not there', async (t) => {
  const c = await connect('writer');
  await c.query('begin');
  await c.query("insert into audit (note) values ('should vanish')");
  await t.rejects(c.query('delete from salaries'), { code: '42501' });
  await t.rejects(c.query('select 1'), { code: '25P02' }, 'the transaction is aborted as PostgreSQL would abort it');
  const commit = await c.query('commit');
  t.equal(commit.command, 'ROLLBACK', 'COMMIT of a failed transaction rolls back');
  t.same((await c.query("select count(*)::int as n from audit where note = 'should vanish'")).rows, [{ n: 0 }]);
  await c.query("insert into audit (note) values ('kept')");
  t.same((await c.query("select count(*)::int as n from audit where note = 'kept'")).rows, [{ n: 1 }]);
});

t.test('extended protocol denial with bound parameters; the session stays usable', async (t) => {
  const c = await connect('app');
  const err = await c.query('update accounts set balance = $1 where id = $2', [0, 1]).catch((e) => e);
  t.equal(err.code, '42501');
  const named = await c.query({ name: 'upd', text: 'delete from accounts where id = $1', values: [1] }).catch((e) => e);
  t.equal(named.code, '42501');
  t.same((await c.query('select balance::text from accounts where id = $1', [1])).rows, [{ balance: '120.50' }]);
});

t.test('a pipelined batch with a denial in the middle keeps every response in order', async (t) => {
  const c = await connect('app');
  const results = await Promise.allSettled([
    c.query('select $1::int as i', [1]),
    c.query('select $1::int as i', [2]),
    c.query("insert into accounts values (60, 'x', 0)"),
    c.query('select $1::int as i', [4]),
    c.query('select * from salaries'),
    c.query('select $1::int as i', [6]),
  ]);
  t.same(results.map((r) => (r.status === 'fulfilled' ? r.value.rows[0].i : (r.reason as { code: string }).code)),
    [1, 2, '42501', 4, '42501', 6]);
});

t.test('raw pipeline: Parse(denied) Bind Execute Sync, Parse(ok) Bind Execute Sync', async (t) => {
  const s = await rawLogin(proxy.port, server.pki.ca.certFile, 'app', proxy.passwords.app!);
  t.teardown(() => s.destroy());
  const got = await exchange(s, Buffer.concat([
    buildParse('', 'insert into accounts values (70, $1, 0)'), buildBind('', '', ['x']), buildExecute(), buildSync(),
    buildParse('', 'select 1'), buildBind('', ''), buildExecute(), buildSync(),
  ]), 2);
  t.same(got.map((m) => m.code), ['E', 'Z', '1', '2', 'D', 'C', 'Z'], 'error, discard to Sync, the next batch runs');
  t.equal(errorFields(got[0]!.body).C, '42501');
  t.equal(got[1]!.body.toString(), 'I');
});

t.test('raw: a denial inside a transaction block reports status E until ROLLBACK', async (t) => {
  const s = await rawLogin(proxy.port, server.pki.ca.certFile, 'app', proxy.passwords.app!);
  t.teardown(() => s.destroy());
  const begin = await exchange(s, buildQuery('begin'), 1);
  t.equal(begin.at(-1)!.body.toString(), 'T');
  const denied = await exchange(s, buildQuery('delete from accounts'), 1);
  t.same(denied.map((m) => m.code), ['E', 'Z']);
  t.equal(denied[1]!.body.toString(), 'E');
  const rollback = await exchange(s, buildQuery('rollback'), 1);
  t.equal(rollback.at(-1)!.body.toString(), 'I');
});

t.test('raw: a multi-statement Query with one denied statement runs none of it', async (t) => {
  const s = await rawLogin(proxy.port, server.pki.ca.certFile, 'writer', proxy.passwords.writer!);
  t.teardown(() => s.destroy());
  const got = await exchange(s, buildQuery("insert into audit (note) values ('multi'); delete from salaries"), 1);
  t.same(got.map((m) => m.code), ['E', 'Z']);
  t.same(await server.query("select count(*)::int as n from public.audit where note = 'multi'", 'yugabyte'), [{ n: 0 }]);
});

t.test('psql \\d and \\dt work for a reader', async (t) => {
  const env = { ...process.env, PGPASSWORD: proxy.passwords.app };
  const dt = await run('psql', [proxy.conninfo('app'), '-c', '\\dt'], { env });
  t.match(dt.stdout, /accounts/);
  const d = await run('psql', [proxy.conninfo('app'), '-c', '\\d accounts'], { env });
  t.match(d.stdout, /balance/);
});

t.test('a function that writes, called from a SELECT by a reader, is stopped by the read-only wall', async (t) => {
  const c = await connect('sly');
  t.same((await c.query('show default_transaction_read_only')).rows, [{ default_transaction_read_only: 'on' }]);
  const err = await c.query('select public.sneaky_write()').catch((e) => e);
  t.equal(err.code, '25006', 'cannot execute INSERT in a read-only transaction');
  for (const escape of [
    'set default_transaction_read_only = off', "select set_config('default_transaction_read_only', 'off', false)",
    'begin read write', 'set transaction read write', 'set session characteristics as transaction read write',
    'reset default_transaction_read_only',
  ]) {
    const e = await c.query(escape).catch((x) => x);
    t.equal(e.code, '42501', escape);
    await c.query('rollback').catch(() => undefined);
  }
  t.same((await server.query('select count(*)::int as n from public.accounts where id = 99', 'yugabyte')), [{ n: 0 }]);
});

t.test('startup options cannot turn the wall off', async (t) => {
  const c = new pg.Client({ ...proxy.clientConfig('sly'), options: '-c default_transaction_read_only=off' });
  await t.rejects(c.connect(), { code: '42501' });
});

t.test('FunctionCall (fast path) is admin only', async (t) => {
  const s = await rawLogin(proxy.port, server.pki.ca.certFile, 'app', proxy.passwords.app!);
  t.teardown(() => s.destroy());
  const got = await exchange(s, buildFunctionCall(1299 /* now() */), 1);
  t.same(got.map((m) => m.code), ['E', 'Z']);
  t.equal(errorFields(got[0]!.body).C, '42501');
});

t.test('an admin role (all) is not restricted', async (t) => {
  const c = await connect('admin');
  await c.query("insert into audit (note) values ('by admin')");
  t.equal((await c.query('select * from salaries')).rowCount, 2);
});

t.test('statements_total and statement.denied are recorded; no denied statement reached the upstream', async (t) => {
  const metrics = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
  t.match(metrics, /ysqlgate_statements_total\{role="reader",privilege="write",decision="deny"\} [1-9]/);
  t.match(metrics, /ysqlgate_statements_total\{role="reader",privilege="read",decision="allow"\} [1-9]/);
  const denied = proxy.logs().filter((l) => l.event === 'statement.denied');
  t.ok(denied.length >= 5);
  t.ok(denied.every((l) => l.user && l.rule && l.sqlstate === '42501' && typeof l.statement === 'string'));
  t.notOk(denied.some((l) => /eve|'x'|mallory/.test(l.statement)), 'literals are replaced in the log');
  const upstreamLog = server.readLog();
  for (const text of ["values (50, 'eve'", 'delete from salaries', 'update accounts set balance', 'delete from accounts where id',
    "values (60, 'x'", 'insert into accounts values (70', 'set default_transaction_read_only = off', 'begin read write']) {
    t.notOk(upstreamLog.includes(text), `never upstream: ${text}`);
  }
  t.match(upstreamLog, /ysqlgate_denied_/, 'the upstream saw only the placeholder that failed in its place');
});
