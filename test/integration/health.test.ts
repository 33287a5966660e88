// Health checks against a plain PostgreSQL that has no `yugabyte` database: the probe falls back to `postgres`,
// so the endpoint stays up and /readyz stays 200 (without the fallback every probe fails with 3D000).
import t from 'tap';
import { startPostgres } from '../../src/demo/postgres.js';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy } from '../helpers/proxy.js';

const seeded = await sharedPostgres(t); // only for its test PKI and helpers' shape
const plain = await startPostgres({});
t.teardown(() => plain.stop());
await plain.query("alter role postgres password 'plain-pg-password'");

t.test('a PostgreSQL without a yugabyte database stays healthy', async (t) => {
  const proxy = await startTestProxy(t, {
    pg: seeded,
    users: [{ name: 'ops', roles: ['dba'], upstream: { user: 'postgres', password: 'plain-pg-password' } }],
    overrides: {
      upstream: {
        endpoints: [`127.0.0.1:${plain.port}`], tls: { mode: 'disable' },
        discovery: { ybServers: false, refresh: '200ms', usePublicIp: false },
      },
    },
  });
  await new Promise((r) => setTimeout(r, 1200)); // several health intervals
  const metrics = await (await fetch(`http://127.0.0.1:${proxy.adminPort}/metrics`)).text();
  t.match(metrics, new RegExp(`ysqlgate_upstream_up\\{endpoint="127.0.0.1:${plain.port}"\\} 1`));
  t.equal((await fetch(`http://127.0.0.1:${proxy.adminPort}/readyz`)).status, 200);
  t.notOk(proxy.logs().some((l) => l.event === 'upstream.down'), 'never marked down');
});
