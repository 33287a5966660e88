// The resolved, validated, frozen configuration the rest of the proxy reads.
// Produced only by config/load.ts; durations are milliseconds, sizes bytes, secrets resolved.

export type HostPort = { readonly host: string; readonly port: number };

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

export type ListenerTlsConfig = {
  readonly mode: 'required' | 'optional';
  readonly certFile: string; // absolute path
  readonly keyFile: string; // absolute path
  readonly clientCAFile: string | null; // absolute path
  readonly minVersion: TlsMinVersion;
};

export type UpstreamTlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';

export type UpstreamConfig = {
  readonly endpoints: readonly HostPort[];
  readonly tls: { readonly mode: UpstreamTlsMode; readonly caFile: string | null };
  readonly connectTimeoutMs: number;
  readonly discovery: { readonly ybServers: boolean; readonly refreshMs: number; readonly usePublicIp: boolean };
  readonly placement: readonly string[];
};

export type UpstreamSecret =
  | { readonly kind: 'password'; readonly value: string; readonly source: string } // source: "env:NAME" or "file:PATH", for messages only
  | { readonly kind: 'passthrough' }
  | { readonly kind: 'none' };

export type UserConfig = {
  readonly name: string;
  readonly auth: 'scram' | 'cert';
  readonly password: string | null; // SCRAM-SHA-256 verifier text (pg_authid format), never a plain password
  readonly clientCertificate: 'optional' | 'required';
  readonly roles: readonly string[];
  readonly from: readonly string[] | null; // CIDRs, already validated
  readonly upstream: { readonly user: string; readonly password: UpstreamSecret };
};

export type Privilege = 'read' | 'write' | 'ddl' | 'execute' | 'admin' | 'all';

export type RuleConfig = {
  readonly privileges: readonly Privilege[]; // empty for a deny rule = every privilege
  readonly objects: readonly string[]; // patterns: "schema.table", "schema.*", "*"; empty = every object
  readonly functions: readonly string[]; // function name patterns; empty = not a function rule
};

export type RoleConfig = {
  readonly name: string;
  readonly databases: readonly string[]; // "*" allowed
  readonly allow: readonly RuleConfig[];
  readonly deny: readonly RuleConfig[];
};

export type LogConfig = {
  readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly format: 'json' | 'pretty';
  readonly statements: 'none' | 'denied' | 'all';
};

export type Config = {
  readonly sourceFile: string | null;
  readonly listen: HostPort;
  readonly tls: ListenerTlsConfig;
  readonly network: { readonly allow: readonly string[]; readonly trustedProxies: readonly string[] };
  readonly upstream: UpstreamConfig;
  readonly peers: readonly HostPort[];
  readonly workers: number | 'auto';
  readonly limits: {
    readonly maxConnections: number;
    readonly maxConnectionsPerUser: number;
    readonly startupTimeoutMs: number;
    readonly idleTimeoutMs: number; // 0 = never
    readonly maxMessageSize: number; // bytes
    readonly authFailures: { readonly max: number; readonly windowMs: number; readonly lockoutMs: number };
  };
  readonly users: readonly UserConfig[];
  readonly roles: readonly RoleConfig[];
  readonly admin: { readonly listen: HostPort | null };
  readonly log: LogConfig;
};
