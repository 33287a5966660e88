// Text the demo generates: its config YAML and the ready-to-paste commands it prints.
// Pure (no I/O) so it can be tested without starting anything.
import path from 'node:path';
import { createScramVerifier } from '../auth/verifier.js';
import { SEED_DATABASE } from './seed.js';

export const DEMO_USERS = [
  { name: 'app', password: 'app-demo-password', role: 'reader', upstream: 'app_ro' },
  { name: 'writer', password: 'writer-demo-password', role: 'writer', upstream: 'app_rw' },
  { name: 'admin', password: 'admin-demo-password', role: 'dba', upstream: 'yb_admin' },
] as const;

const q = JSON.stringify; // a JSON string is a valid YAML double-quoted scalar

export function demoYaml(p: { proxyPort: number; adminPort: number; pgPort: number; certs: string; caFile: string }): string {
  const users = DEMO_USERS.map((u) => `  - name: ${u.name}
    password: ${q(createScramVerifier(u.password))}
    roles: [${u.role}]
    upstream: { user: ${u.upstream}, password: { env: YSQLGATE_DEMO_${u.upstream.toUpperCase()} } }`).join('\n');
  return `# ysqlgate demo configuration (generated; throwaway)
listen: 127.0.0.1:${p.proxyPort}
tls:
  mode: required
  cert: ${q(path.join(p.certs, 'server.crt'))}
  key: ${q(path.join(p.certs, 'server.key'))}
  minVersion: TLSv1.2
network:
  allow: [127.0.0.1/32, "::1/128"]
upstream:
  endpoints: [127.0.0.1:${p.pgPort}]
  tls: { mode: verify-full, ca: ${q(p.caFile)} }
  connectTimeout: 5s
users:
${users}
roles:
  - name: reader
    databases: [${SEED_DATABASE}]
    allow:
      - { privileges: [read], objects: ["public.*"] }
    deny:
      - { objects: [public.salaries] }
  - name: writer
    databases: [${SEED_DATABASE}]
    allow:
      - { privileges: [read, write], objects: ["public.*"] }
  - name: dba
    databases: ["*"]
    allow:
      - { privileges: [all] }
admin:
  listen: 127.0.0.1:${p.adminPort}
log:
  level: info
  format: json
  statements: denied
`;
}

/** A libpq value, quoted only when it has to be (spaces, quotes, backslashes). */
function conninfoValue(v: string): string {
  return /^[^\s'\\]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function banner(p: { proxyPort: number; adminPort: number | null; caFile: string; configFile: string }): string {
  const conn = (user: string): string =>
    `"host=127.0.0.1 port=${p.proxyPort} dbname=${SEED_DATABASE} user=${user} sslmode=verify-full sslrootcert=${conninfoValue(p.caFile)}"`;
  const psql = (u: (typeof DEMO_USERS)[number], extra = ''): string => `PGPASSWORD=${u.password} psql ${conn(u.name)}${extra}`;
  const [app, writer, admin] = DEMO_USERS;
  const lines = [
    '',
    `ysqlgate demo is running: proxy on 127.0.0.1:${p.proxyPort} (TLS), a throwaway PostgreSQL behind it.`,
    `Config: ${p.configFile}`,
    '',
    'Demo users (passwords are for this demo only):',
    ...DEMO_USERS.map((u) => `  ${u.name.padEnd(7)} password ${u.password.padEnd(21)} role ${u.role.padEnd(7)} -> upstream ${u.upstream}`),
    '',
    'Connect as the read-only app user:',
    `  ${psql(app)}`,
    'Allowed read:',
    `  ${psql(app, ' -c "select * from public.accounts"')}`,
    'Denied write (reader may not write):',
    `  ${psql(app, ` -c "insert into public.accounts values (4, 'mallory', 1000000)"`)}`,
    'Denied table (reader role denies public.salaries):',
    `  ${psql(app, ' -c "select * from public.salaries"')}`,
    'Allowed write for the writer user:',
    `  ${psql(writer, ` -c "update public.accounts set balance = balance + 1 where id = 1"`)}`,
    'Everything for the admin user:',
    `  ${psql(admin, ' -c "create table public.notes (id int primary key, body text)"')}`,
    ...(p.adminPort !== null ? ['Metrics:', `  curl -s http://127.0.0.1:${p.adminPort}/metrics | grep ^ysqlgate_`] : []),
    '',
    'Press Ctrl-C to stop; the demo database is deleted. Proxy log events follow.',
    '',
  ];
  return `${lines.join('\n')}\n`;
}

