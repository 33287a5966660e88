// Live reload, in-process (`running.reload(config)`) and through the CLI (`serve --config FILE` + SIGHUP):
// a broken config keeps the old one serving; allow-list changes apply to the next connection; removed users
// and users no longer allowed from their address are ended with 57P01; a rotated certificate is what the next
// handshake presents; certificate expiry is exported for every configured certificate.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import net from 'node:net';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import pg from 'pg';
import { stringify } from 'yaml';
import { sharedPostgres } from '../helpers/pg.js';
import { buildTestConfigDoc, startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { buildSSLRequest } from '../helpers/frontend-builders.js';
import { sendAndCollect } from '../helpers/raw-client.js';
import { freePort } from '../helpers/ports.js';
import { issueServerCertificate } from '../../src/demo/certs.js';
import type { Config, UserConfig } from '../../src/config/types.js';

const run = promisify(execFile);
const server = await sharedPostgres(t);
const caPem = fs.readFileSync(server.pki.ca.certFile, 'utf8');

async function connect(proxy: TestProxy, user: string): Promise<pg.Client> {
  const client = new pg.Client(proxy.clientConfig(user));
  client.on('error', () => undefined); // pg reports a FATAL, then the close: only the first matters here
  await client.connect();
  return client;
}

async function loginWorks(proxy: TestProxy, user: string): Promise<boolean> {
  const client = new pg.Client(proxy.clientConfig(user));
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** The next error a connected client sees (FATAL from the proxy). */
function nextError(client: pg.Client): Promise<{ code?: string; message: string }> {
  return new Promise((resolve) => client.once('error', (err: Error & { code?: string }) => resolve({ code: err.code, message: err.message })));
}

const withUsers = (config: Config, users: readonly UserConfig[]): Config => ({ ...config, users });
const withAllow = (config: Config, allow: string[]): Config => ({ ...config, network: { ...config.network, allow } });

t.test('new rules apply to statements prepared under the old ones (and to SQL-level EXECUTE)', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const client = await connect(proxy, 'writer');
  t.teardown(() => client.end().catch(() => undefined));
  const insert = { name: 'ins_audit', text: 'insert into accounts values ($1, $2, 0) on conflict do nothing', values: [900, 'before'] };
  const select = { name: 'sel', text: 'select count(*)::int as n from accounts', values: [] };
  await client.query(insert);
  await client.query(select);
  await client.query('prepare sqlins as insert into accounts values (901, $$x$$, 0) on conflict do nothing');
  // The writer role loses write on accounts (it stays a writer elsewhere): its prepared INSERT must not run
  // again; its prepared SELECT still does.
  const roles = proxy.config.roles.map((r) => (r.name === 'writer'
    ? { ...r, deny: [...r.deny, { privileges: ['write' as const], objects: ['public.accounts'], functions: [] }] }
    : r));
  proxy.running.reload({ ...proxy.config, roles });
  const denied = await client.query({ ...insert, values: [902, 'after'] }).catch((e) => e);
  t.equal(denied.code, '42501', 'Bind of a statement prepared before the reload is checked by the new rules');
  t.same((await client.query(select)).rows.length, 1, 'a statement the new rules allow still runs');
  await t.rejects(client.query('execute sqlins'), { code: '42501' }, 'SQL-level EXECUTE too');
  t.same(await server.query("select count(*)::int as n from public.accounts where id in (901, 902)", 'yugabyte'), [{ n: 0 }]);
  await server.query('delete from public.accounts where id = 900', 'yugabyte');
});

t.test('a session the new rules would open differently upstream (now read-only) is ended with 57P01', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const writer = await connect(proxy, 'writer');
  const reader = await connect(proxy, 'app');
  t.teardown(() => reader.end().catch(() => undefined));
  t.same((await writer.query('show default_transaction_read_only')).rows, [{ default_transaction_read_only: 'off' }]);
  const ended = nextError(writer);
  const roles = proxy.config.roles.map((r) => (r.name === 'writer'
    ? { ...r, allow: r.allow.map((rule) => ({ ...rule, privileges: rule.privileges.filter((p) => p !== 'write') })) }
    : r));
  proxy.running.reload({ ...proxy.config, roles });
  t.equal((await ended).code, '57P01', 'its read-only wall cannot be raised in place: the session ends');
  t.same((await reader.query('select 1 as ok')).rows, [{ ok: 1 }], 'a session whose walls are unchanged continues');
  const again = await connect(proxy, 'writer');
  t.same((await again.query('show default_transaction_read_only')).rows, [{ default_transaction_read_only: 'on' }], 'reconnects with the wall');
  await again.end();
});

