// Reads the YAML config, validates it (schema, then cross-key checks), resolves units, paths and secrets, freezes it.
// Collects every problem before throwing one ConfigError; never logs, never puts a secret or verifier in a message.
import fs from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { semanticProblems } from './checks.js';
import { parseFunctionPattern, parseHostPort, parseObjectPattern } from './patterns.js';
import { ConfigError, formatPath, type ConfigProblem } from './problem.js';
import { configSchema, type ConfigFile } from './schema.js';
import { resolveSecrets } from './secrets.js';
import type { Config, HostPort, RoleConfig, RuleConfig, UpstreamSecret, UserConfig } from './types.js';
import { parseDuration, parseSize } from './units.js';

export { ConfigError, type ConfigProblem } from './problem.js';
export { summarizeConfig } from './summary.js';

export type ParseOptions = { baseDir: string; env?: NodeJS.ProcessEnv; sourceFile?: string | null };

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['YSQLGATE_CONFIG'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : 'config/ysqlgate.yaml';
}

export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const abs = path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ path: '', message: `cannot read config file ${abs}: ${code}` }]);
  }
  return parseConfig(text, { baseDir: path.dirname(abs), env, sourceFile: abs });
}

export function parseConfig(text: string, opts: ParseOptions): Config {
  const raw = parseYaml(text);
  const parsed = configSchema.safeParse(raw, { error: issueMessage });
  const problems: ConfigProblem[] = parsed.success ? [] : parsed.error.issues.flatMap(toProblems);
  problems.push(...semanticProblems(raw));
  const { secrets, problems: secretProblems } = resolveSecrets(raw, opts.baseDir, opts.env ?? process.env);
  problems.push(...secretProblems);
  if (!parsed.success || problems.length > 0) throw new ConfigError(unique(problems));
  return deepFreeze(build(parsed.data, secrets, path.resolve(opts.baseDir), opts.sourceFile ?? null));
}

/** YAML 1.2 core schema, duplicate keys refused. Messages carry line and column but no source text. */
function parseYaml(text: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, schema: 'core' });
  const faults = [...doc.errors, ...doc.warnings];
  if (faults.length > 0) {
    throw new ConfigError(
      faults.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `YAML error at line ${line}, column ${col}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) throw new ConfigError([{ path: '', message: 'config is empty' }]);
  return value;
}

/** Wording for zod's default issues; never quotes the input (it may be a secret). */
function issueMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined) return 'is required';
      return `must be ${iss.expected === 'object' ? 'a mapping' : iss.expected === 'array' ? 'a list' : `a ${iss.expected}`}`;
    case 'invalid_value':
      if (iss.input === undefined) return 'is required';
      return `must be one of: ${iss.values.map((v) => String(v)).join(', ')}`;
    case 'too_small':
      return iss.origin === 'array' ? `must have at least ${iss.minimum} item(s)` : `must be at least ${iss.minimum}`;
    case 'too_big':
      return iss.origin === 'array' ? `must have at most ${iss.maximum} item(s)` : `must be at most ${iss.maximum}`;
    default:
      return undefined;
  }
}

function toProblems(issue: z.core.$ZodIssue): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: 'unknown key' }));
  }
  return [{ path: formatPath(issue.path), message: issue.message }];
}

function unique(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}\u0000${p.message}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
}

const ms = (v: string | number): number => (v === 0 ? 0 : parseDuration(String(v)));
function hostPort(text: string, defaultPort: number): HostPort {
  const p = parseHostPort(text, defaultPort, true);
  if (!p.ok) throw new Error(`unreachable: validated host:port failed: ${p.message}`);
  return p.value;
}
const canonical = (patterns: readonly string[], parse: typeof parseObjectPattern): string[] =>
  patterns.map((t) => {
    const p = parse(t);
    return p.ok ? p.value : t;
  });

function build(f: ConfigFile, secrets: ReadonlyMap<number, UpstreamSecret>, baseDir: string, sourceFile: string | null): Config {
  const abs = (p: string): string => path.resolve(baseDir, p);
  const users = f.users.map((u, i): UserConfig => {
    const spec = u.upstream?.password;
    const password: UpstreamSecret =
      spec === 'passthrough' ? { kind: 'passthrough' } : spec === undefined ? { kind: 'none' } : secrets.get(i)!;
    return {
      name: u.name,
      auth: u.auth,
      password: u.password ?? null,
      clientCertificate: u.auth === 'cert' ? 'required' : u.clientCertificate,
      roles: u.roles,
      from: u.from ?? null,
      upstream: { user: u.upstream?.user ?? u.name, password },
    };
  });
  const rule = (r: ConfigFile['roles'][number]['allow'][number]): RuleConfig => ({
    privileges: [...new Set(r.privileges)],
    objects: canonical(r.objects, parseObjectPattern),
    functions: canonical(r.functions, parseFunctionPattern),
  });
  const roles = f.roles.map((r): RoleConfig => ({
    name: r.name,
    databases: r.databases,
    allow: r.allow.map(rule),
    deny: r.deny.map(rule),
  }));
  const { limits, upstream, tls } = f;
  return {
    sourceFile,
    listen: hostPort(f.listen, 5433),
    tls: {
      mode: tls.mode,
      certFile: abs(tls.cert),
      keyFile: abs(tls.key),
      clientCAFile: tls.clientCA == null ? null : abs(tls.clientCA),
      minVersion: tls.minVersion,
    },
    network: { allow: f.network.allow, trustedProxies: f.network.trustedProxies },
    upstream: {
      endpoints: upstream.endpoints.map((e) => hostPort(e, 5433)),
      tls: { mode: upstream.tls.mode, caFile: upstream.tls.ca == null ? null : abs(upstream.tls.ca) },
      connectTimeoutMs: ms(upstream.connectTimeout),
      discovery: {
        ybServers: upstream.discovery.ybServers,
        refreshMs: ms(upstream.discovery.refresh),
        usePublicIp: upstream.discovery.usePublicIp,
      },
      placement: upstream.placement,
    },
    peers: f.peers.map((p) => hostPort(p, 5433)),
    workers: f.workers,
    limits: {
      maxConnections: limits.maxConnections,
      maxConnectionsPerUser: limits.maxConnectionsPerUser,
      startupTimeoutMs: ms(limits.startupTimeout),
      idleTimeoutMs: ms(limits.idleTimeout),
      maxMessageSize: typeof limits.maxMessageSize === 'number' ? limits.maxMessageSize : parseSize(limits.maxMessageSize),
      authFailures: {
        max: limits.authFailures.max,
        windowMs: ms(limits.authFailures.window),
        lockoutMs: ms(limits.authFailures.lockout),
      },
    },
    users,
    roles,
    admin: { listen: f.admin.listen === null || f.admin.listen === 'off' ? null : hostPort(f.admin.listen, 9187) },
    log: { level: f.log.level, format: f.log.format, statements: f.log.statements },
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
