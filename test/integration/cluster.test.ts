// YSQL cluster awareness end to end: three PostgreSQL servers stand in for three tservers; the seed one answers
// yb_servers() (a SQL function over a table) describing all three in two zones. Discovery, least-connections
// balancing inside the preferred zone, placement fallback, health checks (/readyz, upstream_up, upstream.down/up)
// and a cancel sent to the other of two ysqlgate peers.
import t from 'tap';
import pg from 'pg';
import { sharedPostgres, type SharedPg } from '../helpers/pg.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';
import { sendAndCollect } from '../helpers/raw-client.js';
import { buildCancelRequest } from '../helpers/frontend-builders.js';
import { startPostgres, type PgInstance } from '../../src/demo/postgres.js';
import { inDatabase, seedDemoDatabase } from '../../src/demo/seed.js';
import { FORWARDED_BIT, TAG_SHIFT } from '../../src/net/peers.js';

const HEALTH_MS = 200; // discovery.refresh; health checks run at this interval too

const seed = await sharedPostgres(t);
const pgB = await startTwin(seed);
const pgC = await startTwin(seed);
const zoneOf = new Map([[seed.port, 'us-east-1a'], [pgB.port, 'us-east-1a'], [pgC.port, 'us-east-1b']]);

await inDatabase(seed, `
  CREATE TABLE IF NOT EXISTS yb_topology (host text, port bigint, num_connections bigint, node_type text, cloud text,
    region text, zone text, public_ip text, uuid text);
  TRUNCATE yb_topology;
  INSERT INTO yb_topology VALUES
    ('127.0.0.1', ${seed.port}, 0, 'primary', 'aws', 'us-east-1', 'us-east-1a', '', 'uuid-a'),
    ('127.0.0.1', ${pgB.port}, 0, 'primary', 'aws', 'us-east-1', 'us-east-1a', '', 'uuid-b'),
    ('127.0.0.1', ${pgC.port}, 0, 'primary', 'aws', 'us-east-1', 'us-east-1b', '', 'uuid-c');
  CREATE OR REPLACE FUNCTION yb_servers() RETURNS SETOF yb_topology LANGUAGE sql STABLE AS 'SELECT * FROM yb_topology';
  GRANT SELECT ON yb_topology TO app_ro;`);

/** A second "tserver": same TLS, same seeded schema and the same upstream passwords as the seed. */
async function startTwin(like: SharedPg): Promise<PgInstance> {
  const pki = like.pki;
  const server = await startPostgres({ ssl: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.ca.certFile } });
  t.teardown(() => server.stop());
  await seedDemoDatabase(server);
  for (const [role, password] of Object.entries(like.upstream)) await server.query(`ALTER ROLE ${role} PASSWORD '${password}'`);
  return server;
}

