// An endpoint that is only busy (53300 too many connections) speaks for itself, not for the cluster: the session
// goes to the next endpoint. An error about the request itself (no such database) is reported at once.
import t from 'tap';
import pg from 'pg';
import { startPostgres } from '../../src/demo/postgres.js';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy } from '../helpers/proxy.js';

const good = await sharedPostgres(t);
const full = await startPostgres({ settings: { max_connections: '3', superuser_reserved_connections: '0' } });
t.teardown(() => full.stop());
const fillers: pg.Client[] = [];
for (let i = 0; i < 3; i++) {
  const c = new pg.Client({ host: '127.0.0.1', port: full.port, user: 'postgres', password: full.superuserPassword, database: 'postgres' });
  await c.connect();
  fillers.push(c);
}
t.teardown(() => Promise.all(fillers.map((c) => c.end().catch(() => undefined))));

const proxy = await startTestProxy(t, {
  pg: good,
  overrides: {
    upstream: { endpoints: [`127.0.0.1:${full.port}`, `127.0.0.1:${good.port}`] },
  },
  // The busy server has no TLS: the upstream leg is plaintext here (tls.ca would be refused with mode disable).
  mutate: (doc) => { doc.upstream.tls = { mode: 'disable' }; },
});

t.test('a busy endpoint (53300) is skipped for the next one', async (t) => {
  const c = new pg.Client(proxy.clientConfig('admin'));
  await c.connect();
  t.same((await c.query('select current_setting($1) as port', ['port'])).rows, [{ port: String(good.port) }]);
  await c.end();
  const failed = proxy.logs().filter((l) => l.event === 'upstream.login_failed');
  t.ok(failed.some((l) => l.sqlstate === '53300'), 'the busy endpoint was tried and logged');
});

t.test('an error about the request itself is reported at once, not retried elsewhere', async (t) => {
  const ordered = await startTestProxy(t, {
    pg: good,
    overrides: { upstream: { endpoints: [`127.0.0.1:${good.port}`, `127.0.0.1:${full.port}`] } },
    mutate: (doc) => { doc.upstream.tls = { mode: 'disable' }; },
  });
  const c = new pg.Client({ ...ordered.clientConfig('admin'), database: 'no_such_db' });
  const err = await c.connect().catch((e) => e);
  t.equal(err.code, '3D000', "the server's own answer, as PostgreSQL would give it");
  const failed = ordered.logs().filter((l) => l.event === 'upstream.login_failed');
  t.same(failed.map((l) => l.sqlstate), ['3D000'], 'the second endpoint was not tried');
});
