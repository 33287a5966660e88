// The zod schema of the YAML config file, exactly the shape PRODUCT.md shows: strict objects, documented defaults.
// Checks one value at a time; cross-references (roles, clientCA, secrets) are checked in checks.ts, resolution in load.ts.
import { z } from 'zod';
import { parseCidr } from './cidr.js';
import {
  NOT_A_VERIFIER,
  isScramVerifier,
  parseFunctionPattern,
  parseHostPort,
  parseObjectPattern,
  type Parsed,
} from './patterns.js';
import { parseDuration, parseSize } from './units.js';

export const INLINE_SECRET = 'secrets must be { env: NAME } or { file: PATH }, never inline';

/** A string checked by a parser that returns a reason; the reason becomes the issue message. */
function checked(check: (text: string) => string | null) {
  return z.string().superRefine((text, ctx) => {
    const problem = check(text);
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
  });
}

const reason = (p: Parsed<unknown>): string | null => (p.ok ? null : p.message);
const thrown = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
};

function duration(opts: { positive: boolean }) {
  const text = checked((t) => {
    const problem = thrown(() => parseDuration(t));
    if (problem !== null) return problem;
    return opts.positive && parseDuration(t) === 0 ? 'must be greater than 0' : null;
  });
  return z
    .union([z.literal(0), text], { error: 'not a duration: use an integer with a unit, e.g. 500ms, 10s, 5m, 1h' })
    .meta({ description: 'duration: integer with ms, s, m or h', pattern: '^(0|[1-9][0-9]*(ms|s|m|h))$' });
}

const MIN_MESSAGE_SIZE = 8_192; // room for a StartupMessage and an ordinary Query
const MAX_MESSAGE_SIZE = 1_073_741_823; // PostgreSQL's MaxAllocSize - 1
const sizeText = checked((t) => {
  const problem = thrown(() => parseSize(t));
  if (problem !== null) return problem;
  const bytes = parseSize(t);
  return bytes < MIN_MESSAGE_SIZE || bytes > MAX_MESSAGE_SIZE ? 'must be between 8KiB and 1GiB' : null;
});
const messageSize = z
  .union([z.number().int().min(MIN_MESSAGE_SIZE).max(MAX_MESSAGE_SIZE), sizeText], {
    error: 'not a size: use an integer with B, KiB, MiB or GiB, e.g. 64MiB',
  })
  .meta({ description: 'size: integer bytes, or with B, KiB, MiB or GiB', pattern: '^[0-9]+(B|KiB|MiB|GiB)?$' });

const cidr = checked((t) => thrown(() => parseCidr(t))).meta({ description: 'IPv4 or IPv6 CIDR, e.g. 10.0.0.0/8' });
const hostPort = (defaultPort: number | null, allowPortZero: boolean) =>
  checked((t) => reason(parseHostPort(t, defaultPort, allowPortZero))).meta({
    description: `host:port${defaultPort === null ? '' : ` (port defaults to ${defaultPort})`}; IPv6 as [::1]:5433`,
  });
const path = z.string().min(1, 'must not be empty');
const count = (min: number, max: number) => z.number().int().min(min).max(max);
const name = z
  .string()
  .min(1, 'must not be empty')
  .max(63, 'at most 63 characters (PostgreSQL truncates longer names)')
  .regex(/^[^\u0000-\u001f]+$/, 'must not contain control characters');

const secret = z
  .union(
    [
      z.literal('passthrough'),
      z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/) }),
      z.strictObject({ file: path }),
    ],
    { error: INLINE_SECRET },
  )
  .meta({ description: '{ env: NAME }, { file: PATH } or passthrough' });

const verifier = z
  .string({ error: NOT_A_VERIFIER })
  .refine(isScramVerifier, { error: NOT_A_VERIFIER })
  .meta({ description: 'SCRAM-SHA-256 verifier from `ysqlgate hash-password` or pg_authid' });

const tlsSchema = z.strictObject({
  mode: z.enum(['required', 'optional']),
  cert: path.default('certs/server.crt'),
  key: path.default('certs/server.key'),
  clientCA: path.nullable().optional(),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
});

