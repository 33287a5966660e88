// The AccessPolicy / SessionGuard API: startup parameters, FunctionCall, Parse, PREPARE/EXECUTE, rebind, the
// literal-blind cache, redaction and explain.
import t from 'tap';
import { AccessPolicy, explainStatements, formatExplain, initPolicyParser, redactSql } from '../../../src/policy/index.js';
import { ROLES, USERS, rule, user } from './fixtures.js';

t.before(async () => {
  await initPolicyParser();
});

const reader = USERS['reader']!;
const writer = USERS['writer']!;
const dba = USERS['dba']!;

t.test('databases and read-only', async (t) => {
  const p = new AccessPolicy(ROLES);
  t.ok(p.mayOpenDatabase(reader, 'yugabyte'));
  t.notOk(p.mayOpenDatabase(reader, 'postgres'));
  t.ok(p.mayOpenDatabase(dba, 'anything'));
  t.notOk(p.mayOpenDatabase(user('ghost', ['no-such-role']), 'yugabyte'));
  t.ok(p.isReadOnly(reader));
  t.notOk(p.isReadOnly(writer));
  t.notOk(p.isReadOnly(USERS['ddl_only']!));
  t.notOk(p.isReadOnly(USERS['mixed']!));
});

t.test('checkStartup', async (t) => {
  const p = new AccessPolicy(ROLES);
  const ok = p.checkStartup(reader, 'yugabyte', [{ name: 'application_name', value: 'psql' }, { name: 'client_encoding', value: 'UTF8' }]);
  t.same(ok, { allow: true, upstreamParams: { default_transaction_read_only: 'on', search_path: 'public' } });
  const w = p.checkStartup(writer, 'yugabyte', []);
  t.same(w, { allow: true, upstreamParams: { search_path: 'public' } });
  t.same(p.checkStartup(dba, 'yugabyte', []), { allow: true, upstreamParams: {} });
  for (const [name, value] of [
    ['default_transaction_read_only', 'off'], ['default-transaction-read-only', 'off'], ['role', 'postgres'],
    ['session_authorization', 'postgres'], ['transaction_read_only', 'off'], ['search_path', 'hr, public'],
    ['standard_conforming_strings', 'off'], ['client_encoding', 'SJIS'], ['replication', 'database'], ['options', '-c role=x'],
  ] as const) {
    const d = p.checkStartup(reader, 'yugabyte', [{ name, value }]);
    t.equal(d.allow, false, `${name}=${value} refused`);
    if (!d.allow) t.match(d.message, /^permission denied: role reader may not run admin on parameter /);
  }
  t.equal(p.checkStartup(reader, 'yugabyte', [{ name: 'default_transaction_read_only', value: 'on' }]).allow, true);
  t.equal(p.checkStartup(reader, 'yugabyte', [{ name: 'search_path', value: 'public' }]).allow, true);
  t.equal(p.checkStartup(reader, 'yugabyte', [{ name: 'replication', value: 'false' }]).allow, true);
  t.equal(p.checkStartup(dba, 'yugabyte', [{ name: 'role', value: 'postgres' }]).allow, true);
  t.equal(p.checkStartup(dba, 'yugabyte', [{ name: 'search_path', value: 'anything' }]).allow, true);
  // search_path is pinned to the schemas the allow rules name
  const p2 = new AccessPolicy([{ name: 'app', databases: ['*'], allow: [rule(['read'], ['app.*', 'public.t', 'app.x'])], deny: [] }]);
  const s = p2.checkStartup(user('a', ['app']), 'db', []);
  t.same(s, { allow: true, upstreamParams: { default_transaction_read_only: 'on', search_path: 'app, public' } });
});

