// Observability end to end against a real PostgreSQL: every PRODUCT.md metric is exposed with HELP text and
// moves when sessions run; audit events honour log.statements with literals replaced; a canary test proves no
// secret (client passwords, upstream secrets, statement literals) reaches logs, /metrics or client errors;
// every metric the Grafana dashboard queries exists on /metrics.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { sendAndCollect } from '../helpers/raw-client.js';
import { exposes, httpGet, scrape, scrapeWhen, value } from '../helpers/metrics-text.js';
import { PRODUCT_METRICS } from '../../src/observability/metrics.js';

const server = await sharedPostgres(t);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

async function connect(proxy: TestProxy, user: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client(proxy.clientConfig(user, extra));
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** pg's own cancel path: a new connection carrying the key ysqlgate issued. */
function cancel(proxy: TestProxy, client: pg.Client): void {
  const canceller = new pg.Client(proxy.clientConfig('admin')) as unknown as { cancel(target: pg.Client, query: unknown): void };
  canceller.cancel(client, (client as unknown as { activeQuery: unknown }).activeQuery);
}

t.test('every PRODUCT.md metric is on /metrics with HELP, and moves with traffic', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const admin = await connect(proxy, 'admin');
  t.teardown(() => admin.end());
  await admin.query('select 1');
  const app = await connect(proxy, 'app');
  t.teardown(() => app.end());
  await app.query('select * from accounts');
  await t.rejects(app.query('select * from salaries'), { code: '42501' });
  await t.rejects(connect(proxy, 'app', { password: 'wrong' }), { code: '28P01' });
  await t.rejects(connect(proxy, 'admin', { ssl: false }), /TLS/);
  const sleeping = admin.query('select pg_sleep(30)');
  await new Promise((r) => setTimeout(r, 200));
  cancel(proxy, admin);
  await t.rejects(sleeping, { code: '57014' });
  const bogus = Buffer.alloc(16);
  bogus.writeInt32BE(16, 0); bogus.writeInt32BE(80877102, 4); bogus.writeInt32BE(7, 8); bogus.writeInt32BE(7, 12);
  await sendAndCollect(proxy.port, bogus, 500);
  proxy.running.reload(proxy.config);

  const m = await scrapeWhen(proxy.adminPort!, (e) => value(e, 'ysqlgate_cancel_requests_total', { result: 'forwarded' }) >= 1);
  for (const name of PRODUCT_METRICS) {
    t.ok(exposes(m, name), `${name} exposed`);
    t.ok((m.help.get(name) ?? '').length > 10, `${name} has HELP text`);
  }
  t.ok(exposes(m, 'process_cpu_seconds_total'), 'prom-client default process metrics');
  t.ok(exposes(m, 'nodejs_eventloop_lag_seconds'), 'prom-client default Node metrics');
  t.equal(m.type.get('ysqlgate_statement_check_seconds'), 'histogram');
  t.equal(m.type.get('ysqlgate_upstream_connect_seconds'), 'histogram');
  t.ok(value(m, 'ysqlgate_client_connections') >= 2, 'two sessions open');
  t.ok(value(m, 'ysqlgate_client_connections_total', { outcome: 'accepted' }) >= 5);
  t.equal(value(m, 'ysqlgate_client_connections_total', { outcome: 'tls_required' }), 1, 'refusal counted by reason');
  t.equal(value(m, 'ysqlgate_client_connections_total', { outcome: 'auth_failed' }), 1);
  t.equal(value(m, 'ysqlgate_auth_attempts_total', { method: 'scram', result: 'failure' }), 1);
  t.ok(value(m, 'ysqlgate_auth_attempts_total', { method: 'scram', result: 'success' }) >= 2);
  t.equal(value(m, 'ysqlgate_statements_total', { role: 'reader', decision: 'deny' }), 1, 'denied statement by role');
  t.ok(value(m, 'ysqlgate_statements_total', { role: 'reader', privilege: 'read', decision: 'allow' }) >= 1);
  const checks = value(m, 'ysqlgate_statement_check_seconds_count');
  t.ok(checks >= 4, `statement checks observed: ${checks}`);
  const checkSeconds = value(m, 'ysqlgate_statement_check_seconds_sum');
  t.ok(checkSeconds > 0 && checkSeconds / checks < 0.05, `mean check ${(checkSeconds / checks * 1e6).toFixed(0)} µs`);
  t.ok(value(m, 'ysqlgate_bytes_total', { direction: 'client_to_upstream' }) > 50);
  t.ok(value(m, 'ysqlgate_bytes_total', { direction: 'upstream_to_client' }) > 50);
  const endpoint = `127.0.0.1:${server.port}`;
  t.equal(value(m, 'ysqlgate_upstream_up', { endpoint }), 1);
  t.ok(value(m, 'ysqlgate_upstream_connect_seconds_count', { endpoint }) >= 2);
  t.equal(value(m, 'ysqlgate_cancel_requests_total', { result: 'forwarded' }), 1);
  t.equal(value(m, 'ysqlgate_cancel_requests_total', { result: 'unknown' }), 1);
  t.equal(value(m, 'ysqlgate_config_reloads_total', { result: 'success' }), 1);
  const expiry = value(m, 'ysqlgate_certificate_expiry_timestamp_seconds', { certificate: 'server' });
  t.ok(expiry > Date.now() / 1000, 'server certificate expiry in the future, in seconds');
  // Labels come from config or fixed code sets: never the client's user name, statement or address.
  t.notMatch(m.text, /wrong|salaries|127\.0\.0\.1:(?!\d+")/);

  const health = await httpGet(proxy.adminPort!, '/healthz');
  t.equal(health.status, 200);
  t.equal((await httpGet(proxy.adminPort!, '/readyz')).status, 200);
  t.equal((await httpGet(proxy.adminPort!, '/nope')).status, 404);
});

t.test('upstream down and back: upstream_up and one upstream.down / upstream.up event per transition', async (t) => {
  const proxy = await startTestProxy(t, {
    pg: server,
    mutate: (doc) => { doc.upstream.endpoints = ['127.0.0.1:1']; doc.upstream.connectTimeout = '1s'; },
  });
  for (let i = 0; i < 2; i++) await t.rejects(connect(proxy, 'admin'), { code: '08006' });
  const m = await scrape(proxy.adminPort!);
  t.equal(value(m, 'ysqlgate_upstream_up', { endpoint: '127.0.0.1:1' }), 0);
  t.equal(value(m, 'ysqlgate_client_connections_total', { outcome: 'no_upstream' }), 2);
  t.equal(proxy.logs().filter((l) => l.event === 'upstream.down').length, 1, 'logged once, not per session');
});

t.test('log.statements: all logs allowed and denied statements with literals replaced', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { log: { statements: 'all' } } });
  const app = await connect(proxy, 'app');
  t.teardown(() => app.end());
  await app.query("select owner from accounts where owner = 'alice' and id = 42");
  await app.query({ text: "select owner from accounts where owner = 'bob' and id = $1", values: [2] });
  await t.rejects(app.query("select * from salaries where employee = 'alice'"), { code: '42501' });
  const allowed = proxy.logs().filter((l) => l.event === 'statement.allowed');
  t.equal(allowed.length, 2);
  t.same(allowed.map((l) => l.kind), ['query', 'parse']);
  t.match(allowed[0]!.statement, /owner = \? and id = \?/);
  t.match(allowed[1]!.statement, /owner = \? and id = \$1/);
  t.ok(allowed.every((l) => l.role === 'reader' && l.privilege === 'read' && l.session && l.user === 'app' && l.database === 'yugabyte'));
  const denied = proxy.logs().filter((l) => l.event === 'statement.denied');
  t.equal(denied.length, 1);
  t.match(denied[0]!.statement, /employee = \?/);
  t.ok(denied[0]!.rule, 'denial names the rule');
  t.notMatch(JSON.stringify(proxy.logs()), /alice|'bob'/, 'no literal in any log line');
});

