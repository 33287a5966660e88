// The admin HTTP endpoint: /metrics (Prometheus text), /healthz (process alive), /readyz (listening, config
// valid, an upstream healthy, not draining). It exposes no configuration and no session data.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostPort } from '../config/types.js';

export type Readiness = () => { ready: boolean; reason: string };

/** What /metrics serves: one process's `Metrics`, or the cluster primary's aggregate of its workers. */
export type MetricsSource = { readonly registry: { metrics(): Promise<string>; readonly contentType: string } };

export type AdminServer = { port: number; close(): Promise<void> };

export async function startAdminServer(listen: HostPort, metrics: MetricsSource, readiness: Readiness): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    void handle(req, res, metrics, readiness);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function handle(req: http.IncomingMessage, res: http.ServerResponse, metrics: MetricsSource, readiness: Readiness): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n');
  if (path === '/healthz') return reply(res, 200, 'ok\n');
  if (path === '/readyz') {
    const r = readiness();
    return reply(res, r.ready ? 200 : 503, `${r.ready ? 'ready' : 'not ready'}: ${r.reason}\n`);
  }
  if (path === '/metrics') {
    try {
      const body = await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(body);
    } catch {
      reply(res, 500, 'metrics unavailable\n');
    }
    return;
  }
  reply(res, 404, 'not found\n');
}

function reply(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}
