// The endpoint pool without a network: placement levels, least sessions, health thresholds, discovery rows.
import t from 'tap';
import type { Config, HostPort } from '../../../src/config/types.js';
import { compilePlacement, EndpointPool, FALL } from '../../../src/net/endpoints.js';
import { parseServers } from '../../../src/net/discovery.js';
import { Metrics } from '../../../src/observability/metrics.js';
import { silentLogger } from '../../../src/observability/logger.js';

type Zoned = { port: number; zone: string; region?: string; readReplica?: boolean };

function pool(seeds: number[], placement: string[] = []): { pool: EndpointPool; metrics: Metrics } {
  const config = {
    upstream: {
      endpoints: seeds.map((port) => ({ host: '127.0.0.1', port })),
      tls: { mode: 'disable', caFile: null }, connectTimeoutMs: 100, placement,
      discovery: { ybServers: true, refreshMs: 1000, usePublicIp: false },
    },
    users: [],
  } as unknown as Config;
  const metrics = new Metrics();
  return { pool: new EndpointPool({ config: () => config, tls: () => ({ mode: 'disable', ca: null }), metrics, logger: silentLogger() }), metrics };
}

/** Feeds the pool a yb_servers() answer (the private apply step) without a server. */
function discover(p: EndpointPool, servers: Zoned[]): void {
  const rows = servers.map((s) => ['127.0.0.1', String(s.port), '0', s.readReplica ? 'read_replica' : 'primary', 'aws', s.region ?? 'us-east-1', s.zone, '', `u${s.port}`]);
  (p as unknown as { apply(servers: unknown, source: string): void }).apply(parseServers(rows, false), 'test');
}

const ports = (list: HostPort[]): number[] => list.map((e) => e.port);

t.test('placement patterns', async (t) => {
  const at = (zone: string, region = 'us-east-1', cloud = 'aws') => ({ cloud, region, zone });
  t.ok(compilePlacement('aws.us-east-1.us-east-1a')(at('us-east-1a')));
  t.notOk(compilePlacement('aws.us-east-1.us-east-1a')(at('us-east-1b')));
  t.ok(compilePlacement('aws.us-east-1.*')(at('us-east-1b')));
  t.notOk(compilePlacement('aws.us-west-2.*')(at('us-east-1b')));
  t.ok(compilePlacement('aws.*')(at('x', 'eu-west-1')));
  t.ok(compilePlacement('aws.us-*.*')(at('x', 'us-west-2')));
  t.notOk(compilePlacement('gcp.*.*')(at('x')));
});

t.test('least sessions inside the first placement level, then the next, then anything healthy', async (t) => {
  const { pool: p } = pool([1], ['aws.us-east-1.us-east-1a', 'aws.us-east-1.*']);
  discover(p, [{ port: 1, zone: 'us-east-1a' }, { port: 2, zone: 'us-east-1a' }, { port: 3, zone: 'us-east-1b' }, { port: 4, zone: 'x', region: 'eu-west-1' }]);
  t.same(ports(p.candidates()), [1, 2, 3, 4]);
  const a = p.lease(p.candidates()[0]!);
  t.same(ports(p.candidates()), [2, 1, 3, 4], 'the emptier endpoint of the preferred zone comes first');
  const b = p.lease(p.candidates()[0]!);
  p.lease(p.candidates()[0]!);
  t.same(ports(p.candidates()).slice(0, 2), [2, 1]);
  a.release(); a.release(); // idempotent
  t.same(ports(p.candidates()).slice(0, 2), [1, 2]);
  b.release();
  for (let i = 0; i < FALL; i++) { p.reportFailure({ host: '127.0.0.1', port: 1 }, 'connect_failed'); p.reportFailure({ host: '127.0.0.1', port: 2 }, 'connect_failed'); }
  t.same(ports(p.candidates()), [3, 4, 2, 1], 'zone a down: the next level, then any healthy, then the down ones last');
});

t.test('down after FALL failures, gauge and readiness follow', async (t) => {
  const { pool: p, metrics } = pool([1]);
  const ep = { host: '127.0.0.1', port: 1 };
  t.ok(p.anyHealthy());
  p.reportFailure(ep, 'connect_failed');
  t.ok(p.anyHealthy(), 'one failure is not enough');
  p.reportFailure(ep, 'connect_failed');
  t.notOk(p.anyHealthy());
  const gauge = await metrics.upstreamUp.get();
  t.same(gauge.values.map((v) => [v.labels.endpoint, v.value]), [['127.0.0.1:1', 0]]);
});

t.test('read replicas get no sessions; endpoints gone from yb_servers() are dropped, seeds kept', async (t) => {
  const { pool: p, metrics } = pool([1]);
  discover(p, [{ port: 1, zone: 'a' }, { port: 2, zone: 'a' }, { port: 5, zone: 'a', readReplica: true }]);
  t.same(ports(p.candidates()), [1, 2]);
  discover(p, [{ port: 2, zone: 'a' }]);
  t.same(ports(p.candidates()).sort(), [1, 2], 'the seed stays as a fallback');
  discover(p, [{ port: 1, zone: 'a' }]);
  t.same(ports(p.candidates()), [1]);
  const labels = (await metrics.upstreamUp.get()).values.map((v) => v.labels.endpoint).sort();
  t.same(labels, ['127.0.0.1:1'], 'no gauge left behind for removed endpoints');
});

t.test('parseServers: public_ip when asked, bad rows skipped', async (t) => {
  const rows = [
    ['10.0.0.1', '5433', '3', 'primary', 'aws', 'r', 'z', '34.1.1.1', 'u1'],
    ['10.0.0.2', '5433', '0', 'primary', 'aws', 'r', 'z', '', 'u2'],
    ['10.0.0.3', 'nope', '0', 'primary', 'aws', 'r', 'z', '', 'u3'],
  ];
  t.same(parseServers(rows, true).map((s) => s.endpoint.host), ['34.1.1.1', '10.0.0.2']);
  t.same(parseServers(rows, false).map((s) => s.endpoint.host), ['10.0.0.1', '10.0.0.2']);
});