t.test('log.statements: none logs no statement event; denied (default) logs only denials', async (t) => {
  for (const mode of ['none', 'denied'] as const) {
    const proxy = await startTestProxy(t, { pg: server, overrides: { log: { statements: mode } } });
    const app = await connect(proxy, 'app');
    await app.query('select 1');
    await t.rejects(app.query('select * from salaries'), { code: '42501' });
    await app.end();
    await proxy.close();
    const events = proxy.logs().map((l) => l.event);
    t.notOk(events.includes('statement.allowed'), `${mode}: no statement.allowed`);
    t.equal(events.includes('statement.denied'), mode === 'denied', `${mode}: statement.denied`);
    const closed = proxy.logs().find((l) => l.event === 'session.closed' && l.user === 'app');
    t.ok(closed, 'session.closed logged');
    t.equal(closed!.statements, 2);
    t.ok(closed!.bytesFromClient > 0 && closed!.bytesToClient > 0 && closed!.durationMs >= 0);
    t.equal(closed!.reason, 'client_terminated');
  }
});

t.test('CANARY: secrets and literals never reach logs, /metrics or client errors', async (t) => {
  const canary = (what: string): string => `CANARY${what}x7q9`;
  const secrets = {
    client: canary('CLIENTPW'), wrong: canary('WRONGPW'), upstream: canary('UPSTREAMPW'), badUpstream: canary('BADUPSTREAMPW'),
    literal: canary('LITERAL'), denied: canary('DENIEDLIT'), parse: canary('PARSELIT'),
  };
  await server.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'canary_up') THEN CREATE ROLE canary_up LOGIN; END IF; END $$;
    ALTER ROLE canary_up PASSWORD '${secrets.upstream}'`);
  await server.query('GRANT USAGE ON SCHEMA public TO canary_up; GRANT SELECT ON public.accounts TO canary_up', 'yugabyte');
  const proxy = await startTestProxy(t, {
    pg: server,
    logLevel: 'trace',
    overrides: { log: { statements: 'all' } },
    extraUsers: [
      { name: 'canary', password: secrets.client, roles: ['reader'], upstream: { user: 'canary_up', password: secrets.upstream } },
      { name: 'canary_bad', password: secrets.client, roles: ['reader'], upstream: { user: 'canary_up', password: secrets.badUpstream } },
    ],
  });
  const seen: string[] = [];
  const capture = (err: unknown): void => {
    const e = err as Record<string, unknown>;
    seen.push(String(e.message), String(e.detail ?? ''), String(e.hint ?? ''), JSON.stringify(e));
  };
  const client = await connect(proxy, 'canary');
  client.on('notice', (n) => capture(n));
  const lit = await client.query(`select '${secrets.literal}'::text as v, 12345 as n`);
  t.equal(lit.rows[0].v, secrets.literal, 'the literal did pass through (so the test exercises the path)');
  await client.query({ text: `select '${secrets.parse}' || $1::text as v`, values: ['y'] });
  await client.query(`select * from accounts where owner = '${secrets.literal}'`);
  await client.query(`select * from accounts where owner = '${secrets.literal}'`).catch(capture); // cached path
  await client.query(`select * from salaries where employee = '${secrets.denied}'`).then(() => t.fail('allowed'), capture);
  await client.query(`insert into accounts values (99, '${secrets.denied}', 1)`).then(() => t.fail('allowed'), capture);
  await client.query(`select set_config('role', '${secrets.denied}', false)`).then(() => t.fail('allowed'), capture);
  await client.query(`select '${secrets.denied}`).then(() => t.fail('allowed'), capture); // unterminated literal
  await client.end();
  await connect(proxy, 'canary', { password: secrets.wrong }).then(() => t.fail('logged in'), capture);
  await connect(proxy, 'canary_bad').then(() => t.fail('logged in'), capture);
  await connect(proxy, secrets.wrong).then(() => t.fail('logged in'), capture); // unknown user: a canary name
  t.ok(seen.length >= 12, 'client errors captured');

  const metricsText = (await httpGet(proxy.adminPort!, '/metrics')).body;
  const logs = proxy.logs();
  t.ok(logs.some((l) => l.event === 'statement.allowed' && /'\?'|\?::text/.test(l.statement ?? '')), 'statements were logged, redacted');
  t.ok(logs.some((l) => l.event === 'upstream.login_failed'), 'the bad upstream secret was exercised');
  t.ok(logs.some((l) => l.event === 'auth.failed'), 'the wrong password was exercised');
  const outputs = { logs: JSON.stringify(logs), metrics: metricsText, clientErrors: seen.join('\n') };
  for (const [where, text] of Object.entries(outputs)) {
    for (const [name, secret] of Object.entries(secrets)) {
      if (name === 'wrong' && where === 'logs') continue; // checked below: only as a user name
      t.notOk(text.includes(secret), `${name} canary absent from ${where}`);
    }
    t.notOk(/CANARY(CLIENTPW|UPSTREAMPW|BADUPSTREAMPW|LITERAL|DENIEDLIT|PARSELIT)/.test(text), `no canary fragment in ${where}`);
  }
  // The unknown user's name is client input and may be logged as `user`; the wrong password never is.
  const withWrong = logs.filter((l) => JSON.stringify(l).includes(secrets.wrong));
  t.ok(withWrong.every((l) => l.user === secrets.wrong), 'the canary appears only as the (unknown) user name');
  t.notOk(withWrong.some((l) => Object.entries(l).some(([k, v]) => k !== 'user' && String(v).includes(secrets.wrong))));
  t.notMatch(outputs.logs, /SCRAM-SHA-256\$|r=[A-Za-z0-9+/]{18,}|p=[A-Za-z0-9+/=]{20,}/, 'no verifier or SCRAM message in logs');
});