const networkSchema = z.strictObject({
  allow: z.array(cidr).min(1, 'must list at least one CIDR').default(['127.0.0.1/32', '::1/128']),
  trustedProxies: z.array(cidr).default([]),
});

const upstreamSchema = z.strictObject({
  endpoints: z.array(hostPort(5433, false)).min(1, 'must list at least one endpoint'),
  tls: z
    .strictObject({
      mode: z.enum(['disable', 'require', 'verify-ca', 'verify-full']).default('verify-full'),
      ca: path.nullable().optional(),
    })
    .prefault({}),
  connectTimeout: duration({ positive: true }).default('5s'),
  discovery: z
    .strictObject({
      ybServers: z.boolean().default(false),
      refresh: duration({ positive: true }).default('60s'),
      usePublicIp: z.boolean().default(false),
    })
    .prefault({}),
  placement: z.array(z.string().regex(/^[A-Za-z0-9_.*-]+$/, 'must be cloud.region.zone, * allowed')).default([]),
});

const limitsSchema = z.strictObject({
  maxConnections: count(1, 1_000_000).default(1000),
  maxConnectionsPerUser: count(1, 1_000_000).default(200),
  startupTimeout: duration({ positive: true }).default('10s'),
  idleTimeout: duration({ positive: false }).default('0s'),
  maxMessageSize: messageSize.default('64MiB'),
  authFailures: z
    .strictObject({
      max: count(1, 1_000_000).default(5),
      window: duration({ positive: true }).default('1m'),
      lockout: duration({ positive: true }).default('5m'),
    })
    .prefault({}),
});

const userSchema = z.strictObject({
  name,
  auth: z.enum(['scram', 'cert']).default('scram'),
  password: verifier.optional(),
  clientCertificate: z.enum(['optional', 'required']).default('optional'),
  roles: z.array(name).min(1, 'must name at least one role'),
  from: z.array(cidr).min(1, 'must not be empty (omit it to use network.allow)').optional(),
  upstream: z.strictObject({ user: name.optional(), password: secret.optional() }).optional(),
});

const privilege = z.enum(['read', 'write', 'ddl', 'execute', 'admin', 'all']);
const objectPattern = checked((t) => reason(parseObjectPattern(t)));
const functionPattern = checked((t) => reason(parseFunctionPattern(t)));
const rule = z
  .strictObject({
    privileges: z.array(privilege).default([]),
    objects: z.array(objectPattern).default([]),
    functions: z.array(functionPattern).default([]),
  })
  .refine((r) => r.objects.length === 0 || r.functions.length === 0, {
    error: 'a rule names objects or functions, not both',
  });
const allowRule = rule.refine((r) => r.privileges.length > 0 || r.functions.length > 0, {
  error: 'an allow rule must list privileges',
  path: ['privileges'],
});

const roleSchema = z.strictObject({
  name,
  databases: z.array(z.string().min(1, 'must not be empty')).min(1, 'must list at least one database ("*" for any)'),
  allow: z.array(allowRule).default([]),
  deny: z.array(rule).default([]),
});

const WORKERS = 'must be a number 1..64 or auto';

export const configSchema = z.strictObject({
  listen: hostPort(5433, true).default('0.0.0.0:5433'),
  tls: tlsSchema,
  network: networkSchema.prefault({}),
  upstream: upstreamSchema,
  peers: z.array(hostPort(5433, false)).default([]),
  workers: z
    .union([z.number().int(WORKERS).min(1, WORKERS).max(64, WORKERS), z.literal('auto')], { error: WORKERS })
    .default(1),
  limits: limitsSchema.prefault({}),
  users: z.array(userSchema).default([]),
  roles: z.array(roleSchema).default([]),
  admin: z
    .strictObject({
      listen: z
        .union([z.literal('off'), z.null(), hostPort(9187, true)], { error: 'must be host:port, null or off' })
        .default('127.0.0.1:9187'),
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      format: z.enum(['json', 'pretty']).default('json'),
      statements: z.enum(['none', 'denied', 'all']).default('denied'),
    })
    .prefault({}),
});

/** The file as written (after defaults), before units, paths and secrets are resolved. */
export type ConfigFile = z.output<typeof configSchema>;
export type ConfigFileInput = z.input<typeof configSchema>;
