// Limited network exposure end to end: allow lists on IPv4 and IPv6 (refused clients read zero bytes), PROXY
// protocol v1/v2 from trusted and untrusted peers, per-user `from`, slow-client and connection limits, the
// message-size cap without buffering, and the brute-force lockout. Real PostgreSQL, pg and raw sockets.
import t from 'tap';
import net from 'node:net';
import fs from 'node:fs';
import pg from 'pg';
import { sharedPostgres } from '../helpers/pg.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';
import { buildSSLRequest } from '../helpers/frontend-builders.js';
import { connectTls, errorFields, readUntil, sendAndCollect } from '../helpers/raw-client.js';
import { buildStartup } from '../helpers/frontend-builders.js';
import { V2_SIGNATURE } from '../../src/net/proxy-protocol.js';

const server = await sharedPostgres(t);
const caPem = fs.readFileSync(server.pki.ca.certFile, 'utf8');

type Via = { localAddress?: string; preface?: Buffer };

/** A pg stream factory: binds to `localAddress` and writes `preface` (a PROXY header) before pg's first byte. */
function via(opts: Via): () => net.Socket {
  return () => {
    const socket = new net.Socket();
    const connect = socket.connect.bind(socket) as (o: net.TcpNetConnectOpts) => net.Socket;
    (socket as unknown as { connect: (port: number, host: string) => net.Socket }).connect = (port, host) => {
      connect({ port, host, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      if (opts.preface) socket.write(opts.preface);
      return socket;
    };
    return socket;
  };
}

async function login(proxy: TestProxy, user: string, extra: Partial<pg.ClientConfig> & { via?: Via } = {}): Promise<{ code?: string; message: string; client?: pg.Client }> {
  const { via: v, ...rest } = extra;
  const client = new pg.Client({ ...proxy.clientConfig(user), ...rest, ...(v ? { stream: via(v) } : {}) });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return { message: 'connected', client };
  } catch (err) {
    const e = err as { code?: string; message: string };
    return { code: e.code, message: e.message };
  }
}

async function loginAndEnd(proxy: TestProxy, user: string, extra: Partial<pg.ClientConfig> & { via?: Via } = {}): Promise<{ code?: string; message: string }> {
  const r = await login(proxy, user, extra);
  if (r.client) {
    await r.client.query('select 1');
    await r.client.end();
  }
  return { code: r.code, message: r.message };
}

/** Raw connection that sends `payload` and reports every byte received and whether the proxy closed. */
function rawExchange(port: number, payload: Buffer, opts: { host?: string; localAddress?: string; ms?: number } = {}): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, () => socket.write(payload));
    const done = (closed: boolean): void => { clearTimeout(timer); socket.destroy(); resolve({ bytes: Buffer.concat(chunks), closed }); };
    const timer = setTimeout(() => done(false), opts.ms ?? 2000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
  });
}

