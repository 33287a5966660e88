// The one registry of what a client may be told. Every refusal the proxy sends is built here from a stable
// code, so no internal reason or err.message ever reaches a client (STYLE: one error registry).
import type { ErrorFields } from './protocol/backend.js';

export const ClientError = {
  tlsRequired: { severity: 'FATAL', code: '28000', message: 'ysqlgate requires TLS; connect with sslmode=require or stronger' },
  authFailed: { severity: 'FATAL', code: '28P01', message: 'password authentication failed for user "%s"' },
  lockedOut: { severity: 'FATAL', code: '28000', message: 'too many failed authentication attempts; try again later' },
  databaseDenied: { severity: 'FATAL', code: '42501', message: 'permission denied for database "%s"' },
  tooManyConnections: { severity: 'FATAL', code: '53300', message: 'sorry, too many clients already' },
  tooManyUserConnections: { severity: 'FATAL', code: '53300', message: 'too many connections for role "%s"' },
  noUpstream: { severity: 'FATAL', code: '08006', message: 'no YSQL endpoint available' },
  upstreamLost: { severity: 'FATAL', code: '08006', message: 'connection to the YSQL endpoint was lost' },
  protocolViolation: { severity: 'FATAL', code: '08P01', message: 'invalid frontend message: %s' },
  startupTimeout: { severity: 'FATAL', code: '08P01', message: 'startup did not complete in time' },
  idleTimeout: { severity: 'FATAL', code: '57P05', message: 'terminating connection due to idle timeout' },
  replicationRefused: { severity: 'FATAL', code: '42501', message: 'replication connections are not allowed through ysqlgate' },
  startupParameterDenied: { severity: 'FATAL', code: '42501', message: '%s' },
  shutdown: { severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' },
  sessionRevoked: { severity: 'FATAL', code: '57P01', message: 'terminating connection due to administrator command' },
  internal: { severity: 'FATAL', code: 'XX000', message: 'ysqlgate internal error' },
} as const satisfies Record<string, ErrorFields>;

export type ClientErrorName = keyof typeof ClientError;

/** Builds the client-visible fields for a registry entry; `arg` fills the one `%s` (user or database name). */
export function clientError(name: ClientErrorName, arg = '', extra?: { detail?: string; hint?: string }): ErrorFields {
  const entry: ErrorFields = ClientError[name];
  return { ...entry, message: entry.message.replace('%s', arg), ...extra };
}
