// Benchmark targets besides direct PostgreSQL: PgBouncer (client TLS, session mode) and ysqlgate as a child
// process, plus their CPU time from /proc. Every wait is bounded; every process started here is stopped here.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';

export type ProcTarget = { port: number; pid: number; logFile: string; stop(): Promise<void> };

const isRoot = process.getuid?.() === 0;
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** utime + stime of a process in seconds (Linux /proc/PID/stat fields 14 and 15). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

export async function waitForPort(port: number, child: ChildProcess, logFile: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited before listening:\n${tail(logFile)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} not listening after ${timeoutMs} ms:\n${tail(logFile)}`);
}

function tail(file: string): string {
  try { return fs.readFileSync(file, 'utf8').split('\n').slice(-20).join('\n'); } catch { return ''; }
}

function stopper(child: ChildProcess, signal: NodeJS.Signals): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((r) => { timer = setTimeout(r, 5000); })]);
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
}

function spawnLogged(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv): ChildProcess {
  const fd = fs.openSync(logFile, 'a');
  try {
    return spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    fs.closeSync(fd);
  }
}

export function ensurePgbouncer(): string {
  const find = (): string | null => ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => fs.existsSync(p)) ?? null;
  let bin = find();
  if (!bin && isRoot) {
    process.stderr.write('pgbouncer missing: apt-get install -y pgbouncer\n');
    try {
      execFileSync('apt-get', ['install', '-y', 'pgbouncer'], { stdio: 'ignore', timeout: 300_000 });
    } catch {
      execFileSync('apt-get', ['update'], { stdio: 'ignore', timeout: 300_000 });
      execFileSync('apt-get', ['install', '-y', 'pgbouncer'], { stdio: 'ignore', timeout: 300_000 });
    }
    bin = find();
  }
  if (!bin) throw new Error('pgbouncer not found (install it: apt-get install -y pgbouncer)');
  return bin;
}

export type PgbouncerOptions = {
  bin: string; dir: string; port: number; pgPort: number; database: string;
  users: Array<{ name: string; secret: string }>; // SCRAM verifier from pg_authid (or a plain password)
  certFile: string; keyFile: string;
  serverTls: 'disable' | 'prefer' | 'require'; // PgBouncer -> PostgreSQL
};

export async function startPgbouncer(o: PgbouncerOptions): Promise<ProcTarget> {
  fs.mkdirSync(o.dir, { recursive: true });
  const key = path.join(o.dir, 'server.key');
  const crt = path.join(o.dir, 'server.crt');
  fs.copyFileSync(o.keyFile, key);
  fs.copyFileSync(o.certFile, crt);
  fs.chmodSync(key, 0o600);
  const userlist = path.join(o.dir, 'userlist.txt');
  fs.writeFileSync(userlist, o.users.map((u) => `"${u.name}" "${u.secret}"`).join('\n') + '\n', { mode: 0o600 });
  const ini = path.join(o.dir, 'pgbouncer.ini');
  const logFile = path.join(o.dir, 'pgbouncer.log');
  fs.writeFileSync(ini, [
    '[databases]', `${o.database} = host=127.0.0.1 port=${o.pgPort} dbname=${o.database}`,
    '[pgbouncer]', 'listen_addr = 127.0.0.1', `listen_port = ${o.port}`, 'unix_socket_dir =',
    'auth_type = scram-sha-256', `auth_file = ${userlist}`, 'pool_mode = session',
    'max_client_conn = 1000', 'default_pool_size = 100', 'max_db_connections = 0',
    'client_tls_sslmode = require', `client_tls_key_file = ${key}`, `client_tls_cert_file = ${crt}`,
    `server_tls_sslmode = ${o.serverTls}`, 'ignore_startup_parameters = extra_float_digits,options',
    'log_connections = 0', 'log_disconnections = 0', `logfile = ${logFile}`, '',
  ].join('\n'));
  if (isRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    for (const f of [o.dir, key, crt, userlist, ini]) fs.chownSync(f, uid, gid);
  }
  // PgBouncer refuses to run as root; setpriv keeps the pid we hold the pgbouncer pid.
  const [cmd, args] = isRoot
    ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', o.bin, ini]]
    : [o.bin, [ini]];
  const child = spawnLogged(cmd as string, args as string[], path.join(o.dir, 'stderr.log'), process.env);
  try {
    await waitForPort(o.port, child, logFile);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { port: o.port, pid: child.pid!, logFile, stop: stopper(child, 'SIGINT') };
}

export type YsqlgateUser = { name: string; verifier: string; roles: string[]; upstreamUser: string; upstreamPasswordEnv: string };

export type YsqlgateOptions = {
  cli: string; dir: string; port: number; pgPort: number; caFile: string; certFile: string; keyFile: string;
  users: YsqlgateUser[]; roles: unknown[]; env: Record<string, string>;
};

export async function startYsqlgate(o: YsqlgateOptions): Promise<ProcTarget & { configFile: string }> {
  fs.mkdirSync(o.dir, { recursive: true });
  const configFile = path.join(o.dir, 'ysqlgate.yaml');
  const logFile = path.join(o.dir, 'ysqlgate.log');
  fs.writeFileSync(configFile, stringify({
    listen: `127.0.0.1:${o.port}`,
    tls: { mode: 'required', cert: o.certFile, key: o.keyFile, minVersion: 'TLSv1.2' },
    network: { allow: ['127.0.0.1/32', '::1/128'] },
    // BENCH_UPSTREAM_TLS=disable measures a plaintext upstream leg (pair it with BENCH_PGBOUNCER_SERVER_TLS=disable).
    upstream: { endpoints: [`127.0.0.1:${o.pgPort}`], tls: { mode: process.env.BENCH_UPSTREAM_TLS ?? 'verify-full', ca: o.caFile }, connectTimeout: '5s' },
    workers: process.env.BENCH_WORKERS === 'auto' ? 'auto' : Number(process.env.BENCH_WORKERS ?? 1), // issue 5: 1 vs 2 workers
    limits: { maxConnections: 1000, maxConnectionsPerUser: 1000 },
    users: o.users.map((u) => ({
      name: u.name, password: u.verifier, roles: u.roles, upstream: { user: u.upstreamUser, password: { env: u.upstreamPasswordEnv } },
    })),
    roles: o.roles,
    admin: { listen: 'off' },
    log: { level: 'info', format: 'json', statements: 'denied' },
  }));
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean); // e.g. --cpu-prof
  const child = spawnLogged(process.execPath, [...nodeArgs, o.cli, 'serve', '--config', configFile], logFile, { ...process.env, ...o.env });
  try {
    await waitForPort(o.port, child, logFile);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return { port: o.port, pid: child.pid!, logFile, configFile, stop: stopper(child, 'SIGTERM') };
}
