// Endpoint health probes: connect, TLS (as configured), log in as ysqlgate's service identity, `SELECT 1`.
// The service identity is the first configured user with a stored upstream password (or none, for trust):
// no extra config key, and an operator who can log in through ysqlgate can also be health-checked with.
// Returns outcomes as values; endpoints.ts decides state, metrics and logs.
import type { Config, HostPort } from '../config/types.js';
import { connectTransport, openUpstream, UpstreamError, type UpstreamTls } from './upstream.js';
import { closeQuietly, queryRows } from './upstream-query.js';

export type ServiceIdentity = { readonly user: string; readonly password: string | null; readonly database: string };

export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** YSQL's default database; it exists on every YugabyteDB cluster. Plain PostgreSQL falls back to `postgres`. */
export const SERVICE_DATABASE = 'yugabyte';
const FALLBACK_DATABASE = 'postgres';
const INVALID_CATALOG_NAME = '3D000';

/** Who ysqlgate logs in as for health checks and discovery; null when every user is passthrough. */
export function serviceIdentity(config: Config): ServiceIdentity | null {
  const withPassword = config.users.find((u) => u.upstream.password.kind === 'password');
  const user = withPassword ?? config.users.find((u) => u.upstream.password.kind === 'none');
  if (!user) return null;
  const secret = user.upstream.password;
  return { user: user.upstream.user, password: secret.kind === 'password' ? secret.value : null, database: SERVICE_DATABASE };
}

/** One health check; never throws. Without an identity it checks connect + TLS only. */
export async function probeEndpoint(endpoint: HostPort, tls: UpstreamTls, identity: ServiceIdentity | null, timeoutMs: number): Promise<ProbeResult> {
  try {
    if (!identity) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        const socket = await connectTransport(endpoint, tls, controller.signal);
        socket.destroy();
      } finally {
        clearTimeout(timer);
      }
      return { ok: true };
    }
    const connection = await openAsService(endpoint, tls, identity, timeoutMs);
    try {
      const rows = await queryRows(connection, 'SELECT 1', timeoutMs);
      return rows.length === 1 && rows[0]![0] === '1' ? { ok: true } : { ok: false, reason: 'unexpected_result' };
    } finally {
      closeQuietly(connection);
    }
  } catch (err) {
    return { ok: false, reason: err instanceof UpstreamError ? err.reason : 'query_failed' };
  }
}

/** Logs in as the service identity; on a server without `yugabyte` (plain PostgreSQL) tries `postgres`. */
async function openAsService(endpoint: HostPort, tls: UpstreamTls, identity: ServiceIdentity, timeoutMs: number) {
  const login = { ...identity, parameters: { application_name: 'ysqlgate-health' } };
  try {
    return await openUpstream(endpoint, tls, login, timeoutMs);
  } catch (err) {
    const noSuchDatabase = err instanceof UpstreamError && err.serverError?.code === INVALID_CATALOG_NAME;
    if (!noSuchDatabase || identity.database !== SERVICE_DATABASE) throw err;
    return openUpstream(endpoint, tls, { ...login, database: FALLBACK_DATABASE }, timeoutMs);
  }
}