t.test('a config that cannot be applied is rejected and the old one keeps serving', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const broken: Config = { ...proxy.config, tls: { ...proxy.config.tls, certFile: path.join(proxy.dir, 'missing.crt') } };
  t.throws(() => proxy.running.reload(broken));
  t.ok(proxy.logs().some((l) => l.event === 'config.rejected'), 'config.rejected logged');
  t.match(await proxy.running.metrics.registry.metrics(), /ysqlgate_config_reloads_total\{result="failure"\} 1/);
  t.ok(await loginWorks(proxy, 'app'), 'still serving with the old config');
});

t.test('an allow-list change applies to the next connection; open sessions keep running', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const open = await connect(proxy, 'app');
  t.teardown(() => open.end().catch(() => undefined));
  proxy.running.reload(withAllow(proxy.config, ['::1/128']));
  const { bytes, closed } = await sendAndCollect(proxy.port, buildSSLRequest());
  t.equal(bytes.length, 0, 'the next 127.0.0.1 connection reads zero bytes');
  t.ok(closed);
  t.same((await open.query('select 1 as one')).rows, [{ one: 1 }], 'the existing session continues');
  proxy.running.reload(proxy.config);
  t.ok(await loginWorks(proxy, 'app'), 'allowed again after the next reload');
  t.match(await proxy.running.metrics.registry.metrics(), /ysqlgate_config_reloads_total\{result="success"\} 2/);
});

t.test('removing a user, or narrowing its `from`, ends its sessions with 57P01', async (t) => {
  const proxy = await startTestProxy(t, { pg: server });
  const writer = await connect(proxy, 'writer');
  const app = await connect(proxy, 'app');
  const admin = await connect(proxy, 'admin');
  t.teardown(() => admin.end().catch(() => undefined));
  const writerError = nextError(writer);
  proxy.running.reload(withUsers(proxy.config, proxy.config.users.filter((u) => u.name !== 'writer')));
  t.equal((await writerError).code, '57P01', 'removed user: 57P01');
  t.same((await app.query('select 1 as one')).rows, [{ one: 1 }], 'other users continue');
  t.notOk(await loginWorks(proxy, 'writer'), 'and the removed user cannot log in again');

  const appError = nextError(app);
  const narrowed = proxy.config.users.filter((u) => u.name !== 'writer').map((u) => (u.name === 'app' ? { ...u, from: ['10.0.0.0/8'] } : u));
  proxy.running.reload(withUsers(proxy.config, narrowed));
  t.equal((await appError).code, '57P01', 'user no longer allowed from its address: 57P01');
  t.same((await admin.query('select 1 as one')).rows, [{ one: 1 }], 'admin (no from) continues');
});

function presentedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port }, () => raw.write(buildSSLRequest()));
    raw.once('data', () => {
      const secure = tls.connect({ socket: raw, ca: caPem, servername: 'localhost' }, () => {
        const cert = secure.getPeerX509Certificate()!;
        secure.destroy();
        resolve(cert);
      });
      secure.once('error', reject);
    });
    raw.once('error', reject);
  });
}

