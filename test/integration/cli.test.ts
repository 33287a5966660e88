// The command line as ops use it (compiled dist/cli.js): hash-password output that PostgreSQL itself accepts,
// check-config's summary and its every-problem-with-a-path failure, explain's dry run, and serve + SIGTERM.
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { buildTestConfigDoc } from '../helpers/proxy.js';
import { freePort } from '../helpers/ports.js';
import { stringify } from 'yaml';

const run = promisify(execFile);
const CLI = path.resolve('dist/cli.js');
const server = await sharedPostgres(t);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-cli-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function runWithStdin(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

t.test('hash-password prints a verifier PostgreSQL itself accepts', async (t) => {
  const { code, stdout } = await runWithStdin(['hash-password'], 'correct horse\n');
  t.equal(code, 0);
  const verifier = stdout.trim();
  t.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  await server.query(`drop role if exists hashed_user; create role hashed_user login password '${verifier}'`);
  const direct = new pg.Client({ host: '127.0.0.1', port: server.port, user: 'hashed_user', password: 'correct horse', database: 'postgres', ssl: { rejectUnauthorized: false } });
  await direct.connect();
  t.same((await direct.query('select current_user as u')).rows, [{ u: 'hashed_user' }]);
  await direct.end();
  const empty = await runWithStdin(['hash-password'], '');
  t.equal(empty.code, 1);
});

t.test('hash-password on a terminal does not echo the password', async (t) => {
  // `script` gives the command a pseudo-terminal; what the terminal shows is what script prints.
  const child = spawn('script', ['-qec', `${process.execPath} ${CLI} hash-password`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let screen = '';
  child.stdout.on('data', (d) => { screen += d; });
  const done = new Promise((resolve) => child.on('close', resolve));
  await new Promise((r) => setTimeout(r, 700));
  child.stdin.write('typed-secret\r');
  await done;
  t.match(screen, /Password:/);
  t.match(screen, /SCRAM-SHA-256\$4096:/);
  t.notOk(screen.includes('typed-secret'), 'the typed password never appears on screen');
});

t.test('check-config: a valid file prints a summary without secrets', async (t) => {
  const { doc, env } = buildTestConfigDoc({ pg: server });
  const file = path.join(dir, 'good.yaml');
  fs.writeFileSync(file, stringify(doc));
  const { stdout } = await run(process.execPath, [CLI, 'check-config', '--config', file], { env: { ...process.env, ...env } });
  t.match(stdout, /OK/);
  for (const secret of Object.values(env)) t.notOk(stdout.includes(secret), 'no upstream secret in the summary');
  t.notOk(stdout.includes('SCRAM-SHA-256$'), 'no verifier in the summary');
});

t.test('check-config: every problem with its path, exit 1', async (t) => {
  const { doc, env } = buildTestConfigDoc({ pg: server });
  doc.users[1].password = 'plaintext-password';
  doc.tls.foo = 1;
  doc.limits.startupTimeout = '10 parsecs';
  const file = path.join(dir, 'bad.yaml');
  fs.writeFileSync(file, stringify(doc));
  const err = await run(process.execPath, [CLI, 'check-config', '--config', file], { env: { ...process.env, ...env } }).catch((e) => e);
  t.equal(err.code, 1);
  t.match(err.stderr, /users\[1\]\.password: not a SCRAM-SHA-256 verifier/);
  t.match(err.stderr, /tls/);
  t.match(err.stderr, /limits\.startupTimeout/);
  t.notOk(err.stderr.includes('plaintext-password'), 'the bad value itself is not echoed');
});

t.test('explain: allow/deny per statement with privilege and rule, without connecting', async (t) => {
  const { doc, env } = buildTestConfigDoc({ pg: server });
  doc.upstream.endpoints = ['127.0.0.1:1']; // nothing listens there: explain must not connect
  const file = path.join(dir, 'explain.yaml');
  fs.writeFileSync(file, stringify(doc));
  const { stdout } = await run(process.execPath, [CLI, 'explain', '--config', file, '--user', 'app', '--sql',
    'select * from accounts; delete from accounts; select * from salaries'], { env: { ...process.env, ...env } });
  const lines = stdout.trim().split('\n');
  t.match(stdout, /allow/i);
  t.match(stdout, /deny/i);
  t.match(stdout, /write/);
  t.match(stdout, /salaries/);
  t.ok(lines.length >= 3);
});

t.test('serve: listens, answers, and exits 0 on SIGTERM', async (t) => {
  const { doc, env, passwords } = buildTestConfigDoc({ pg: server });
  const port = await freePort();
  doc.listen = `127.0.0.1:${port}`;
  doc.admin = { listen: '127.0.0.1:0' };
  const file = path.join(dir, 'serve.yaml');
  fs.writeFileSync(file, stringify(doc));
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (let i = 0; i < 100 && !out.includes('proxy.listening'); i++) await new Promise((r) => setTimeout(r, 100));
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'admin', password: passwords.admin, database: 'yugabyte', ssl: { ca: fs.readFileSync(server.pki.ca.certFile, 'utf8') } });
  await client.connect();
  t.same((await client.query('select 1 as ok')).rows, [{ ok: 1 }]);
  await client.end();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit code 0 after draining');
  t.match(out, /"event":"session.closed"/);
  t.notOk(out.includes(passwords.admin!), 'no password in the logs');
});