t.test('messages and hints', async (t) => {
  const g = new AccessPolicy(ROLES).openSession(reader, 'yugabyte');
  const d = g.checkQuery('SELECT * FROM salaries WHERE id = 42');
  t.match(d, {
    allow: false, sqlstate: '42501', message: 'permission denied: role reader may not run read on public.salaries',
    hint: 'denied by roles[reader].deny[0] (objects: public.salaries)', privilege: 'read', role: 'reader',
    rule: 'roles[reader].deny[0]', redactedSql: 'SELECT * FROM salaries WHERE id = ?',
  });
  const w = g.checkQuery('UPDATE t SET a = 1');
  t.match(w, { allow: false, message: 'permission denied: role reader may not run write on public.t', hint: 'no allow rule of role reader grants write on public.t', rule: 'no-allow' });
  const u = g.checkQuery("SELEC 'secret'");
  t.match(u, { allow: false, sqlstate: '42601', message: 'ysqlgate could not parse this statement', rule: 'unparseable', privilege: 'unknown' });
  if (!u.allow) t.notMatch(u.redactedSql, /secret/);
  const ok = g.checkQuery('SELECT * FROM t');
  t.match(ok, { allow: true, privilege: 'read', role: 'reader' });
  t.match(g.checkQuery('BEGIN'), { allow: true, privilege: 'always', role: null });
  const m = new AccessPolicy(ROLES).openSession(USERS['mixed']!, 'yugabyte').checkQuery('GRANT SELECT ON t TO x');
  t.match(m, { allow: false, hint: /^no allow rule of roles reader, ddl_only grants admin/ });
});

t.test('FunctionCall fast path is admin only', async (t) => {
  const p = new AccessPolicy(ROLES);
  const d = p.openSession(reader, 'yugabyte').checkFunctionCall(2622);
  t.match(d, { allow: false, sqlstate: '42501', privilege: 'admin' });
  t.match(p.openSession(writer, 'yugabyte').checkFunctionCall(1), { allow: false });
  t.match(p.openSession(dba, 'yugabyte').checkFunctionCall(2622), { allow: true, privilege: 'admin', role: 'dba' });
});

t.test('extended protocol Parse', async (t) => {
  const g = new AccessPolicy(ROLES).openSession(reader, 'yugabyte');
  t.match(g.checkParse('', 'SELECT * FROM t WHERE a = $1'), { allow: true });
  t.match(g.checkParse('', 'DELETE FROM t WHERE a = $1'), { allow: false, sqlstate: '42501' });
  t.match(g.checkParse('', 'SELECT 1; SELECT 2'), { allow: false, sqlstate: '42601', rule: 'multiple-statements' });
  t.match(g.checkParse('', ''), { allow: true, privilege: 'always' });
  t.match(g.checkParse('s1', 'SELECT * FROM t'), { allow: true });
  // a protocol-level named statement is visible to SQL EXECUTE
  t.match(g.checkQuery('EXECUTE s1'), { allow: true, privilege: 'read' });
  t.match(g.checkParse('s2', 'SELECT * FROM salaries'), { allow: false });
  t.match(g.checkQuery('EXECUTE s2'), { allow: false, rule: 'unknown-prepared-statement' });
});

t.test('PREPARE / EXECUTE / DEALLOCATE follow the session', async (t) => {
  const p = new AccessPolicy(ROLES);
  const g = p.openSession(writer, 'yugabyte');
  t.match(g.checkQuery('PREPARE ins AS INSERT INTO t VALUES (1)'), { allow: true, privilege: 'write' });
  t.match(g.checkQuery('EXECUTE ins'), { allow: true, privilege: 'write' });
  t.match(g.checkQuery('EXPLAIN ANALYZE EXECUTE ins'), { allow: true, privilege: 'write' });
  t.match(g.checkQuery('PREPARE bad AS INSERT INTO audit VALUES (1)'), { allow: false });
  t.match(g.checkQuery('EXECUTE bad'), { allow: false, rule: 'unknown-prepared-statement' });
  t.match(g.checkQuery('DEALLOCATE ins'), { allow: true });
  t.match(g.checkQuery('EXECUTE ins'), { allow: false });
  t.match(g.checkQuery('PREPARE a AS SELECT 1; PREPARE b AS SELECT 2'), { allow: true });
  t.match(g.checkQuery('DISCARD ALL'), { allow: true });
  t.match(g.checkQuery('EXECUTE a'), { allow: false });
  // a second PREPARE of a taken name keeps both requirement sets (the server keeps the first statement)
  t.match(g.checkQuery('PREPARE x AS INSERT INTO t VALUES (1)'), { allow: true });
  t.match(g.checkQuery('PREPARE x AS SELECT 1'), { allow: true });
  t.match(g.checkQuery('EXECUTE x'), { allow: true, privilege: 'write' });
  // a denied multi-statement string records nothing
  t.match(g.checkQuery('PREPARE y AS SELECT 1; DELETE FROM audit'), { allow: false });
  t.match(g.checkQuery('EXECUTE y'), { allow: false });
  // sessions do not see each other's statements
  t.match(p.openSession(writer, 'yugabyte').checkQuery('EXECUTE x'), { allow: false });
  // CREATE TABLE AS EXECUTE takes the prepared statement's requirements as well
  const m = p.openSession(USERS['mixed']!, 'yugabyte');
  t.match(m.checkQuery('PREPARE z AS SELECT * FROM public.accounts'), { allow: true });
  t.match(m.checkQuery('CREATE TABLE public.q AS EXECUTE z'), { allow: true, privilege: 'ddl' });
  t.match(m.checkQuery('PREPARE w AS SELECT * FROM public.salaries'), { allow: false });
});

