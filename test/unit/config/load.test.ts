import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { stringify } from 'yaml';
import { ConfigError, defaultConfigPath, loadConfig, parseConfig, summarizeConfig } from '../../../src/config/load.js';

const VERIFIER =
  'SCRAM-SHA-256$4096:KlpgkuQtuEkQM37Ib0gU6g==$zG7lW9Go4sj7cGlJVV/MR6xFKVTPT39RveMNaPgyeXM=:mtXbbmjlEBdZpdgsGPRa9iQHQfMvu9J4RhenXfdlhDY=';
const BASE = '/etc/ysqlgate';
const MINIMAL = 'tls: { mode: required }\nupstream: { endpoints: [db:5433] }\n';

type Doc = Record<string, unknown>;
const minimal = (): Doc => ({ tls: { mode: 'required' }, upstream: { endpoints: ['db:5433'] } });
const withUsers = (users: unknown[], extra: Doc = {}): Doc => ({
  ...minimal(),
  users,
  roles: [{ name: 'reader', databases: ['yugabyte'], allow: [{ privileges: ['read'], objects: ['public.*'] }] }],
  ...extra,
});

function problems(doc: Doc | string, env: NodeJS.ProcessEnv = {}, baseDir = BASE): string[] {
  const text = typeof doc === 'string' ? doc : stringify(doc);
  try {
    parseConfig(text, { baseDir, env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => (p.path === '' ? p.message : `${p.path}: ${p.message}`));
    throw err;
  }
  return [];
}

function caught(fn: () => unknown): ConfigError | null {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  return null;
}

t.test('minimal config: every default', async (t) => {
  const c = parseConfig(MINIMAL, { baseDir: BASE, env: {} });
  t.equal(c.sourceFile, null);
  t.same(c.listen, { host: '0.0.0.0', port: 5433 });
  t.same(c.tls, {
    mode: 'required', certFile: '/etc/ysqlgate/certs/server.crt', keyFile: '/etc/ysqlgate/certs/server.key',
    clientCAFile: null, minVersion: 'TLSv1.2',
  });
  t.same(c.network, { allow: ['127.0.0.1/32', '::1/128'], trustedProxies: [] });
  t.same(c.upstream, {
    endpoints: [{ host: 'db', port: 5433 }], tls: { mode: 'verify-full', caFile: null }, connectTimeoutMs: 5000,
    discovery: { ybServers: false, refreshMs: 60_000, usePublicIp: false }, placement: [],
  });
  t.same(c.peers, []);
  t.equal(c.workers, 1);
  t.same(c.limits, {
    maxConnections: 1000, maxConnectionsPerUser: 200, startupTimeoutMs: 10_000, idleTimeoutMs: 0,
    maxMessageSize: 64 * 1024 * 1024, authFailures: { max: 5, windowMs: 60_000, lockoutMs: 300_000 },
  });
  t.same(c.users, []);
  t.same(c.roles, []);
  t.same(c.admin, { listen: { host: '127.0.0.1', port: 9187 } });
  t.same(c.log, { level: 'info', format: 'json', statements: 'denied' });
});

t.test('user and rule defaults', async (t) => {
  const c = parseConfig(stringify(withUsers([{ name: 'app', password: VERIFIER, roles: ['reader'] }], {
    roles: [{ name: 'reader', databases: ['yugabyte'], allow: [{ privileges: ['read', 'read'], objects: ['Public.T', '"My S"."Tab"'] }], deny: [{}] }],
  })), { baseDir: BASE, env: {} });
  t.same(c.users[0], {
    name: 'app', auth: 'scram', password: VERIFIER, clientCertificate: 'optional', roles: ['reader'], from: null,
    upstream: { user: 'app', password: { kind: 'none' } },
  });
  t.same(c.roles[0], {
    name: 'reader', databases: ['yugabyte'],
    allow: [{ privileges: ['read'], objects: ['public.t', '"My S"."Tab"'], functions: [] }],
    deny: [{ privileges: [], objects: [], functions: [] }],
  });
});

t.test('values as written are resolved: units, host:port forms, paths, admin off', async (t) => {
  const c = parseConfig(stringify({
    listen: '[::]:6432',
    tls: { mode: 'optional', cert: '/abs/server.crt', key: '../keys/k.pem', clientCA: 'ca.crt', minVersion: 'TLSv1.3' },
    network: { allow: ['10.0.0.0/8'], trustedProxies: ['192.168.0.0/16'] },
    upstream: {
      endpoints: ['yb-0', '[::1]:5433', '10.0.0.5:5434'], tls: { mode: 'verify-ca', ca: 'up/ca.crt' }, connectTimeout: '500ms',
      discovery: { ybServers: true, refresh: '2m' }, placement: ['aws.us-east-1.*'],
    },
    peers: ['peer-1', 'peer-2:7000'],
    workers: 'auto',
    limits: { idleTimeout: '1h', maxMessageSize: 65536, startupTimeout: '3s', authFailures: { max: 3, window: '30s', lockout: 0 === 0 ? '1h' : '' } },
    admin: { listen: 'off' },
    log: { level: 'debug', format: 'pretty', statements: 'all' },
  }), { baseDir: '/srv/gate/config', env: {} });
  t.same(c.listen, { host: '::', port: 6432 });
  t.equal(c.tls.certFile, '/abs/server.crt');
  t.equal(c.tls.keyFile, '/srv/gate/keys/k.pem');
  t.equal(c.tls.clientCAFile, '/srv/gate/config/ca.crt');
  t.equal(c.upstream.tls.caFile, '/srv/gate/config/up/ca.crt');
  t.same(c.upstream.endpoints, [{ host: 'yb-0', port: 5433 }, { host: '::1', port: 5433 }, { host: '10.0.0.5', port: 5434 }]);
  t.equal(c.upstream.connectTimeoutMs, 500);
  t.same(c.upstream.discovery, { ybServers: true, refreshMs: 120_000, usePublicIp: false });
  t.same(c.peers, [{ host: 'peer-1', port: 5433 }, { host: 'peer-2', port: 7000 }]);
  t.equal(c.workers, 'auto');
  t.equal(c.limits.idleTimeoutMs, 3_600_000);
  t.equal(c.limits.maxMessageSize, 65536);
  t.same(c.limits.authFailures, { max: 3, windowMs: 30_000, lockoutMs: 3_600_000 });
  t.equal(c.admin.listen, null);
  const nullAdmin = parseConfig(`${MINIMAL}admin: { listen: null }\nlisten: 127.0.0.1:0\n`, { baseDir: BASE });
  t.equal(nullAdmin.admin.listen, null);
  t.same(nullAdmin.listen, { host: '127.0.0.1', port: 0 }, 'port 0 allowed for listeners (tests)');
});

t.test('result is deep-frozen', async (t) => {
  const c = parseConfig(stringify(withUsers([{ name: 'app', password: VERIFIER, roles: ['reader'], from: ['10.0.0.0/8'] }])), { baseDir: BASE });
  t.ok(Object.isFrozen(c));
  t.ok(Object.isFrozen(c.listen));
  t.ok(Object.isFrozen(c.limits.authFailures));
  t.ok(Object.isFrozen(c.users));
  t.ok(Object.isFrozen(c.users[0]!.from));
  t.ok(Object.isFrozen(c.users[0]!.upstream.password));
  t.ok(Object.isFrozen(c.roles[0]!.allow[0]!.objects));
  t.throws(() => { (c.limits as { maxConnections: number }).maxConnections = 1; });
  t.throws(() => { (c.users as unknown[]).push({}); });
});

t.test('each error at its exact path', async (t) => {
  const user = (extra: Doc): Doc => ({ name: 'u', password: VERIFIER, roles: ['reader'], ...extra });
  const cases: Array<[string, Doc | string, string]> = [
    ['plain-text password', withUsers([user({ name: 'a' }), user({ password: 'hunter2' })]), 'users[1].password: not a SCRAM-SHA-256 verifier'],
    ['verifier with 16-byte keys', withUsers([user({ password: 'SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAA==:AAAAAAAAAAAAAAAAAAAAAA==' })]), 'users[0].password: not a SCRAM-SHA-256 verifier'],
    ['verifier with 0 iterations', withUsers([user({ password: VERIFIER.replace('$4096:', '$0:') })]), 'users[0].password: not a SCRAM-SHA-256 verifier'],
    ['numeric password', withUsers([user({ password: 1234 })]), 'users[0].password: not a SCRAM-SHA-256 verifier'],
    ['unknown key', { ...minimal(), tls: { mode: 'required', foo: 1 } }, 'tls.foo: unknown key'],
    ['unknown top-level key', { ...minimal(), listn: '1.2.3.4:5' }, 'listn: unknown key'],
    ['unknown user key', withUsers([user({ passwd: 'x' })]), 'users[0].passwd: unknown key'],
    ['missing tls.mode', { ...minimal(), tls: {} }, 'tls.mode: is required'],
    ['missing upstream', { tls: { mode: 'required' } }, 'upstream: is required'],
    ['bad enum', { ...minimal(), tls: { mode: 'prefer' } }, 'tls.mode: must be one of: required, optional'],
    ['bad duration', { ...minimal(), limits: { startupTimeout: '10' } }, 'limits.startupTimeout: not a duration: use an integer with a unit, e.g. 500ms, 10s, 5m, 1h'],
    ['zero startup timeout', { ...minimal(), limits: { startupTimeout: '0s' } }, 'limits.startupTimeout: must be greater than 0'],
    ['numeric duration', { ...minimal(), upstream: { endpoints: ['db'], connectTimeout: 5 } }, 'upstream.connectTimeout: not a duration: use an integer with a unit, e.g. 500ms, 10s, 5m, 1h'],
    ['too long duration', { ...minimal(), limits: { authFailures: { lockout: '30d' } } }, 'limits.authFailures.lockout: not a duration: use an integer with a unit, e.g. 500ms, 10s, 5m, 1h'],
    ['bad size', { ...minimal(), limits: { maxMessageSize: '64MB' } }, 'limits.maxMessageSize: not a size: use an integer with B, KiB, MiB or GiB, e.g. 64MiB'],
    ['tiny size', { ...minimal(), limits: { maxMessageSize: '1KiB' } }, 'limits.maxMessageSize: must be between 8KiB and 1GiB'],
    ['octal IPv4 CIDR', { ...minimal(), network: { allow: ['010.0.0.0/8'] } }, 'network.allow[0]: not an IP address or CIDR: "010.0.0.0/8" (IPv4 must be four decimal numbers)'],
    ['host bits set', { ...minimal(), network: { allow: ['127.0.0.1/32', '10.0.0.1/8'] } }, 'network.allow[1]: host bits set in "10.0.0.1/8": the address must be the network address'],
    ['empty allow list', { ...minimal(), network: { allow: [] } }, 'network.allow: must list at least one CIDR'],
    ['bad user from', withUsers([user({ from: ['0x7f.1'] })]), 'users[0].from[0]: not an IP address or CIDR: "0x7f.1" (IPv4 must be four decimal numbers)'],
    ['duplicate user', withUsers([user({ name: 'app' }), user({ name: 'x' }), user({ name: 'app' })]), 'users[2].name: duplicate user "app" (also users[0])'],
    ['undefined role', withUsers([user({ roles: ['reader', 'writer'] })]), 'users[0].roles[1]: role "writer" is not defined in roles'],
    ['duplicate role', { ...minimal(), roles: [{ name: 'r', databases: ['*'] }, { name: 'r', databases: ['*'] }] }, 'roles[1].name: duplicate role "r" (also roles[0])'],
    ['cert user without clientCA', withUsers([{ name: 'c', auth: 'cert', roles: ['reader'] }]), 'users[0].auth: auth: cert requires tls.clientCA'],
    ['cert user with password', withUsers([{ name: 'c', auth: 'cert', password: VERIFIER, roles: ['reader'] }], { tls: { mode: 'required', clientCA: 'ca.crt' } }), 'users[0].password: auth: cert users must not have a password'],
    ['scram user without password', withUsers([{ name: 's', roles: ['reader'] }]), 'users[0].password: is required for auth: scram'],
    ['clientCertificate required without clientCA', withUsers([user({ clientCertificate: 'required' })]), 'users[0].clientCertificate: required needs tls.clientCA'],
    ['inline upstream secret', withUsers([user({ upstream: { user: 'ro', password: 's3cret-inline' } })]), 'users[0].upstream.password: secrets must be { env: NAME } or { file: PATH }, never inline'],
    ['secret with both env and file', withUsers([user({ upstream: { password: { env: 'A', file: 'b' } } })]), 'users[0].upstream.password: secrets must be { env: NAME } or { file: PATH }, never inline'],
    ['missing env var', withUsers([user({}), user({ name: 'v', upstream: { password: { env: 'YB_X' } } })]), 'users[1].upstream.password: environment variable YB_X is not set'],
    ['passthrough with cert', withUsers([{ name: 'c', auth: 'cert', roles: ['reader'], upstream: { password: 'passthrough' } }], { tls: { mode: 'required', clientCA: 'ca.crt' } }), 'users[0].upstream.password: passthrough needs a password from the client; use { env } or { file } with auth: cert'],
    ['user without roles', withUsers([user({ roles: [] })]), 'users[0].roles: must name at least one role'],
    ['role without databases', { ...minimal(), roles: [{ name: 'r', databases: [] }] }, 'roles[0].databases: must list at least one database ("*" for any)'],
    ['bare table pattern', { ...minimal(), roles: [{ name: 'r', databases: ['*'], deny: [{ objects: ['salaries'] }] }] }, 'roles[0].deny[0].objects[0]: object pattern must be schema.table, schema.* or *: "salaries"; name the schema, e.g. public.salaries'],
    ['three-part pattern', { ...minimal(), roles: [{ name: 'r', databases: ['*'], deny: [{ objects: ['a.b.c'] }] }] }, 'roles[0].deny[0].objects[0]: object pattern must be schema.table, schema.* or *: "a.b.c"'],
    ['allow rule without privileges', { ...minimal(), roles: [{ name: 'r', databases: ['*'], allow: [{ objects: ['public.*'] }] }] }, 'roles[0].allow[0].privileges: an allow rule must list privileges'],
    ['bad privilege', { ...minimal(), roles: [{ name: 'r', databases: ['*'], allow: [{ privileges: ['select'] }] }] }, 'roles[0].allow[0].privileges[0]: must be one of: read, write, ddl, execute, admin, all'],
    ['unknown rule key', { ...minimal(), roles: [{ name: 'r', databases: ['*'], allow: [{ privileges: ['read'], tables: ['x'] }] }] }, 'roles[0].allow[0].tables: unknown key'],
    ['endpoint without brackets', { ...minimal(), upstream: { endpoints: ['::1:5433'] } }, 'upstream.endpoints[0]: not host:port: "::1:5433" (write IPv6 addresses in brackets, e.g. [::1]:5433)'],
    ['endpoint port 0', { ...minimal(), upstream: { endpoints: ['db:0'] } }, 'upstream.endpoints[0]: bad port in "db:0": must be 1..65535'],
    ['endpoint numeric-looking host', { ...minimal(), upstream: { endpoints: ['0x7f.1:5433'] } }, 'upstream.endpoints[0]: not a host name or IPv4 address: "0x7f.1"'],
    ['no endpoints', { ...minimal(), upstream: { endpoints: [] } }, 'upstream.endpoints: must list at least one endpoint'],
    ['workers out of range', { ...minimal(), workers: 0 }, 'workers: must be a number 1..64 or auto'],
    ['listen without port', { ...minimal(), listen: '0.0.0.0' }, ''],
    ['admin listen garbage', { ...minimal(), admin: { listen: 'a:b:c' } }, 'admin.listen: not host:port: "a:b:c" (write IPv6 addresses in brackets, e.g. [::1]:5433)'],
    ['admin listen number', { ...minimal(), admin: { listen: 9187 } }, 'admin.listen: must be host:port, null or off'],
    ['top level is a list', '- a\n- b\n', 'must be a mapping'],
    ['empty file', '', 'config is empty'],
    ['YAML duplicate key', 'tls: { mode: required }\ntls: { mode: optional }\nupstream: { endpoints: [db] }\n', 'YAML error at line 2, column 1: Map keys must be unique'],
  ];
  for (const [name, doc, expected] of cases) {
    const got = problems(doc);
    if (expected === '') t.same(got, [], name);
    else t.ok(got.includes(expected), `${name}: ${JSON.stringify(got)}`);
  }
});

t.test('YAML syntax errors carry line and column but not the source line', async (t) => {
  const got = problems('tls:\n  mode: required\n  cert: [unclosed\nupstream: x: y: secretvalue\n');
  t.ok(got.length > 0);
  t.match(got[0], /^YAML error at line \d+, column \d+: /);
  t.notOk(got.join('\n').includes('secretvalue'));
});

t.test('all problems are reported together', async (t) => {
  const got = problems(withUsers([
    { name: 'a', password: 'plain', roles: ['nope'], bogus: 1 },
    { name: 'a', auth: 'cert', roles: ['reader'], upstream: { password: { env: 'MISSING_VAR' } } },
  ], { tls: { mode: 'required', foo: true }, limits: { idleTimeout: 'forever' } }));
  for (const expected of [
    'users[0].password: not a SCRAM-SHA-256 verifier',
    'users[0].bogus: unknown key',
    'users[0].roles[0]: role "nope" is not defined in roles',
    'users[1].name: duplicate user "a" (also users[0])',
    'users[1].auth: auth: cert requires tls.clientCA',
    'users[1].upstream.password: environment variable MISSING_VAR is not set',
    'tls.foo: unknown key',
  ]) {
    t.ok(got.includes(expected), expected);
  }
  t.ok(got.some((p) => p.startsWith('limits.idleTimeout: ')));
  const err = caught(() => parseConfig(stringify(withUsers([{ name: 'a', password: 'plain', roles: ['nope'] }])), { baseDir: BASE }));
  t.ok(err instanceof ConfigError);
  t.match(err?.message, 'users[0].password: not a SCRAM-SHA-256 verifier');
  t.match(err?.message, 'users[0].roles[0]: role "nope" is not defined in roles');
});

t.test('secrets from env and file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-config-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'one'), 'file-secret-1\n');
  fs.writeFileSync(path.join(dir, 'two'), 'file-secret-2\n\n');
  fs.writeFileSync(path.join(dir, 'crlf'), 'file-secret-3\r\n');
  fs.writeFileSync(path.join(dir, 'empty'), '\n');
  const users = (specs: unknown[]) => withUsers(specs.map((password, i) => ({ name: `u${i}`, password: VERIFIER, roles: ['reader'], upstream: { password } })));
  const c = parseConfig(stringify(users([{ env: 'YB_A' }, { file: 'one' }, { file: 'two' }, { file: 'crlf' }, 'passthrough'])), { baseDir: dir, env: { YB_A: 'env-secret' } });
  t.same(c.users.map((u) => u.upstream.password), [
    { kind: 'password', value: 'env-secret', source: 'env:YB_A' },
    { kind: 'password', value: 'file-secret-1', source: `file:${path.join(dir, 'one')}` },
    { kind: 'password', value: 'file-secret-2\n', source: `file:${path.join(dir, 'two')}` },
    { kind: 'password', value: 'file-secret-3', source: `file:${path.join(dir, 'crlf')}` },
    { kind: 'passthrough' },
  ], 'one trailing newline stripped, no more');
  t.same(problems(users([{ file: 'empty' }, { env: 'YB_EMPTY' }, { file: 'absent' }, { file: '.' }]), { YB_EMPTY: '' }, dir), [
    'users[0].upstream.password: secret is empty',
    'users[1].upstream.password: secret is empty',
    `users[2].upstream.password: cannot read secret file ${dir}/absent: ENOENT`,
    `users[3].upstream.password: secret file ${dir} is not a regular file`,
  ]);
});

