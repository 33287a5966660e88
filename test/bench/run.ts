// `npm run bench`: pgbench against direct TLS PostgreSQL, ysqlgate (child process) and PgBouncer in one
// interleaved run (issue 2). Loopback only; every run and wait bounded; everything started is stopped.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScramVerifier } from '../../src/auth/verifier.js';
import { ensureDevCertificates } from '../../src/demo/certs.js';
import { pickFreePort, startPostgres, type PgInstance } from '../../src/demo/postgres.js';
import { record, rows, table, type Results } from './report.js';
import { cpuSeconds, ensurePgbouncer, startPgbouncer, startYsqlgate, type ProcTarget, type YsqlgateUser } from './targets.js';
import { ROWS_10K_BYTES_SQL, WORKLOADS, runPgbench, type Endpoint, type Workload } from './workloads.js';

const env = process.env;
const SECONDS = Math.max(1, Number(env.BENCH_SECONDS ?? 5));
const ROUNDS = Math.max(1, Number(env.BENCH_ROUNDS ?? 3));
const SCALE = Math.max(1, Number(env.BENCH_SCALE ?? 10));
const WARMUP = Math.max(0, Number(env.BENCH_WARMUP ?? 2));
const DATABASE = 'bench';
const PASSWORD = 'bench-password';

/** Roles the ysqlgate targets can use; BENCH_EXTRA_USERS may add more. */
const BUILTIN_ROLES = [
  { name: 'bench_all', databases: ['*'], allow: [{ privileges: ['all'] }] },
  { name: 'bench_reader', databases: [DATABASE], allow: [{ privileges: ['read'], objects: ['public.*'] }] },
];

type ExtraUser = { target: string; user: string; roles: string[]; role?: { name: string } & Record<string, unknown> };
type Target = { name: string; kind: 'direct' | 'ysqlgate' | 'pgbouncer'; user: string; port: number; pid: number | null };

const log = (msg: string): void => { process.stderr.write(`${msg}\n`); };

/** The package root: the nearest ancestor with ysqlgate's package.json (works from test/ and .bench-build/). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).name === 'ysqlgate') return dir;
    } catch { /* keep climbing */ }
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the ysqlgate package root');
}

/**
 * BENCH_EXTRA_USERS: JSON `[{"target":"ysqlgate-reader","user":"reader","roles":["bench_reader"]}]` (an entry may
 * carry its own `role` object), or the shorthand `reader` for exactly that entry.
 */
function extraUsers(): ExtraUser[] {
  const raw = env.BENCH_EXTRA_USERS?.trim();
  if (!raw) return [];
  if (!raw.startsWith('[')) {
    return raw.split(',').map((n) => n.trim()).filter(Boolean).map((n) => ({ target: `ysqlgate-${n}`, user: n, roles: [`bench_${n}`] }));
  }
  return JSON.parse(raw) as ExtraUser[];
}

function selectedWorkloads(): Workload[] {
  const wanted = env.BENCH_WORKLOADS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (!wanted) return WORKLOADS.map((w) => ({ ...w }));
  const unknown = wanted.filter((n) => !WORKLOADS.some((w) => w.name === n));
  if (unknown.length) throw new Error(`unknown BENCH_WORKLOADS ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.name).join(', ')}`);
  return WORKLOADS.filter((w) => wanted.includes(w.name)).map((w) => ({ ...w }));
}

function pgbenchBin(): string {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (fs.existsSync(path.join(bindir, 'pgbench'))) return path.join(bindir, 'pgbench');
  } catch { /* fall through */ }
  return 'pgbench';
}

async function prepareDatabase(pg: PgInstance, bin: string): Promise<void> {
  await pg.query(`CREATE ROLE bench LOGIN PASSWORD '${PASSWORD}'`);
  await pg.query(`CREATE DATABASE ${DATABASE} OWNER bench`);
  log(`pgbench -i -s ${SCALE} ...`);
  execFileSync(bin, ['-i', '-q', '-s', String(SCALE), `host=127.0.0.1 port=${pg.port} dbname=${DATABASE} user=bench sslmode=require`], {
    env: { ...env, PGPASSWORD: PASSWORD }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000,
  });
  await pg.query('VACUUM ANALYZE', DATABASE);
}

