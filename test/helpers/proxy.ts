// Starts ysqlgate in-process for integration tests: writes a real config YAML (PRODUCT.md format), loads it
// with parseConfig, runs runProxy on 127.0.0.1:0 (admin 127.0.0.1:0), captures logs, tears down with t.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { stringify } from 'yaml';
import { createScramVerifier } from '../../src/auth/verifier.js';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { runProxy, type RunningProxy, type RunOptions } from '../../src/main.js';
import { createLogger } from '../../src/observability/logger.js';
import type { SharedPg } from './pg.js';
import type { TestPki } from './pki.js';

type Teardown = { teardown(fn: () => unknown): void };

export type TestUser = {
  name: string;
  auth?: 'scram' | 'cert'; // default scram
  password?: string; // plain password for scram users; default `${name}-test-password`
  clientCertificate?: 'optional' | 'required';
  roles: string[];
  from?: string[];
  upstream: { user: keyof SharedPg['upstream'] | string; password?: string | 'passthrough' }; // default: pg.upstream[user]
};

export type TestProxyOptions = {
  pg: SharedPg;
  pki?: TestPki; // default pg.pki
  users?: TestUser[]; // replaces DEFAULT_TEST_USERS
  extraUsers?: TestUser[]; // added to the users
  roles?: unknown[]; // replaces DEFAULT_TEST_ROLES (YAML shape)
  overrides?: Record<string, unknown>; // deep-merged into the YAML document (arrays replace)
  mutate?: (doc: Record<string, any>) => void; // last word on the YAML document
  logLevel?: 'info' | 'debug' | 'trace' | 'warn' | 'silent';
  runOptions?: Pick<RunOptions, 'offerChannelBinding'>;
};

export type TestProxy = {
  host: '127.0.0.1';
  port: number;
  adminPort: number | null;
  config: Config;
  yaml: string;
  configFile: string; // the YAML on disk (for `serve --config` / reload tests)
  dir: string; // temp dir holding configFile
  passwords: Record<string, string>; // user -> plain password
  logs(): Array<Record<string, any>>; // parsed pino lines so far
  close(graceMs?: number): Promise<void>; // default 500 ms, then 57P01 to the rest
  running: RunningProxy; // runProxy's handle (reload, server, metrics)
  /** node-postgres config: TLS verified against the test CA, database yugabyte. */
  clientConfig(user: string, extra?: Partial<pg.ClientConfig>): pg.ClientConfig;
  /** libpq key=value conninfo for psql/pgbench (password via PGPASSWORD or passed in). */
  conninfo(user: string, extra?: Record<string, string>): string;
};

export const DEFAULT_TEST_USERS: TestUser[] = [
  { name: 'app', roles: ['reader'], upstream: { user: 'app_ro' } },
  { name: 'writer', roles: ['writer'], upstream: { user: 'app_rw' } },
  { name: 'admin', roles: ['dba'], upstream: { user: 'yb_admin' } },
  { name: 'certuser', auth: 'cert', roles: ['reader'], upstream: { user: 'app_ro' } },
];

