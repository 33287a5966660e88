// Prometheus metrics (PRODUCT.md "Admin endpoint and metrics"). Labels are bounded by config
// (roles, endpoints, certificate names) or by fixed sets of outcome codes, never by client input.
import client from 'prom-client';

const SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new client.Registry();
  readonly clientConnections = new client.Gauge({
    name: 'ysqlgate_client_connections', help: 'Client connections currently open', registers: [this.registry],
  });
  readonly clientConnectionsTotal = new client.Counter({
    name: 'ysqlgate_client_connections_total', help: 'Client connections by outcome (accepted or the rejection reason code)',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly authAttempts = new client.Counter({
    name: 'ysqlgate_auth_attempts_total', help: 'Client authentication attempts by method and result',
    labelNames: ['method', 'result'] as const, registers: [this.registry],
  });
  readonly statements = new client.Counter({
    name: 'ysqlgate_statements_total', help: 'Statements checked by the access rules, by role, privilege and decision',
    labelNames: ['role', 'privilege', 'decision'] as const, registers: [this.registry],
  });
  readonly statementCheckSeconds = new client.Histogram({
    name: 'ysqlgate_statement_check_seconds', help: 'Time spent deciding whether a statement is allowed',
    buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly bytes = new client.Counter({
    name: 'ysqlgate_bytes_total', help: 'Bytes relayed, by direction (client_to_upstream, upstream_to_client)',
    labelNames: ['direction'] as const, registers: [this.registry],
  });
  readonly upstreamUp = new client.Gauge({
    name: 'ysqlgate_upstream_up', help: '1 when the YSQL endpoint is healthy, else 0',
    labelNames: ['endpoint'] as const, registers: [this.registry],
  });
  readonly upstreamConnectSeconds = new client.Histogram({
    name: 'ysqlgate_upstream_connect_seconds', help: 'Time to connect, secure and log in to a YSQL endpoint',
    labelNames: ['endpoint'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly cancelRequests = new client.Counter({
    name: 'ysqlgate_cancel_requests_total', help: 'Cancel requests by result (forwarded, unknown, failed)',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly configReloads = new client.Counter({
    name: 'ysqlgate_config_reloads_total', help: 'Configuration reloads by result (success, failure)',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly certificateExpiry = new client.Gauge({
    name: 'ysqlgate_certificate_expiry_timestamp_seconds', help: 'Expiry time of each configured certificate (Unix seconds)',
    labelNames: ['certificate'] as const, registers: [this.registry],
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
  }
}