function v1(src: string, family: 'TCP4' | 'TCP6' = 'TCP4', port = 40001): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${family === 'TCP4' ? '127.0.0.1' : '::1'} ${port} 5433\r\n`, 'latin1');
}

function v2(opts: { src?: number[]; port?: number; cmd?: number; fam?: number; body?: Buffer }): Buffer {
  let body = opts.body;
  if (!body) {
    body = Buffer.alloc(12);
    Buffer.from(opts.src ?? [192, 0, 2, 10]).copy(body, 0);
    Buffer.from([127, 0, 0, 1]).copy(body, 4);
    body.writeUInt16BE(opts.port ?? 40002, 8);
    body.writeUInt16BE(5433, 10);
  }
  const head = Buffer.from([0x20 | (opts.cmd ?? 1), opts.fam ?? 0x11, 0, 0]);
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

const rejected = (proxy: TestProxy, reason: string): Array<Record<string, any>> =>
  proxy.logs().filter((l) => l.event === 'connection.rejected' && l.reason === reason);

async function metricsText(proxy: TestProxy): Promise<string> {
  return proxy.running.metrics.registry.metrics();
}

t.test('allow lists on 127.0.0.1 and ::1 (dual-stack listener): refused clients read zero bytes', async (t) => {
  const v4only = await startTestProxy(t, { pg: server, overrides: { listen: '[::]:0', network: { allow: ['127.0.0.1/32'] } } });
  const v6only = await startTestProxy(t, { pg: server, overrides: { listen: '[::]:0', network: { allow: ['::1/128'] } } });
  const v6 = { host: '::1', ssl: { ca: caPem } };
  // An IPv4 client reaches a dual-stack socket as ::ffff:127.0.0.1 and must match the IPv4 entry.
  t.same(await loginAndEnd(v4only, 'app'), { code: undefined, message: 'connected' }, '127.0.0.1 allowed by 127.0.0.1/32');
  t.same(await loginAndEnd(v6only, 'app', v6), { code: undefined, message: 'connected' }, '::1 allowed by ::1/128');
  for (const [proxy, host] of [[v4only, '::1'], [v6only, '127.0.0.1']] as const) {
    const { bytes, closed } = await rawExchange(proxy.port, buildSSLRequest(), { host });
    t.equal(bytes.length, 0, `${host} refused: zero bytes`);
    t.ok(closed, `${host} refused: connection closed`);
  }
  const r = await login(v4only, 'app', v6);
  t.ok(r.code === undefined && r.message !== 'connected', 'a real client on ::1 cannot connect');
  t.match(rejected(v4only, 'address_not_allowed')[0], { client: /^::1:\d+$/ });
  t.match(rejected(v6only, 'address_not_allowed')[0], { client: /^::ffff:127\.0\.0\.1:\d+$/ });
  t.match(await metricsText(v4only), /ysqlgate_client_connections_total\{outcome="address_not_allowed"\} [1-9]/);
});

t.test('PROXY protocol from a trusted peer: the reported address drives the allow list and the logs', async (t) => {
  const proxy = await startTestProxy(t, {
    pg: server, overrides: { network: { allow: ['192.0.2.0/24', '2001:db8::/32'], trustedProxies: ['127.0.0.1/32'] } },
  });
  t.same(await loginAndEnd(proxy, 'app', { via: { preface: v2({ src: [192, 0, 2, 10], port: 40002 }) } }), { code: undefined, message: 'connected' }, 'v2 TCP4');
  t.same(await loginAndEnd(proxy, 'app', { via: { preface: v1('192.0.2.11') } }), { code: undefined, message: 'connected' }, 'v1 TCP4');
  t.same(await loginAndEnd(proxy, 'app', { via: { preface: v1('2001:db8::7', 'TCP6', 40003) } }), { code: undefined, message: 'connected' }, 'v1 TCP6');
  const tcp6 = Buffer.alloc(36);
  Buffer.from('20010db8000000000000000000000009', 'hex').copy(tcp6, 0);
  tcp6[31] = 1;
  tcp6.writeUInt16BE(40004, 32);
  t.same(await loginAndEnd(proxy, 'app', { via: { preface: v2({ fam: 0x21, body: tcp6 }) } }), { code: undefined, message: 'connected' }, 'v2 TCP6');
  t.same(await loginAndEnd(proxy, 'app', { via: { preface: v2({ cmd: 0, fam: 0, body: Buffer.alloc(0) }) } }), { code: undefined, message: 'connected' }, 'v2 LOCAL: the peer speaks for itself');
  const clients = proxy.logs().filter((l) => l.event === 'auth.succeeded').map((l) => l.client);
  t.same(clients.slice(0, 4), ['192.0.2.10:40002', '192.0.2.11:40001', '2001:db8::7:40003', '2001:db8::9:40004'], 'logs carry the reported client');
  t.match(clients[4], /^127\.0\.0\.1:\d+$/);

  // A reported address outside the allow list: closed, nothing sent, logged with the reported address.
  for (const header of [v1('198.51.100.1'), v2({ src: [198, 51, 100, 2] })]) {
    const { bytes, closed } = await rawExchange(proxy.port, Buffer.concat([header, buildSSLRequest()]));
    t.equal(bytes.length, 0, 'reported address not allowed: zero bytes');
    t.ok(closed);
  }
  t.same(rejected(proxy, 'address_not_allowed').map((l) => l.client.replace(/:\d+$/, '')), ['198.51.100.1', '198.51.100.2']);
  t.equal(rejected(proxy, 'address_not_allowed')[0]!.peer, '127.0.0.1');

  // From a trusted peer the header is required.
  const missing = await rawExchange(proxy.port, buildSSLRequest());
  t.equal(missing.bytes.length, 0, 'no header: zero bytes');
  t.ok(missing.closed);
  t.equal(rejected(proxy, 'proxy_header_missing').length, 1);
  t.match(await metricsText(proxy), /ysqlgate_client_connections_total\{outcome="proxy_header_missing"\} 1/);
});

t.test('malformed PROXY headers from a trusted peer are refused without a byte', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { network: { allow: ['192.0.2.0/24'], trustedProxies: ['127.0.0.1/32'] } } });
  const bad: Array<[string, Buffer]> = [
    ['v1 octal address', Buffer.from('PROXY TCP4 0300.0.2.1 127.0.0.1 1 2\r\n')],
    ['v1 LF without CR', Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 1 2\n')],
    ['v1 without a line end', Buffer.from(`PROXY TCP4 192.0.2.1 127.0.0.1 1 ${'2'.repeat(200)}`)],
    ['v1 port out of range', Buffer.from('PROXY TCP4 192.0.2.1 127.0.0.1 99999 2\r\n')],
    ['v2 version 3', Buffer.concat([V2_SIGNATURE, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)])],
    ['v2 UDP', v2({ fam: 0x12 })],
    ['v2 length beyond the cap', Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])])],
  ];
  for (const [name, header] of bad) {
    const { bytes, closed } = await rawExchange(proxy.port, Buffer.concat([header, buildSSLRequest()]));
    t.equal(bytes.length, 0, `${name}: zero bytes`);
    t.ok(closed, `${name}: closed`);
  }
  t.equal(rejected(proxy, 'proxy_header_invalid').length, bad.length);
  t.ok(rejected(proxy, 'proxy_header_invalid').every((l) => typeof l.detail === 'string'), 'the log names the defect');
});

t.test('a PROXY header from an untrusted peer is refused', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { network: { allow: ['127.0.0.0/8', '192.0.2.0/24'], trustedProxies: ['10.0.0.0/8'] } } });
  for (const header of [v1('192.0.2.10'), v2({ src: [192, 0, 2, 10] })]) {
    const { bytes, closed } = await rawExchange(proxy.port, Buffer.concat([header, buildSSLRequest()]));
    t.equal(bytes.length, 0, 'zero bytes');
    t.ok(closed);
    const r = await login(proxy, 'app', { via: { preface: header } });
    t.not(r.message, 'connected', 'a real client behind a spoofed header cannot log in');
  }
  t.equal(rejected(proxy, 'proxy_header_untrusted').length, 4);
  t.same(await loginAndEnd(proxy, 'app'), { code: undefined, message: 'connected' }, 'the same peer without a header is served');
});

t.test('per-user from: outside it, exactly the wrong-password response; the log says why', async (t) => {
  const proxy = await startTestProxy(t, {
    pg: server,
    overrides: { network: { allow: ['127.0.0.0/8'] } },
    extraUsers: [{ name: 'narrow', roles: ['reader'], from: ['127.0.0.2/32'], upstream: { user: 'app_ro' } }],
  });
  t.same(await loginAndEnd(proxy, 'narrow', { via: { localAddress: '127.0.0.2' } }), { code: undefined, message: 'connected' });
  const outside = await login(proxy, 'narrow', { via: { localAddress: '127.0.0.3' } });
  const wrong = await login(proxy, 'narrow', { password: 'wrong', via: { localAddress: '127.0.0.2' } });
  t.equal(outside.code, '28P01');
  t.same(outside, wrong, 'same code and message as a wrong password');
  // Same exchange shape as a wrong password: SASL, SASLContinue with salt and iterations, then the FATAL.
  const failed = proxy.logs().filter((l) => l.event === 'auth.failed' && l.user === 'narrow');
  t.equal(failed[0]!.reason, 'address_not_allowed_for_user');
  t.match(failed[0]!.client, /^127\.0\.0\.3:/);
  t.not(failed[1]!.reason, 'address_not_allowed_for_user');
});

t.test('200 clients trickling a byte a second are closed at startupTimeout; a normal client still logs in', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { limits: { startupTimeout: '1s' } } });
  const started = Date.now();
  const startup = buildSSLRequest();
  const closedAt: Promise<number>[] = [];
  const sockets: net.Socket[] = [];
  for (let i = 0; i < 200; i++) {
    closedAt.push(new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: proxy.port });
      sockets.push(s);
      let sent = 0;
      // Silent clients (every tenth) never send a byte: the PROXY/first-byte stage must time out too.
      const tick = (): void => { if (i % 10 !== 0 && sent < startup.length && !s.destroyed) s.write(startup.subarray(sent, ++sent)); };
      s.on('connect', tick);
      const timer = setInterval(tick, 1000);
      s.on('error', () => undefined);
      s.on('data', () => undefined); // read the FATAL, so the FIN after it is seen
      s.on('close', () => { clearInterval(timer); resolve(Date.now() - started); });
    }));
  }
  t.teardown(() => { for (const s of sockets) s.destroy(); });
  await new Promise((r) => setTimeout(r, 300));
  const normal = await loginAndEnd(proxy, 'app');
  t.same(normal, { code: undefined, message: 'connected' }, 'a normal client logs in while 200 trickle');
  const times = await Promise.all(closedAt);
  const last = Math.max(...times);
  t.ok(last < 3000, `all 200 closed by ${last} ms (startupTimeout 1 s)`);
  t.ok(Math.min(...times) >= 900, `none closed before the timeout (${Math.min(...times)} ms)`);
});

t.test('connection limits answer 53300', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { limits: { maxConnections: 2, maxConnectionsPerUser: 1 } } });
  const first = await login(proxy, 'app');
  t.ok(first.client);
  const perUser = await login(proxy, 'app');
  t.equal(perUser.code, '53300', 'second session of the same user');
  t.match(perUser.message, /too many connections for role "app"/);
  const second = await login(proxy, 'writer');
  t.ok(second.client);
  const overall = await login(proxy, 'admin');
  t.equal(overall.code, '53300', 'third session overall');
  await first.client!.end();
  await second.client!.end();
  await new Promise((r) => setTimeout(r, 100));
  t.same(await loginAndEnd(proxy, 'admin'), { code: undefined, message: 'connected' }, 'slots are released');
});

t.test('an oversized message is refused with 08P01 before it is buffered', async (t) => {
  const proxy = await startTestProxy(t, { pg: server, overrides: { limits: { maxMessageSize: '1MiB' } } });
  const payload = Buffer.alloc(64 * 1024 * 1024, 0x61);
  const declare = (code: string): Buffer => {
    const head = Buffer.alloc(5);
    head.write(code, 0, 'latin1');
    head.writeInt32BE(500 * 1024 * 1024, 1);
    return head;
  };
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  // During authentication: a SASL message declaring 500 MiB.
  const s = await connectTls(proxy.port, server.pki.ca.certFile);
  s.on('error', () => undefined);
  s.write(buildStartup({ user: 'app', database: 'yugabyte' }));
  await readUntil(s, 'R');
  s.write(declare('p'));
  s.write(payload);
  const msgs = await readUntil(s, 'E');
  const fields = errorFields(msgs.find((m) => m.code === 'E')!.body);
  t.equal(fields.C, '08P01');
  t.equal(fields.S, 'FATAL');
  s.destroy();
  // After login, in the relay: a Query declaring 500 MiB.
  const r = await login(proxy, 'app');
  const client = r.client!;
  const errored = new Promise<{ code?: string }>((resolve) => client.once('error', resolve));
  const stream = (client as unknown as { connection: { stream: net.Socket } }).connection.stream;
  stream.write(declare('Q'));
  stream.write(payload);
  t.equal((await errored).code, '08P01');
  const after = process.memoryUsage();
  const grew = (after.arrayBuffers - before.arrayBuffers) / 1024 / 1024;
  t.ok(grew < 48, `arrayBuffers grew ${grew.toFixed(1)} MiB for 2 x 64 MiB sent, 500 MiB declared`);
  t.ok((after.rss - before.rss) / 1024 / 1024 < 200, `rss grew ${((after.rss - before.rss) / 1024 / 1024).toFixed(1)} MiB`);
});

t.test('lockout after repeated failures, per address and per user; released after the lockout period', async (t) => {
  const proxy = await startTestProxy(t, {
    pg: server,
    overrides: { network: { allow: ['127.0.0.0/8'] }, limits: { authFailures: { max: 3, window: '10s', lockout: '2s' } } },
  });
  const from = (n: number): { via: Via } => ({ via: { localAddress: `127.0.0.${n}` } });
  // Per address: three failures from 127.0.0.2, whatever the user name (known or not).
  t.equal((await login(proxy, 'app', { password: 'bad', ...from(2) })).code, '28P01');
  t.equal((await login(proxy, 'nobody', { password: 'bad', ...from(2) })).code, '28P01');
  t.equal((await login(proxy, 'writer', { password: 'bad', ...from(2) })).code, '28P01');
  const locked = await login(proxy, 'admin', from(2));
  t.equal(locked.code, '28000', 'the correct password is refused while the address is locked');
  t.equal(locked.message, 'too many failed authentication attempts; try again later');
  t.same(await loginAndEnd(proxy, 'admin', from(3)), { code: undefined, message: 'connected' }, 'another address is not locked');

  // Per user: one failure from each of three addresses locks the name, known or unknown alike.
  for (const user of ['writer', 'ghost']) {
    for (const n of [4, 5, 6]) await login(proxy, user, { password: 'bad', ...from(n) });
    const r = await login(proxy, user, from(7));
    t.equal(r.code, '28000', `${user}: locked from any address`);
  }
  // While locked, the password is not even asked for: the FATAL comes straight after the StartupMessage.
  const s = await connectTls(proxy.port, server.pki.ca.certFile);
  s.write(buildStartup({ user: 'writer', database: 'yugabyte' }));
  const msgs = await readUntil(s, 'E');
  s.destroy();
  t.same(msgs.map((m) => m.code), ['E'], 'no AuthenticationSASL');
  t.equal(errorFields(msgs[0]!.body).C, '28000');

  t.match(await metricsText(proxy), /ysqlgate_auth_attempts_total\{method="scram",result="locked"\} [4-9]/);
  t.ok(proxy.logs().some((l) => l.event === 'auth.failed' && l.reason === 'locked_out' && l.scope === 'address'));
  t.ok(proxy.logs().some((l) => l.event === 'auth.locked' && l.user === 'writer' && l.scopes.includes('user')));

  await new Promise((r) => setTimeout(r, 2100));
  t.same(await loginAndEnd(proxy, 'admin', from(2)), { code: undefined, message: 'connected' }, 'address released after the lockout');
  t.same(await loginAndEnd(proxy, 'writer', from(7)), { code: undefined, message: 'connected' }, 'user released after the lockout');
});

void sendAndCollect;