t.test('a rotated certificate is what the next handshake presents; expiry metrics for every certificate', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-rotate-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const live = { certFile: path.join(dir, 'live.crt'), keyFile: path.join(dir, 'live.key') };
  fs.copyFileSync(server.pki.server.certFile, live.certFile);
  fs.copyFileSync(server.pki.server.keyFile, live.keyFile);
  const proxy = await startTestProxy(t, { pg: server, overrides: { tls: { cert: live.certFile, key: live.keyFile } } });
  const open = await connect(proxy, 'app');
  t.teardown(() => open.end().catch(() => undefined));
  const before = await presentedCertificate(proxy.port);
  t.equal(before.fingerprint256, new X509Certificate(fs.readFileSync(server.pki.server.certFile)).fingerprint256);

  const rotated = await issueServerCertificate(dir, 'rotated', server.pki.ca);
  fs.copyFileSync(rotated.certFile, live.certFile);
  fs.copyFileSync(rotated.keyFile, live.keyFile);
  proxy.running.reload(proxy.config); // same config, re-read files (what SIGHUP does)
  const after = await presentedCertificate(proxy.port);
  t.equal(after.fingerprint256, new X509Certificate(fs.readFileSync(rotated.certFile)).fingerprint256, 'the new certificate');
  t.not(after.fingerprint256, before.fingerprint256);
  t.ok(await loginWorks(proxy, 'app'), 'clients verify and log in against the rotated certificate');
  t.same((await open.query('select 1 as one')).rows, [{ one: 1 }], 'the session opened before the rotation continues');

  const text = await proxy.running.metrics.registry.metrics();
  const expiry = (name: string): number => Number(new RegExp(`ysqlgate_certificate_expiry_timestamp_seconds\\{certificate="${name}"\\} (\\d+)`).exec(text)?.[1]);
  t.equal(expiry('server'), Math.floor(new Date(after.validTo).getTime() / 1000), 'server: the rotated certificate');
  const ca = new X509Certificate(caPem);
  t.equal(expiry('client_ca'), Math.floor(new Date(ca.validTo).getTime() / 1000), 'client_ca');
  t.equal(expiry('upstream_ca'), Math.floor(new Date(ca.validTo).getTime() / 1000), 'upstream_ca');
});

t.test('CLI: serve --config, SIGHUP reloads (a broken file is rejected), SIGTERM exits 0', async (t) => {
  const root = path.resolve(import.meta.dirname, '../..');
  // Build the CLI as `npm run build` does. Type errors elsewhere in a work tree still emit JS; dist is checked below.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch(() => undefined);
  const cli = path.join(root, 'dist/cli.js');
  t.ok(fs.existsSync(cli), 'dist/cli.js built');

  const port = await freePort();
  const { doc, env, passwords } = buildTestConfigDoc({ pg: server, overrides: { listen: `127.0.0.1:${port}`, admin: { listen: '127.0.0.1:0' } } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ysqlgate-cli-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ysqlgate.yaml');
  const write = (d: unknown): void => fs.writeFileSync(file, typeof d === 'string' ? d : stringify(d));
  write(doc);

  const child = spawn(process.execPath, [cli, 'serve', '--config', file], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const lines: Array<Record<string, any>> = [];
  let pending = '';
  const waiters: Array<{ event: string; count: number; resolve: () => void }> = [];
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop()!;
    for (const part of parts) { try { lines.push(JSON.parse(part)); } catch { /* not JSON */ } }
    for (const w of [...waiters]) {
      if (lines.filter((l) => l.event === w.event).length >= w.count) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
    }
  });
  const stderr: string[] = [];
  child.stderr.on('data', (c: Buffer) => stderr.push(c.toString()));
  const waitFor = (event: string, count = 1, ms = 15_000): Promise<void> => new Promise((resolve, reject) => {
    if (lines.filter((l) => l.event === event).length >= count) return resolve();
    const timer = setTimeout(() => reject(new Error(`no ${event} #${count}; stderr: ${stderr.join('')}`)), ms);
    waiters.push({ event, count, resolve: () => { clearTimeout(timer); resolve(); } });
  });
  const login = async (): Promise<boolean> => {
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'app', password: passwords.app, database: 'yugabyte', ssl: { ca: caPem } });
    client.on('error', () => undefined);
    try { await client.connect(); await client.end(); return true; } catch { return false; }
  };

  await waitFor('proxy.listening');
  t.ok(await login(), 'serves the file');

  write({ ...doc, network: { ...doc.network, allow: ['::1/128'] } });
  child.kill('SIGHUP');
  await waitFor('config.reloaded');
  t.notOk(await login(), 'allow-list change applied after SIGHUP');

  write('listen: [this is not valid\n');
  child.kill('SIGHUP');
  await waitFor('config.rejected');
  t.notOk(await login(), 'a broken file is rejected: the last good config (::1 only) still applies');

  write(doc);
  child.kill('SIGHUP');
  await waitFor('config.reloaded', 2);
  t.ok(await login(), 'the restored file applies');

  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'SIGTERM: exit code 0');
  t.ok(lines.some((l) => l.event === 'proxy.stopped'));
});
