// `workers: 2` through the CLI: two processes share the port, the primary serves one aggregated /metrics,
// a CancelRequest that lands on the other worker still cancels, SIGHUP reloads every worker, SIGTERM drains.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { httpGet, scrape, scrapeWhen, value } from '../helpers/metrics-text.js';
import { sendAndCollect } from '../helpers/raw-client.js';

const server = await sharedPostgres(t);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const cli = path.join(root, 'src', 'cli.ts');
const ca = fs.readFileSync(server.pki.ca.certFile, 'utf8');

t.test('workers: 2 shares the port, aggregates metrics, routes cancels, reloads and drains', { timeout: 180_000 }, async (t) => {
  const proc = await startServeProcess(t, [...process.execArgv, cli], { pg: server, overrides: { workers: 2 }, logLevel: 'debug' });
  // Workers start in parallel: wait for both, in whichever order they come up.
  await proc.waitFor((l) => l.event === 'proxy.listening' && l.worker === 2);
  await proc.waitFor((l) => l.event === 'proxy.listening' && l.worker === 1);
  const workers = new Set(proc.lines().filter((l) => l.event === 'proxy.listening' && typeof l.worker === 'number').map((l) => l.worker));
  t.same([...workers].sort(), [1, 2], 'two worker processes listening');
  t.equal((await httpGet(proc.adminPort, '/readyz')).status, 200);

  const config = (user: string): pg.ClientConfig => ({
    host: '127.0.0.1', port: proc.port, user, password: proc.passwords[user], database: 'yugabyte', ssl: { ca },
  });
  // Enough sessions that both workers hold some (round-robin distribution by the primary).
  const clients: pg.Client[] = [];
  for (let i = 0; i < 4; i++) {
    const c = new pg.Client(config('admin'));
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
  }
  t.teardown(() => Promise.all(clients.map((c) => c.end().catch(() => undefined))));
  for (const c of clients) t.same((await c.query('select 1 as one')).rows, [{ one: 1 }]);

  // Cancel every session: with round-robin, at least one CancelRequest lands on the worker that does not own it.
  for (const [i, c] of clients.entries()) {
    // An extra connection on odd turns shifts the round-robin so cancels land on both the owner and the other.
    if (i % 2 === 1) await sendAndCollect(proc.port, Buffer.alloc(0), 100);
    const sleeping = c.query('select pg_sleep(30)');
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    const canceller = new pg.Client(config('admin')) as unknown as { cancel(target: pg.Client, query: unknown): void };
    canceller.cancel(c, (c as unknown as { activeQuery: unknown }).activeQuery);
    await t.rejects(sleeping, { code: '57014' }, 'cancelled');
    t.ok(Date.now() - started < 3000, `within ${Date.now() - started} ms`);
  }

  const m = await scrapeWhen(proc.adminPort, (e) => value(e, 'ysqlgate_cancel_requests_total', { result: 'forwarded' }) >= 4);
  t.ok(value(m, 'ysqlgate_client_connections') >= 4, 'open sessions summed over workers');
  t.equal(value(m, 'ysqlgate_cancel_requests_total', { result: 'forwarded' }), 4, 'every cancel forwarded, none unknown');
  t.equal(value(m, 'ysqlgate_cancel_requests_total', { result: 'unknown' }), 0);
  t.ok(value(m, 'ysqlgate_auth_attempts_total', { result: 'success' }) >= 4);
  const relayed = proc.lines().filter((l) => l.event === 'cancel.relayed');
  t.ok(relayed.length >= 1 && relayed.every((l) => l.result === 'forwarded'), `${relayed.length} cancels crossed workers, all forwarded`);
  t.ok(value(m, 'ysqlgate_statement_check_seconds_count') >= 8);
  t.ok(m.text.includes('process_cpu_seconds_total'));
  const sessionsPerWorker = proc.lines().filter((l) => l.event === 'auth.succeeded').reduce((acc, l) => acc.add(l.worker), new Set());
  t.equal(sessionsPerWorker.size, 2, 'sessions landed on both workers');

  proc.child.kill('SIGHUP');
  await proc.waitFor((l) => l.event === 'config.reloaded' && l.worker === 1);
  await proc.waitFor((l) => l.event === 'config.reloaded' && l.worker === 2);
  const after = await scrape(proc.adminPort);
  t.equal(value(after, 'ysqlgate_config_reloads_total', { result: 'success' }), 1, 'one reload, not one per worker');

  await Promise.all(clients.map((c) => c.end()));
  clients.length = 0;
  const code = await proc.stop('SIGTERM');
  t.equal(code, 0, 'primary exits 0 after draining');
  t.ok(proc.lines().some((l) => l.event === 'proxy.stopped' && l.worker === 'primary'));
});