t.test('an unrestricted all role with no deny skips inspection', async (t) => {
  const d = new AccessPolicy(ROLES).openSession(dba, 'yugabyte');
  t.match(d.checkQuery('CREATE TABLE q AS SELECT 1'), { allow: true, privilege: 'all', role: 'dba' });
  t.match(d.checkQuery('CREATE TABLE t (id int) SPLIT INTO 4 TABLETS'), { allow: true, privilege: 'all' });
});

t.test('rebind applies new rules to later checks, keeping prepared statements', async (t) => {
  const p1 = new AccessPolicy(ROLES);
  const g = p1.openSession(writer, 'yugabyte');
  t.match(g.checkQuery('PREPARE ins AS INSERT INTO t VALUES (1)'), { allow: true });
  t.match(g.checkQuery('SELECT * FROM t'), { allow: true });
  const tightened = ROLES.map((r) => (r.name === 'writer' ? { ...r, deny: [rule([], ['public.t'])] } : r));
  g.rebind(new AccessPolicy(tightened), writer);
  t.match(g.checkQuery('SELECT * FROM t'), { allow: false, rule: 'roles[writer].deny[0]' });
  t.match(g.checkQuery('EXECUTE ins'), { allow: false, rule: 'roles[writer].deny[0]' });
  g.rebind(p1, reader);
  t.match(g.checkQuery('INSERT INTO t VALUES (2)'), { allow: false, role: 'reader' });
});