async function main(): Promise<void> {
  const root = packageRoot();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-bench-'));
  fs.chmodSync(work, 0o711); // PgBouncer runs as postgres and must reach its own subdirectory
  const stops: Array<() => Promise<void>> = [];
  try {
    const certs = await ensureDevCertificates(path.join(work, 'certs'));
    const pg = await startPostgres({
      ssl: { certFile: certs.serverCert, keyFile: certs.serverKey },
      settings: { max_connections: '400', shared_buffers: '128MB' },
    });
    stops.push(() => pg.stop());
    const bin = pgbenchBin();
    await prepareDatabase(pg, bin);
    const workloads = selectedWorkloads();
    const bytesPerTx = new Map<string, number>();
    if (workloads.some((w) => w.name === 'rows-10k')) {
      const [row] = await pg.query(ROWS_10K_BYTES_SQL, DATABASE);
      bytesPerTx.set('rows-10k', Number(row.bytes));
    }

    const only = env.BENCH_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean);
    const want = (name: string): boolean => !only || only.includes(name);
    const targets: Target[] = [];
    if (want('direct')) targets.push({ name: 'direct', kind: 'direct', user: 'bench', port: pg.port, pid: null });

    const extras = extraUsers();
    const gateNames = ['ysqlgate', ...extras.map((e) => e.target)].filter(want);
    if (gateNames.length) {
      const cli = env.BENCH_CLI ? path.resolve(env.BENCH_CLI) : path.join(root, 'dist', 'cli.js');
      if (!fs.existsSync(cli)) throw new Error(`${cli} missing: run \`npm run build\` first (or BENCH_TARGETS=direct,pgbouncer)`);
      const roles = [...BUILTIN_ROLES, ...extras.flatMap((e) => (e.role ? [e.role] : []))];
      const users: YsqlgateUser[] = [{ name: 'bench', roles: ['bench_all'] }, ...extras.map((e) => ({ name: e.user, roles: e.roles }))]
        .map((u) => ({ ...u, verifier: createScramVerifier(PASSWORD), upstreamUser: 'bench', upstreamPasswordEnv: 'BENCH_UPSTREAM_PASSWORD' }));
      const gate = await startYsqlgate({
        cli, dir: path.join(work, 'ysqlgate'), port: await pickFreePort(), pgPort: pg.port, caFile: certs.caCert,
        certFile: certs.serverCert, keyFile: certs.serverKey, users, roles, env: { BENCH_UPSTREAM_PASSWORD: PASSWORD },
      });
      stops.push(gate.stop);
      if (want('ysqlgate')) targets.push({ name: 'ysqlgate', kind: 'ysqlgate', user: 'bench', port: gate.port, pid: gate.pid });
      for (const e of extras) if (want(e.target)) targets.push({ name: e.target, kind: 'ysqlgate', user: e.user, port: gate.port, pid: gate.pid });
    }

    if (want('pgbouncer')) {
      const [row] = await pg.query("SELECT rolpassword FROM pg_authid WHERE rolname = 'bench'");
      const bouncer: ProcTarget = await startPgbouncer({
        bin: ensurePgbouncer(), dir: path.join(work, 'pgbouncer'), port: await pickFreePort(), pgPort: pg.port, database: DATABASE,
        users: [{ name: 'bench', secret: String(row.rolpassword) }], certFile: certs.serverCert, keyFile: certs.serverKey,
        serverTls: (env.BENCH_PGBOUNCER_SERVER_TLS ?? 'prefer') as 'disable' | 'prefer' | 'require',
      });
      stops.push(bouncer.stop);
      targets.push({ name: 'pgbouncer', kind: 'pgbouncer', user: 'bench', port: bouncer.port, pid: bouncer.pid });
    }
    if (!targets.length) throw new Error('no targets selected (BENCH_TARGETS)');

    const endpoint = (t: Target): Endpoint => ({ host: '127.0.0.1', port: t.port, user: t.user, password: PASSWORD, database: DATABASE });
    const scripts = path.join(work, 'scripts');
    fs.mkdirSync(scripts);
    if (WARMUP) {
      const warm = WORKLOADS.find((w) => w.name === 'simple-16')!;
      for (const t of targets) {
        const r = await runPgbench(bin, endpoint(t), warm, WARMUP, scripts);
        log(`warm-up ${t.name}: ${r.ok ? `${r.tps.toFixed(0)} tps` : `FAILED ${r.error}`}`);
      }
    }

    const results: Results = new Map();
    log(`targets: ${targets.map((t) => t.name).join(', ')}; workloads: ${workloads.map((w) => w.name).join(', ')}; ${ROUNDS} rounds × ${SECONDS} s`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const w of workloads) {
        for (const t of targets) { // interleaved: A, B, C, A, B, C ...
          const cpuBefore = t.pid ? cpuSeconds(t.pid) : null;
          const r = await runPgbench(bin, endpoint(t), w, SECONDS, scripts);
          const cpu = t.pid && cpuBefore !== null ? cpuSeconds(t.pid) - cpuBefore : null;
          const cell = record(results, w.name, t.name);
          if (r.ok) cell.samples.push({ tps: r.tps, transactions: r.transactions, cpuSeconds: cpu });
          else cell.errors.push(r.error);
          log(`[${round}/${ROUNDS}] ${w.name.padEnd(12)} ${t.name.padEnd(16)} ${r.ok ? `${r.tps.toFixed(0).padStart(7)} tps${cpu !== null ? `  cpu ${cpu.toFixed(2)} s` : ''}` : `FAILED ${r.error}`}`);
        }
      }
    }

    const all = rows(results, bytesPerTx);
    process.stdout.write(`\nysqlgate benchmark: ${os.cpus().length} CPUs, scale ${SCALE}, ${ROUNDS} rounds × ${SECONDS} s, client TLS, upstream TLS: ysqlgate ${env.BENCH_UPSTREAM_TLS ?? 'verify-full'}, PgBouncer ${env.BENCH_PGBOUNCER_SERVER_TLS ?? 'prefer'}, loopback\n`);
    process.stdout.write(`${table(all)}\n`);
    process.stdout.write('CPU s/1000 tx: utime+stime of the proxy process per 1000 transactions (direct: none).\n');
    const errs = [...results.entries()].flatMap(([w, m]) => [...m.entries()].flatMap(([t, c]) => c.errors.map((e) => `${w}/${t}: ${e}`)));
    if (errs.length) process.stdout.write(`errors:\n  ${[...new Set(errs)].join('\n  ')}\n`);
    if (env.BENCH_JSON) fs.writeFileSync(env.BENCH_JSON, JSON.stringify(all, null, 2));
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => log(`stop failed: ${String(e)}`));
    if (env.BENCH_KEEP) log(`kept ${work}`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