export const DEFAULT_TEST_ROLES = [
  { name: 'reader', databases: ['yugabyte'], allow: [{ privileges: ['read'], objects: ['public.*'] }], deny: [{ objects: ['public.salaries'] }] },
  { name: 'writer', databases: ['yugabyte'], allow: [{ privileges: ['read', 'write'], objects: ['public.*'] }] },
  { name: 'dba', databases: ['*'], allow: [{ privileges: ['all'] }] },
];

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepMerge(base: Record<string, any>, over: Record<string, unknown>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

const envName = (user: string): string => `YSQLGATE_TEST_UPSTREAM_${user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;

/** The YAML document (before serialisation) and the env secrets it refers to. */
export function buildTestConfigDoc(opts: TestProxyOptions): { doc: Record<string, any>; env: Record<string, string>; passwords: Record<string, string> } {
  const pki = opts.pki ?? opts.pg.pki;
  const env: Record<string, string> = {};
  const passwords: Record<string, string> = {};
  const users = [...(opts.users ?? DEFAULT_TEST_USERS), ...(opts.extraUsers ?? [])].map((u) => {
    const auth = u.auth ?? 'scram';
    const entry: Record<string, unknown> = { name: u.name, auth, roles: u.roles };
    if (auth === 'scram') {
      passwords[u.name] = u.password ?? `${u.name}-test-password`;
      entry.password = createScramVerifier(passwords[u.name]!);
    }
    if (u.clientCertificate) entry.clientCertificate = u.clientCertificate;
    if (u.from) entry.from = u.from;
    const upPassword = u.upstream.password ?? (opts.pg.upstream as Record<string, string>)[u.upstream.user];
    if (upPassword === 'passthrough') {
      entry.upstream = { user: u.upstream.user, password: 'passthrough' };
    } else {
      if (upPassword === undefined) throw new Error(`no upstream password for ${u.upstream.user}`);
      env[envName(u.name)] = upPassword;
      entry.upstream = { user: u.upstream.user, password: { env: envName(u.name) } };
    }
    return entry;
  });
  let doc: Record<string, any> = {
    listen: '127.0.0.1:0',
    tls: { mode: 'required', cert: pki.server.certFile, key: pki.server.keyFile, clientCA: pki.ca.certFile, minVersion: 'TLSv1.2' },
    network: { allow: ['127.0.0.1/32', '::1/128'], trustedProxies: [] },
    upstream: {
      endpoints: [`127.0.0.1:${opts.pg.port}`],
      tls: { mode: 'verify-full', ca: pki.ca.certFile },
      connectTimeout: '5s',
      discovery: { ybServers: false, refresh: '60s', usePublicIp: false },
      placement: [],
    },
    limits: {
      maxConnections: 1000, maxConnectionsPerUser: 200, startupTimeout: '10s', idleTimeout: '0s', maxMessageSize: '64MiB',
      authFailures: { max: 5, window: '1m', lockout: '5m' },
    },
    users,
    roles: opts.roles ?? DEFAULT_TEST_ROLES,
    admin: { listen: '127.0.0.1:0' },
    log: { level: opts.logLevel ?? 'info', format: 'json', statements: 'denied' },
  };
  if (opts.overrides) doc = deepMerge(doc, opts.overrides);
  opts.mutate?.(doc);
  return { doc, env, passwords };
}

export async function startTestProxy(t: Teardown, opts: TestProxyOptions): Promise<TestProxy> {
  const pki = opts.pki ?? opts.pg.pki;
  const { doc, env, passwords } = buildTestConfigDoc(opts);
  const yaml = stringify(doc);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-test-proxy-'));
  const configFile = path.join(dir, 'ysqlgate.yaml');
  fs.writeFileSync(configFile, yaml);
  const lines: string[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
  const config = parseConfig(yaml, { baseDir: dir, env: { ...process.env, ...env } }) as Config;
  const logger = createLogger({ level: doc.log?.level ?? 'info', format: 'json' }, sink);
  let proxy: RunningProxy;
  try {
    proxy = await runProxy(config, { logger, ...opts.runOptions });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let closed: Promise<void> | null = null;
  const close = (graceMs = 500): Promise<void> => {
    closed ??= proxy.close(graceMs).finally(() => fs.rmSync(dir, { recursive: true, force: true }));
    return closed as Promise<void>;
  };
  t.teardown(() => close());
  const caPem = fs.readFileSync(pki.ca.certFile, 'utf8');
  return {
    host: '127.0.0.1', port: proxy.port, adminPort: proxy.adminPort, config, yaml, configFile, dir, passwords, close, running: proxy,
    logs: () => lines.map((l) => { try { return JSON.parse(l) as Record<string, any>; } catch { return { raw: l }; } }),
    clientConfig: (user, extra = {}) => ({
      host: '127.0.0.1', port: proxy.port, user, password: passwords[user], database: 'yugabyte',
      ssl: { ca: caPem }, ...extra,
    }),
    conninfo: (user, extra = {}) => Object.entries({
      host: '127.0.0.1', port: String(proxy.port), dbname: 'yugabyte', user, sslmode: 'verify-full', sslrootcert: pki.ca.certFile, ...extra,
    }).map(([k, v]) => `${k}=${v}`).join(' '),
  };
}
