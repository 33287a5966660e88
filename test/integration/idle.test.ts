// limits.idleTimeout: a session that sends nothing for that long is ended with FATAL 57P05, but a long-running
// statement (the client waiting on the upstream) is not idleness.
import t from 'tap';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy } from '../helpers/proxy.js';

const server = await sharedPostgres(t);
const proxy = await startTestProxy(t, { pg: server, overrides: { limits: { idleTimeout: '500ms' } } });

t.test('an idle session is ended with 57P05', async (t) => {
  const c = new pg.Client(proxy.clientConfig('admin'));
  await c.connect();
  const ended = new Promise<{ code?: string }>((resolve) => c.on('error', (e) => resolve(e as { code?: string })));
  await c.query('select 1');
  const err = await ended;
  t.equal(err.code, '57P05');
  t.ok(proxy.logs().some((l) => l.event === 'session.closed' && l.reason === 'idle_timeout'));
});

t.test('a statement running longer than the idle timeout is not cut', async (t) => {
  const c = new pg.Client(proxy.clientConfig('admin'));
  await c.connect();
  c.on('error', () => undefined);
  const r = await c.query('select pg_sleep(1.2), 7 as n');
  t.equal(r.rows[0].n, 7);
  await c.end().catch(() => undefined);
});