t.test('every metric the Grafana dashboard queries exists on /metrics', async (t) => {
  const dashboard = JSON.parse(fs.readFileSync(path.join(root, 'deploy/grafana/ysqlgate.json'), 'utf8')) as Record<string, any>;
  const exprs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if ((k === 'expr' || k === 'query') && typeof x === 'string') exprs.push(x);
        else walk(x);
      }
    }
  };
  walk(dashboard);
  t.ok(exprs.length >= 8, `${exprs.length} queries`);
  const proxy = await startTestProxy(t, { pg: server });
  const client = await connect(proxy, 'app');
  await client.query('select 1');
  await client.end();
  const m = await scrape(proxy.adminPort!);
  const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:ysqlgate|process|nodejs)_[a-z0-9_]+)/g)].map((x) => x[1]!)));
  t.ok([...names].filter((n) => n.startsWith('ysqlgate_')).length >= 8, 'the dashboard covers the product metrics');
  for (const name of names) t.ok(exposes(m, name), `${name} exists`);
  const panels = (dashboard.panels as Array<{ title: string }>).map((p) => p.title.toLowerCase()).join('|');
  for (const topic of ['connections', 'refus', 'auth', 'denied', 'upstream', 'check', 'bytes']) t.match(panels, topic, `a panel on ${topic}`);
});
