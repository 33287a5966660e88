// What a session needs from the process around it: the current config, TLS, policy (all swappable on
// reload), metrics, logger, the cancel registry and the session registry. Built by server.ts.
import type { Config, UserConfig } from '../config/types.js';
import type { ListenerTls } from '../net/tls.js';
import type { UpstreamTls } from '../net/upstream.js';
import type { AccessPolicy } from '../policy/index.js';
import type { Metrics } from '../observability/metrics.js';
import type { Logger } from '../observability/logger.js';
import type { CancelRegistry } from './cancel.js';
import type { EndpointPool } from '../net/endpoints.js';
import type { AuthFailureTracker } from '../auth/lockout.js';

export type SessionLimits = {
  /** Counts a session towards the limits; false when over `maxConnections`. */
  admit(): boolean;
  release(): void;
  /** Counts a logged-in user; false when over `maxConnectionsPerUser`. */
  admitUser(user: string): boolean;
  releaseUser(user: string): void;
};

export type ProxyContext = {
  readonly config: () => Config;
  readonly listenerTls: () => ListenerTls;
  readonly upstreamTls: () => UpstreamTls;
  readonly policy: () => AccessPolicy;
  readonly findUser: (name: string) => UserConfig | null;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly cancels: CancelRegistry;
  readonly limits: SessionLimits;
  /** Server secret for mock SCRAM salts of unknown users. */
  readonly mockSecret: Buffer;
  /** Whether SCRAM-SHA-256-PLUS is offered over TLS (always, except in tests of clients' downgrade checks). */
  readonly offerChannelBinding: boolean;
  /** Reads an upstream secret at login time (so rotated files are picked up); null = no password. */
  readonly upstreamPassword: (user: UserConfig) => string | null;
  /** Upstream endpoints: ordered candidates for a new session, session counts, health (net/endpoints.ts). */
  readonly endpoints: EndpointPool;
  /** Brute-force lockout tables (`limits.authFailures`), shared by all sessions and kept across reloads. */
  readonly authFailures: AuthFailureTracker;
  /** Per-user `from`: may this user log in from this (reported) client address? */
  readonly userAllowedFrom: (user: UserConfig, address: string) => boolean;
};