t.test('no secret value or verifier appears in any ConfigError message', async (t) => {
  const secretValue = 'very-secret-upstream-value';
  const inline = 'inline-plaintext-password';
  const doc = withUsers([
    { name: 'a', password: VERIFIER, roles: ['reader'], upstream: { password: { env: 'SET' } }, extra: 1 },
    { name: 'b', password: inline, roles: ['nope'], upstream: { password: inline } },
    { name: 'c', password: VERIFIER, roles: ['reader'], upstream: { password: { env: 'UNSET' } } },
    { name: 'd', auth: 'cert', password: VERIFIER.slice(0, 40), roles: ['reader'] },
    { name: 'e', password: 12345678, roles: ['reader'], upstream: { password: { env: 'SET', extra: secretValue } } },
  ]);
  let message = '';
  try {
    parseConfig(stringify(doc), { baseDir: BASE, env: { SET: secretValue } });
  } catch (err) {
    message = `${(err as Error).message}\n${JSON.stringify((err as ConfigError).problems)}`;
  }
  t.ok(message.length > 0, 'it failed');
  for (const leak of [secretValue, inline, VERIFIER.slice(19, 43), VERIFIER.slice(44, 80), '12345678']) {
    t.notOk(message.includes(leak), `no ${leak.slice(0, 12)}… in ${message}`);
  }
});

