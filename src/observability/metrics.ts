// Prometheus metrics (PRODUCT.md "Admin endpoint and metrics"). Labels are bounded by config
// (roles, endpoints, certificate names) or by fixed sets of outcome codes, never by client input.
// Each metric names how it aggregates across cluster workers (src/workers.ts): counters and
// connection gauges add up; per-process facts (reload count, certificate expiry) must not.
import client from 'prom-client';

/** Sub-millisecond to seconds: a statement check is tens of µs, an upstream TLS login tens of ms. */
export const SECONDS_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Every metric PRODUCT.md names (without prom-client's default metrics). */
export const PRODUCT_METRICS = [
  'ysqlgate_client_connections', 'ysqlgate_client_connections_total', 'ysqlgate_auth_attempts_total',
  'ysqlgate_statements_total', 'ysqlgate_statement_check_seconds', 'ysqlgate_bytes_total', 'ysqlgate_upstream_up',
  'ysqlgate_upstream_connect_seconds', 'ysqlgate_cancel_requests_total', 'ysqlgate_config_reloads_total',
  'ysqlgate_certificate_expiry_timestamp_seconds',
] as const;

/** Close reasons of a session that never reached the relay and that are not refusals. */
const NOT_REFUSALS = new Set(['client_closed', 'client_terminated', 'cancel_request', 'auth_abandoned']);

/** Whether a session closed before relaying for `reason` was refused (counted in client_connections_total). */
export function isRefusal(reason: string): boolean {
  return !NOT_REFUSALS.has(reason);
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly clientConnections = new client.Gauge({
    name: 'ysqlgate_client_connections', help: 'Client connections currently open', registers: [this.registry],
  });
  readonly clientConnectionsTotal = new client.Counter({
    name: 'ysqlgate_client_connections_total',
    help: 'Client connections by outcome: accepted, or the refusal reason code (address_not_allowed, tls_required, auth_failed, ...)',
    labelNames: ['outcome'] as const, registers: [this.registry],
  });
  readonly authAttempts = new client.Counter({
    name: 'ysqlgate_auth_attempts_total', help: 'Client authentication attempts by method (scram, cert) and result (success, failure)',
    labelNames: ['method', 'result'] as const, registers: [this.registry],
  });
  readonly statements = new client.Counter({
    name: 'ysqlgate_statements_total', help: 'Statements checked by the access rules, by role, privilege and decision (allow, deny)',
    labelNames: ['role', 'privilege', 'decision'] as const, registers: [this.registry],
  });
  readonly statementCheckSeconds = new client.Histogram({
    name: 'ysqlgate_statement_check_seconds', help: 'Time spent deciding whether a statement is allowed, in seconds',
    buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly bytes = new client.Counter({
    name: 'ysqlgate_bytes_total', help: 'Bytes relayed after login, by direction (client_to_upstream, upstream_to_client)',
    labelNames: ['direction'] as const, registers: [this.registry],
  });
  readonly upstreamUp = new client.Gauge({
    name: 'ysqlgate_upstream_up', help: '1 when the last connection attempt to the YSQL endpoint succeeded, else 0',
    labelNames: ['endpoint'] as const, registers: [this.registry], aggregator: 'min',
  });
  readonly upstreamConnectSeconds = new client.Histogram({
    name: 'ysqlgate_upstream_connect_seconds', help: 'Time to connect, secure and log in to a YSQL endpoint, in seconds',
    labelNames: ['endpoint'] as const, buckets: SECONDS_BUCKETS, registers: [this.registry],
  });
  readonly cancelRequests = new client.Counter({
    name: 'ysqlgate_cancel_requests_total', help: 'Cancel requests by result (forwarded, unknown, failed)',
    labelNames: ['result'] as const, registers: [this.registry],
  });
  readonly configReloads = new client.Counter({
    // Every worker reloads the same file: across workers the count is the same, not a sum.
    name: 'ysqlgate_config_reloads_total', help: 'Configuration reloads by result (success, failure)',
    labelNames: ['result'] as const, registers: [this.registry], aggregator: 'max',
  });
  readonly certificateExpiry = new client.Gauge({
    name: 'ysqlgate_certificate_expiry_timestamp_seconds', help: 'Expiry time of each configured certificate, in Unix seconds',
    labelNames: ['certificate'] as const, registers: [this.registry], aggregator: 'min',
  });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: this.registry });
    // Zero series for the fixed label sets, so dashboards and alerts see 0 instead of "no data".
    for (const result of ['success', 'failure']) this.configReloads.inc({ result }, 0);
    for (const result of ['forwarded', 'unknown', 'failed']) this.cancelRequests.inc({ result }, 0);
    for (const direction of ['client_to_upstream', 'upstream_to_client']) this.bytes.inc({ direction }, 0);
  }
}
