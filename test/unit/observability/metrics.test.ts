// Metrics, the logger's pretty fallback and the cluster helpers, without a network.
import t from 'tap';
import { Writable } from 'node:stream';
import client from 'prom-client';
import { Metrics, PRODUCT_METRICS, isRefusal } from '../../../src/observability/metrics.js';
import { createLogger } from '../../../src/observability/logger.js';
import { combineCancelResults, workerCount } from '../../../src/workers.js';

function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Array<Record<string, any>> } {
  const out: string[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { out.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  return { logger: createLogger({ level: 'debug', format: 'json' }, sink), lines: () => out.map((l) => JSON.parse(l)) };
}

t.test('every product metric is registered with HELP and without client-controlled labels', async (t) => {
  const m = new Metrics({ defaultMetrics: false });
  const json = await m.registry.getMetricsAsJSON();
  t.same(json.map((x) => x.name).sort(), [...PRODUCT_METRICS].sort());
  const allowedLabels = new Set(['outcome', 'method', 'result', 'role', 'privilege', 'decision', 'direction', 'endpoint', 'certificate', 'le']);
  for (const metric of json) {
    t.ok(metric.help.length > 10, `${metric.name} HELP`);
    for (const v of metric.values) for (const l of Object.keys(v.labels)) t.ok(allowedLabels.has(l), `${metric.name}{${l}}`);
  }
  t.match(json.find((x) => x.name === 'ysqlgate_statement_check_seconds')!, { type: 'histogram' });
});

t.test('refusals are every pre-relay close except the client simply leaving', async (t) => {
  for (const r of ['tls_required', 'auth_failed', 'too_many_connections', 'no_upstream', 'startup_timeout', 'locked_out']) t.ok(isRefusal(r), r);
  for (const r of ['client_closed', 'client_terminated', 'cancel_request', 'auth_abandoned']) t.notOk(isRefusal(r), r);
});

t.test('cluster aggregation: counters add up, reload counts and expiry do not', async (t) => {
  const a = new Metrics({ defaultMetrics: false });
  const b = new Metrics({ defaultMetrics: false });
  for (const m of [a, b]) {
    m.configReloads.inc({ result: 'success' });
    m.clientConnections.inc();
    m.certificateExpiry.set({ certificate: 'server' }, 2000);
  }
  b.certificateExpiry.set({ certificate: 'server' }, 1000);
  const text = await client.AggregatorRegistry.aggregate([await a.registry.getMetricsAsJSON(), await b.registry.getMetricsAsJSON()]).metrics();
  t.match(text, /ysqlgate_config_reloads_total\{result="success"\} 1\n/);
  t.match(text, /ysqlgate_client_connections 2\n/);
  t.match(text, /ysqlgate_certificate_expiry_timestamp_seconds\{certificate="server"\} 1000\n/);
});

t.test('cancel results and worker counts', async (t) => {
  t.equal(combineCancelResults([]), 'unknown');
  t.equal(combineCancelResults(['unknown', 'forwarded']), 'forwarded');
  t.equal(combineCancelResults(['unknown', 'failed']), 'failed');
  t.equal(workerCount(3), 3);
  t.ok(workerCount('auto') >= 1);
});

t.test('log.format pretty without pino-pretty falls back to JSON instead of crashing', async (t) => {
  const logger = createLogger({ level: 'info', format: 'pretty' });
  t.ok(logger.info);
});