t.test('the example config/ysqlgate.yaml validates', async (t) => {
  const file = path.resolve('config/ysqlgate.yaml');
  t.throws(() => loadConfig(file, {}), /YSQLGATE_DEMO_APP_PASSWORD is not set/);
  const c = loadConfig(file, { YSQLGATE_DEMO_APP_PASSWORD: 'demo-upstream' });
  t.equal(c.sourceFile, file);
  t.equal(c.tls.certFile, path.resolve('certs/server.crt'));
  t.same(c.users.map((u) => [u.name, u.roles, u.upstream.user, u.upstream.password.kind]), [
    ['app', ['reader'], 'app_ro', 'password'], ['admin', ['dba'], 'admin', 'none'],
  ]);
  t.same(c.roles.map((r) => r.name), ['reader', 'writer', 'dba']);
  const summary = summarizeConfig(c);
  t.match(summary, /listen: 0\.0\.0\.0:5433/);
  t.match(summary, /upstream: 127\.0\.0\.1:5432 \(tls disable/);
  t.match(summary, /app: scram, roles reader; upstream app_ro \(env:YSQLGATE_DEMO_APP_PASSWORD\)/);
  t.notOk(summary.includes('SCRAM-SHA-256$'), 'no verifier in the summary');
  t.notOk(summary.includes('demo-upstream'), 'no secret in the summary');
});

t.test('loadConfig: missing file and defaultConfigPath', async (t) => {
  const err = caught(() => loadConfig('/nonexistent/ysqlgate.yaml', {}));
  t.ok(err instanceof ConfigError);
  t.same(err?.problems, [{ path: '', message: 'cannot read config file /nonexistent/ysqlgate.yaml: ENOENT' }]);
  t.equal(defaultConfigPath({}), 'config/ysqlgate.yaml');
  t.equal(defaultConfigPath({ YSQLGATE_CONFIG: '/etc/g.yaml' }), '/etc/g.yaml');
});