t.test('verdict cache', async (t) => {
  const p = new AccessPolicy(ROLES);
  const g = p.openSession(reader, 'yugabyte');
  t.match(g.checkQuery('SELECT abalance FROM pgbench_accounts WHERE aid = 1'), { allow: true, cached: false });
  t.match(g.checkQuery('SELECT abalance FROM pgbench_accounts WHERE aid = 2'), { allow: true, cached: true });
  t.match(g.checkQuery("SELECT * FROM t WHERE name = 'a'"), { cached: false });
  t.match(g.checkQuery("SELECT * FROM t WHERE name = 'it''s'"), { cached: true });
  // other users with other roles share the classification, not the verdict
  t.match(p.openSession(writer, 'yugabyte').checkQuery('SELECT abalance FROM pgbench_accounts WHERE aid = 3'), { allow: true, cached: true });
  t.match(p.openSession(USERS['ddl_only']!, 'yugabyte').checkQuery('SELECT abalance FROM pgbench_accounts WHERE aid = 3'), { allow: false });
  // literal-dependent statements are never shared across literal values, in either order
  t.match(g.checkQuery("SELECT set_config('application_name', 'x', false)"), { allow: true });
  t.match(g.checkQuery("SELECT set_config('role', 'postgres', false)"), { allow: false });
  t.match(g.checkQuery("SELECT set_config('application_name', 'x', false)"), { allow: true, cached: true });
  const p2 = new AccessPolicy(ROLES);
  const g2 = p2.openSession(reader, 'yugabyte');
  t.match(g2.checkQuery("SELECT set_config('role', 'postgres', false)"), { allow: false });
  t.match(g2.checkQuery("SELECT set_config('application_name', 'x', false)"), { allow: true, cached: false });
  t.match(g2.checkQuery("SELECT nextval('other_seq')"), { allow: false });
  const gw = p2.openSession(writer, 'yugabyte');
  t.match(gw.checkQuery("SELECT nextval('audit')"), { allow: false });
  t.match(gw.checkQuery("SELECT nextval('t_seq')"), { allow: true, cached: false });
  t.match(g2.checkQuery("SET client_encoding = 'UTF8'"), { allow: true });
  t.match(g2.checkQuery("SET client_encoding = 'SJIS'"), { allow: false });
  t.match(g2.checkQuery("SELECT table_to_xml('t', true, false, '')"), { allow: true });
  t.match(g2.checkQuery("SELECT table_to_xml('salaries', true, false, '')"), { allow: false });
  // a denial for one literal is not an allow for another, and vice versa
  t.match(g2.checkQuery("SELECT * FROM t WHERE a = 1; SELECT * FROM salaries WHERE b = 'x'"), { allow: false });
  t.match(g2.checkQuery("SELECT * FROM t WHERE a = 2; SELECT * FROM salaries WHERE b = 'y'"), { allow: false });
  // the integer / float token class is part of the key: varchar(1.5) is a syntax error, varchar(10) is not
  t.match(g2.checkQuery('SELECT a::varchar(10) FROM t'), { allow: true });
  t.match(g2.checkQuery('SELECT a::varchar(1.5) FROM t'), { allow: false, sqlstate: '42601' });
  // a disabled cache never reports hits
  const g3 = new AccessPolicy(ROLES, { cacheSize: 0 }).openSession(reader, 'yugabyte');
  g3.checkQuery('SELECT 1');
  t.match(g3.checkQuery('SELECT 1'), { cached: false });
  // texts the scanner does not understand still hit the exact-text cache
  t.match(g.checkQuery('SELECT $$x$$ -- c'), { cached: false });
  t.match(g.checkQuery('SELECT $$x$$ -- c'), { cached: true });
  t.match(g.checkQuery('SELECT $$y$$ -- c'), { cached: false });
});

t.test('redactSql never leaks a literal', async (t) => {
  const cases: Array<[string, string]> = [
    ["SELECT * FROM t WHERE pw = 'hunter2' AND n = 42", 'SELECT * FROM t WHERE pw = ? AND n = ?'],
    ["SELECT 'it''s secret'", 'SELECT ?'],
    ["SELECT E'sec\\'ret'", 'SELECT ?'],
    ['SELECT $$secret$$, $tag$sec$$ret$tag$', 'SELECT ?, ?'],
    ["SELECT x'beef', b'1010', U&'s\\0065cret', N'secret'", 'SELECT ?, ?, ?, ?'],
    ['SELECT 1.5e10, .5, 0x1f', 'SELECT ?, ?, ?'],
    ['SELECT "Ident" FROM "t" WHERE a = $1', 'SELECT "Ident" FROM "t" WHERE a = $1'],
    ['SELECT 1 -- secret comment\n', 'SELECT ?  \n'],
    ['SELECT /* secret /* nested */ */ 1', 'SELECT   ?'],
    ["SELECT 'unterminated secret", 'SELECT ?'],
    ['SELECT $$unterminated secret', 'SELECT ?'],
    ["SELECT 'a'\n'secret'", 'SELECT ?'],
    ["SELECT 'abc\\' , 'secret'", 'SELECT ? , ?'],
  ];
  for (const [sql, want] of cases) {
    const got = redactSql(sql);
    t.equal(got, want, sql);
    t.notMatch(got, /secret|hunter2|beef|1010|42|1\.5/, `no literal in ${got}`);
  }
});

