// pgbench workloads of the benchmark and one bounded pgbench run with its output parsed.
// Knows nothing about targets beyond a host/port/user/password.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export type Workload = {
  name: string;
  clients: number;
  args: string[]; // pgbench flags besides -c/-j/-T/-n
  script?: string; // custom script text (written to a file)
  bytesPerTx?: number; // filled in at startup for result-size workloads: reports MB/s
};

export const WORKLOADS: readonly Workload[] = [
  { name: 'simple-1', clients: 1, args: ['-S'] },
  { name: 'simple-16', clients: 16, args: ['-S'] },
  { name: 'simple-64', clients: 64, args: ['-S'] },
  { name: 'prepared-16', clients: 16, args: ['-S', '-M', 'prepared'] },
  { name: 'prepared-64', clients: 64, args: ['-S', '-M', 'prepared'] },
  { name: 'rows-10k', clients: 4, args: [], script: 'SELECT * FROM pgbench_accounts LIMIT 10000;\n' },
  { name: 'connect-16', clients: 16, args: ['-S', '-C'] },
];

/** Wire bytes of one 10,000-row result in text format: per DataRow 7 header bytes + 4 × (4-byte length + value). */
export const ROWS_10K_BYTES_SQL = `SELECT sum(23 + octet_length(aid::text) + octet_length(bid::text)
  + octet_length(abalance::text) + octet_length(filler))::bigint AS bytes
  FROM (SELECT * FROM pgbench_accounts LIMIT 10000) s`;

export type Endpoint = { host: string; port: number; user: string; password: string; database: string };

export type PgbenchResult =
  | { ok: true; tps: number; transactions: number; seconds: number }
  | { ok: false; error: string };

export function parsePgbench(stdout: string): { tps: number; transactions: number } | null {
  const tps = /^tps = ([0-9.]+)/m.exec(stdout);
  const tx = /^number of transactions actually processed: (\d+)/m.exec(stdout);
  if (!tps || !tx) return null;
  return { tps: Number(tps[1]), transactions: Number(tx[1]) };
}

export async function runPgbench(bin: string, ep: Endpoint, w: Workload, seconds: number, scriptDir: string): Promise<PgbenchResult> {
  const threads = Math.min(w.clients, 2);
  const args = ['-n', '-T', String(seconds), '-c', String(w.clients), '-j', String(threads), ...w.args];
  if (w.script) {
    const file = path.join(scriptDir, `${w.name}.sql`);
    fs.writeFileSync(file, w.script);
    args.push('-f', file);
  }
  args.push(`host=${ep.host} port=${ep.port} dbname=${ep.database} user=${ep.user} sslmode=require`);
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(bin, args, { env: { ...process.env, PGPASSWORD: ep.password, PGSSLMODE: 'require' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { if (out.length < 1 << 20) out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (err.length < 1 << 16) err += d.toString(); });
    // Bounded: pgbench gets its run time plus a generous margin, then it is killed.
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const parsed = parsePgbench(out);
      if (code !== 0 || !parsed) {
        const why = (err.trim().split('\n').filter((l) => !/^pgbench \(/.test(l)).slice(-3).join(' | ') || `exit ${code}`);
        resolve({ ok: false, error: why.slice(0, 300) });
        return;
      }
      resolve({ ok: true, ...parsed, seconds: (Date.now() - started) / 1000 });
    });
  });
}
