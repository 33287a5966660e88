// The upstream login answers whatever the server asks: md5, cleartext password, trust (SCRAM is covered by every
// other test). One throwaway PostgreSQL whose pg_hba picks the method per upstream role.
import t from 'tap';
import pg from 'pg';
import { startPostgres } from '../../src/demo/postgres.js';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy } from '../helpers/proxy.js';

const shared = await sharedPostgres(t); // its PKI and the helper's defaults
const server = await startPostgres({
  settings: { password_encryption: 'md5' },
  hba: [
    'host all up_md5 127.0.0.1/32 md5',
    'host all up_clear 127.0.0.1/32 password',
    'host all up_trust 127.0.0.1/32 trust',
  ],
});
t.teardown(() => server.stop());
await server.query(`
  create role up_md5 login password 'md5-secret';
  create role up_clear login password 'clear-secret';
  create role up_trust login;`);

const proxy = await startTestProxy(t, {
  pg: shared,
  users: [
    { name: 'viamd5', roles: ['dba'], upstream: { user: 'up_md5', password: 'md5-secret' } },
    { name: 'viaclear', roles: ['dba'], upstream: { user: 'up_clear', password: 'clear-secret' } },
    { name: 'viatrust', roles: ['dba'], upstream: { user: 'up_trust', password: 'unused' } },
  ],
  overrides: { upstream: { endpoints: [`127.0.0.1:${server.port}`], tls: { mode: 'disable' } } },
});

for (const [user, upstream] of [['viamd5', 'up_md5'], ['viaclear', 'up_clear'], ['viatrust', 'up_trust']] as const) {
  t.test(`${user}: logs in upstream as ${upstream}`, async (t) => {
    const c = new pg.Client({ ...proxy.clientConfig(user), database: 'postgres' });
    await c.connect();
    t.same((await c.query('select current_user as u')).rows, [{ u: upstream }]);
    await c.end();
  });
}

t.test('a wrong md5 secret is 08006 for the client, never the upstream message', async (t) => {
  const bad = await startTestProxy(t, {
    pg: shared,
    users: [{ name: 'viamd5', roles: ['dba'], upstream: { user: 'up_md5', password: 'not-it' } }],
    overrides: { upstream: { endpoints: [`127.0.0.1:${server.port}`], tls: { mode: 'disable' } } },
  });
  const c = new pg.Client({ ...bad.clientConfig('viamd5'), database: 'postgres' });
  const err = await c.connect().catch((e) => e);
  t.equal(err.code, '08006');
  t.notMatch(err.message, /up_md5/, 'the upstream role name is not revealed');
});