t.test('explain', async (t) => {
  const p = new AccessPolicy(ROLES);
  const lines = explainStatements(p, reader, 'yugabyte', 'SELECT * FROM t; DELETE FROM t; SELECT * FROM salaries; BEGIN');
  t.equal(lines.length, 4);
  t.match(lines[0], { index: 1, allow: true, privilege: 'read', objects: ['read public.t'], rule: 'roles[reader].allow[0]' });
  t.match(lines[1], { index: 2, allow: false, privilege: 'write', rule: 'no-allow' });
  t.match(lines[2], { index: 3, allow: false, rule: 'roles[reader].deny[0]', hint: 'denied by roles[reader].deny[0] (objects: public.salaries)' });
  t.match(lines[3], { index: 4, allow: true, privilege: 'always', rule: 'always allowed' });
  const text = formatExplain(lines);
  t.match(text, /#1 ALLOW read {2}SELECT \* FROM t/);
  t.match(text, /#3 DENY read {2}SELECT \* FROM salaries\n {4}objects: read public.salaries\n {4}rule: roles\[reader\]\.deny\[0\]/);
  t.match(text, /every statement/);
  t.match(explainStatements(p, reader, 'other', 'SELECT 1')[0], { allow: false, rule: 'databases' });
  t.match(explainStatements(p, reader, 'yugabyte', 'SELEC 1')[0], { allow: false, rule: 'unparseable' });
  t.match(explainStatements(p, dba, 'yugabyte', 'CREATE TABLEGROUP g')[0], { allow: true, privilege: 'all' });
  t.match(explainStatements(p, reader, 'yugabyte', 'SELECT * FROM x')[0], { objects: ['read public.x'] });
  const prep = explainStatements(p, writer, 'yugabyte', 'PREPARE a AS DELETE FROM t; EXECUTE a');
  t.match(prep[1], { allow: true, privilege: 'write' });
});

t.test('unparseable statements need an unrestricted `all` and no deny rule', async (t) => {
  const p = new AccessPolicy([
    ...ROLES,
    { name: 'dba_but', databases: ['*'], allow: [rule(['all'])], deny: [rule([], ['public.salaries'])] },
  ]);
  t.match(p.openSession(user('x', ['dba_but']), 'y').checkQuery('CREATE TABLEGROUP g'), { allow: false, sqlstate: '42601' });
  t.match(p.openSession(user('x', ['dba', 'reader']), 'y').checkQuery('CREATE TABLEGROUP g'), { allow: false, sqlstate: '42601' });
  t.match(p.openSession(dba, 'y').checkQuery('CREATE TABLEGROUP g'), { allow: true, privilege: 'all', role: 'dba' });
});

t.test('a user whose allow rules name another schema resolves unqualified names there', async (t) => {
  const p = new AccessPolicy([{ name: 'app', databases: ['*'], allow: [rule(['read'], ['app.*'])], deny: [rule([], ['app.secrets'])] }]);
  const g = p.openSession(user('a', ['app']), 'db');
  t.match(g.checkQuery('SELECT * FROM orders'), { allow: true });
  t.match(g.checkQuery('SELECT * FROM secrets'), { allow: false });
  t.match(g.checkQuery('SELECT * FROM public.orders'), { allow: false });
  t.match(g.checkQuery('SELECT * FROM pg_class'), { allow: true });
  // two schemas on the pinned path: an unqualified name must be allowed in both
  const p2 = new AccessPolicy([{ name: 'two', databases: ['*'], allow: [rule(['read'], ['a.*', 'b.*'])], deny: [rule([], ['b.x'])] }]);
  const g2 = p2.openSession(user('b', ['two']), 'db');
  t.match(g2.checkQuery('SELECT * FROM y'), { allow: true });
  t.match(g2.checkQuery('SELECT * FROM x'), { allow: false });
  t.match(g2.checkQuery('SELECT * FROM a.x'), { allow: true });
});

t.test('checks before initPolicyParser throw a typed error', async (t) => {
  // The parser is loaded by now in this process; the typed error is exported for callers.
  const { ParserNotLoadedError } = await import('../../../src/policy/index.js');
  t.equal(new ParserNotLoadedError().name, 'ParserNotLoadedError');
});