const proxy = await startTestProxy(t, {
  pg: seed,
  overrides: {
    upstream: {
      endpoints: [`127.0.0.1:${seed.port}`],
      connectTimeout: '1s',
      discovery: { ybServers: true, refresh: `${HEALTH_MS}ms`, usePublicIp: false },
      placement: ['aws.us-east-1.us-east-1a', 'aws.us-east-1.*'],
    },
  },
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 5000): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function admin(p: TestProxy, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${p.adminPort}${path}`);
  return { status: res.status, body: await res.text() };
}

async function upstreamUp(p: TestProxy, port: number): Promise<number | null> {
  const { body } = await admin(p, '/metrics');
  const m = new RegExp(`ysqlgate_upstream_up\\{endpoint="127\\.0\\.0\\.1:${port}"\\} (\\d)`).exec(body);
  return m ? Number(m[1]) : null;
}

const open: pg.Client[] = [];
async function session(p: TestProxy = proxy): Promise<{ client: pg.Client; port: number }> {
  const client = new pg.Client(p.clientConfig('admin'));
  client.on('error', () => undefined);
  await client.connect();
  open.push(client);
  const port = Number((await client.query('select inet_server_port() as port')).rows[0].port);
  return { client, port };
}
async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.end().catch(() => undefined)));
  await sleep(50);
}
const count = (ports: number[], port: number): number => ports.filter((p) => p === port).length;

t.test('yb_servers() discovery adds the other tservers with their zones', async (t) => {
  await until('three endpoints', () => proxy.running.server.endpoints.snapshot().length === 3);
  const byEndpoint = new Map(proxy.running.server.endpoints.snapshot().map((e) => [e.endpoint, e]));
  t.equal(byEndpoint.get(`127.0.0.1:${pgC.port}`)?.placement, 'aws.us-east-1.us-east-1b');
  t.equal(byEndpoint.get(`127.0.0.1:${pgB.port}`)?.placement, 'aws.us-east-1.us-east-1a');
  t.equal(await upstreamUp(proxy, pgB.port), 1);
  t.equal(await upstreamUp(proxy, pgC.port), 1);
  t.ok(proxy.logs().some((l) => l.event === 'upstream.discovered' && l.endpoints === 3));
  t.equal((await admin(proxy, '/readyz')).status, 200);
});

t.test('sessions spread by least connections inside the preferred zone', async (t) => {
  t.teardown(closeAll);
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push((await session()).port);
  t.equal(count(ports, seed.port), 3, 'seed (zone a) gets half');
  t.equal(count(ports, pgB.port), 3, 'B (zone a) gets half');
  t.equal(count(ports, pgC.port), 0, 'zone b is not used while zone a has a healthy endpoint');
  // Concurrent starts spread too: the count is taken before the upstream connect.
  const burst = await Promise.all(Array.from({ length: 4 }, () => session()));
  t.equal(count(burst.map((s) => s.port), seed.port), 2);
  t.equal(count(burst.map((s) => s.port), pgB.port), 2);
});

t.test('a stopped tserver is marked down within about one interval; sessions stay in the zone', async (t) => {
  t.teardown(closeAll);
  const stoppedAt = Date.now();
  pgB.kill();
  const first = await session();
  t.equal(first.port, seed.port, 'the next session lands on the healthy endpoint of the preferred zone');
  await until('B down', async () => (await upstreamUp(proxy, pgB.port)) === 0, 3000);
  const detectMs = Date.now() - stoppedAt;
  t.ok(detectMs < 2 * HEALTH_MS + 300, `marked down after ${detectMs} ms`);
  t.ok(proxy.logs().some((l) => l.event === 'upstream.down' && l.endpoint === `127.0.0.1:${pgB.port}`));
  for (let i = 0; i < 3; i++) t.equal((await session()).port, seed.port);
  t.equal((await admin(proxy, '/readyz')).status, 200, 'still ready: other endpoints are healthy');

  await pgB.restart();
  await until('B up', async () => (await upstreamUp(proxy, pgB.port)) === 1, 5000);
  t.ok(proxy.logs().some((l) => l.event === 'upstream.up' && l.endpoint === `127.0.0.1:${pgB.port}`));
  // B has no sessions now: least connections sends the next ones there.
  t.equal((await session()).port, pgB.port);
});

t.test('placement falls back to the next level, and back again', async (t) => {
  t.teardown(closeAll);
  seed.kill();
  pgB.kill();
  await until('zone a down', async () => (await upstreamUp(proxy, seed.port)) === 0 && (await upstreamUp(proxy, pgB.port)) === 0, 3000);
  const fallback = await session();
  t.equal(fallback.port, pgC.port, 'zone b serves when zone a has no healthy endpoint');
  t.equal(zoneOf.get(fallback.port), 'us-east-1b');
  t.equal((await admin(proxy, '/readyz')).status, 200);

  await Promise.all([seed.restart(), pgB.restart()]);
  await until('zone a up', async () => (await upstreamUp(proxy, seed.port)) === 1 && (await upstreamUp(proxy, pgB.port)) === 1, 5000);
  t.equal(zoneOf.get((await session()).port), 'us-east-1a', 'back to the preferred zone');
});

t.test('/readyz is 503 when no endpoint is healthy, and 200 again after', async (t) => {
  t.teardown(closeAll);
  seed.kill(); pgB.kill(); pgC.kill();
  await until('not ready', async () => (await admin(proxy, '/readyz')).status === 503, 3000);
  t.match((await admin(proxy, '/readyz')).body, /not ready/);
  await t.rejects(session(), { code: '08006' }, 'a new session is refused with no upstream');
  await Promise.all([seed.restart(), pgB.restart(), pgC.restart()]);
  await until('ready', async () => (await admin(proxy, '/readyz')).status === 200, 5000);
  t.ok((await session()).port > 0);
});

t.test('cancel sent to the other ysqlgate peer cancels the query', async (t) => {
  const ports = [await freePort(), await freePort()];
  const peers = ports.map((p) => `127.0.0.1:${p}`);
  const [g0, g1] = await Promise.all(ports.map((port) => startTestProxy(t, {
    pg: seed, overrides: { listen: `127.0.0.1:${port}`, peers },
  })));
  const client = new pg.Client(g0!.clientConfig('admin'));
  await client.connect();
  t.teardown(() => client.end());
  const pid = (client as unknown as { processID: number }).processID;
  t.equal((pid >>> TAG_SHIFT) & 0xff, 1, 'the key carries the owner\'s tag (its place in peers)');
  const started = Date.now();
  const sleeping = client.query('select pg_sleep(30)');
  await sleep(300);
  const canceller = new pg.Client(g1!.clientConfig('admin'));
  (canceller as unknown as { cancel(target: pg.Client, query: unknown): void }).cancel(client, (client as unknown as { activeQuery: unknown }).activeQuery);
  await t.rejects(sleeping, { code: '57014' });
  t.ok(Date.now() - started < 2500, `cancelled after ${Date.now() - started} ms`);
  await until('g1 counted the relay to its peer', async () => /result="peer"\} 1/.test(await g1!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total')));
  // Counted once the upstream closes the cancel connection, which can be after the client already saw 57014.
  await until('g0 counted the forward', async () => /result="forwarded"\} 1/.test(await g0!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total')));
  t.same((await client.query('select 1 as ok')).rows, [{ ok: 1 }]);

  // A key tagged for g1 sent to g0 goes to g1 once; g1 does not know it and never sends it back.
  const foreign = (2 << TAG_SHIFT) | 12345;
  const { bytes } = await sendAndCollect(g0!.port, buildCancelRequest(foreign, 42), 1000);
  t.equal(bytes.length, 0, 'nothing is sent back');
  await until('g1 saw it', async () => /result="unknown"\} 1/.test(await g1!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total')));
  t.match(await g1!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total'), /result="peer"\} 1$/m, 'g1 forwarded nothing more');
  // A forwarded request (FORWARDED bit) is looked up locally only, even when its tag names another replica.
  const g0Before = await g0!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total');
  await sendAndCollect(g1!.port, buildCancelRequest(FORWARDED_BIT | (1 << TAG_SHIFT) | 999, 42), 500);
  await until('g1 counted it', async () => /result="unknown"\} 2/.test(await g1!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total')));
  await sleep(200);
  t.equal(await g0!.running.metrics.registry.getSingleMetricAsString('ysqlgate_cancel_requests_total'), g0Before, 'g0 received nothing');
});
