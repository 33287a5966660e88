// Startup packet decoding, length caps and PostgreSQL's parsing of the "options" parameter.
import t from 'tap';
import {
  decodeStartupPacket,
  parseStartupOptions,
  peekStartupLength,
  STARTUP_MAX_LENGTH,
} from '../../../src/protocol/startup.js';
import * as b from '../../helpers/frontend-builders.js';
import { throwsReason } from '../../helpers/protocol-violation.js';

/** A raw first packet from a body (length prefix computed, or forced). */
function raw(body: Buffer, len = body.length + 4): Buffer {
  const h = Buffer.alloc(4);
  h.writeInt32BE(len);
  return Buffer.concat([h, body]);
}
const version = (major: number, minor: number): Buffer => Buffer.from([major >> 8, major & 255, minor >> 8, minor & 255]);
const z = (s: string): Buffer => Buffer.from(s + '\0', 'utf8');

t.test('peekStartupLength', async (t) => {
  t.equal(peekStartupLength(Buffer.alloc(0)), null);
  t.equal(peekStartupLength(Buffer.from([0, 0, 0])), null);
  for (const len of [8, 9, 10000]) t.equal(peekStartupLength(raw(Buffer.alloc(0), len)), len);
  for (const len of [7, 0, -1, 10001, 0x7fffffff]) {
    throwsReason(t, () => peekStartupLength(raw(Buffer.alloc(0), len)), 'startup_length', `length ${len}`);
  }
});

t.test('valid StartupMessage 3.0', async (t) => {
  const p = decodeStartupPacket(b.buildStartup({ user: 'alice', database: 'db', application_name: 'caf\u00e9' }));
  t.same(p, {
    kind: 'startup',
    majorVersion: 3,
    minorVersion: 0,
    parameters: new Map([['user', 'alice'], ['database', 'db'], ['application_name', 'caf\u00e9']]),
    protocolOptions: [],
  });
});

t.test('3.2 minor and _pq_ options', async (t) => {
  const p = decodeStartupPacket(b.buildStartup({ user: 'u', '_pq_.foo': '1', '_pq_.bar': '' }, { major: 3, minor: 2 }));
  if (p.kind !== 'startup') throw new Error('kind');
  t.equal(p.minorVersion, 2);
  t.same([...p.parameters.keys()], ['user'], '_pq_ names are not parameters');
  t.same(p.protocolOptions, ['_pq_.foo', '_pq_.bar']);
});

t.test('empty parameter list and empty values', async (t) => {
  const p = decodeStartupPacket(raw(Buffer.concat([version(3, 0), Buffer.from([0])])));
  t.same(p.kind === 'startup' && [...p.parameters], []);
  const q = decodeStartupPacket(b.buildStartup({ user: 'u', options: '' }));
  t.equal(q.kind === 'startup' && q.parameters.get('options'), '');
});

t.test('length 10000 accepted, 10001 refused', async (t) => {
  const fill = (n: number): Buffer => b.buildStartup({ user: 'u', x: 'a'.repeat(n) });
  const base = fill(0).length;
  const at = fill(STARTUP_MAX_LENGTH - base);
  t.equal(at.length, 10000);
  t.equal(decodeStartupPacket(at).kind, 'startup');
  const over = fill(STARTUP_MAX_LENGTH - base + 1);
  t.equal(over.length, 10001);
  throwsReason(t, () => decodeStartupPacket(over), 'startup_length');
  throwsReason(t, () => decodeStartupPacket(raw(Buffer.alloc(3))), 'startup_length', 'length 7');
});

t.test('SSLRequest, GSSENCRequest, CancelRequest', async (t) => {
  t.same(decodeStartupPacket(b.buildSSLRequest()), { kind: 'ssl' });
  t.same(decodeStartupPacket(b.buildGSSENCRequest()), { kind: 'gssenc' });
  t.same(decodeStartupPacket(b.buildCancelRequest(1234, -5)), { kind: 'cancel', processId: 1234, secretKey: -5 });
  const ssl = b.buildSSLRequest().subarray(4);
  throwsReason(t, () => decodeStartupPacket(raw(Buffer.concat([ssl, Buffer.alloc(4)]))), 'startup_length', 'ssl 12');
  const gss = b.buildGSSENCRequest().subarray(4);
  throwsReason(t, () => decodeStartupPacket(raw(Buffer.concat([gss, Buffer.alloc(1)]))), 'startup_length', 'gssenc 9');
  const cancel = b.buildCancelRequest(1, 2).subarray(4);
  throwsReason(t, () => decodeStartupPacket(raw(cancel.subarray(0, 8))), 'startup_length', 'cancel 12');
  throwsReason(t, () => decodeStartupPacket(raw(Buffer.concat([cancel, Buffer.alloc(4)]))), 'startup_length', 'cancel 20');
});

t.test('declared length must equal the packet length', async (t) => {
  const p = b.buildStartup({ user: 'u' });
  throwsReason(t, () => decodeStartupPacket(p.subarray(0, p.length - 1)), 'startup_length');
  throwsReason(t, () => decodeStartupPacket(Buffer.concat([p, Buffer.from([0])])), 'startup_length');
});

t.test('unsupported protocol versions', async (t) => {
  for (const [maj, min] of [[2, 0], [4, 0], [1234, 5677], [0, 3]] as const) {
    throwsReason(t, () => decodeStartupPacket(raw(Buffer.concat([version(maj, min), z('user'), z('u'), Buffer.from([0])]))), 'unsupported_protocol', `${maj}.${min}`);
  }
});

t.test('malformed parameter lists', async (t) => {
  const v = version(3, 0);
  const cases: [string, Buffer][] = [
    ['no parameters, no terminator (length 8)', v],
    ['missing final terminator', Buffer.concat([v, z('user'), z('u')])],
    ['name without NUL', Buffer.concat([v, Buffer.from('user')])],
    ['value without NUL', Buffer.concat([v, z('user'), Buffer.from('u')])],
    ['name without value', Buffer.concat([v, z('user'), Buffer.from([0])]).subarray(0, 4 + 5)],
    ['duplicate name', Buffer.concat([v, z('user'), z('a'), z('user'), z('b'), Buffer.from([0])])],
    ['duplicate _pq_ name', Buffer.concat([v, z('_pq_.x'), z('1'), z('_pq_.x'), z('2'), Buffer.from([0])])],
    ['empty name followed by more', Buffer.concat([v, z('user'), z('u'), z(''), z('x'), Buffer.from([0])])],
    ['bytes after the terminator', Buffer.concat([v, z('user'), z('u'), Buffer.from([0, 0])])],
    ['invalid UTF-8 name', Buffer.concat([v, Buffer.from([0xc3, 0x28, 0]), z('u'), Buffer.from([0])])],
    ['invalid UTF-8 value', Buffer.concat([v, z('user'), Buffer.from([0x61, 0xff, 0]), Buffer.from([0])])],
    ['overlong UTF-8 NUL', Buffer.concat([v, z('user'), Buffer.from([0xc0, 0x80, 0]), Buffer.from([0])])],
  ];
  for (const [name, body] of cases) throwsReason(t, () => decodeStartupPacket(raw(body)), 'malformed_startup', name);
});

t.test('parseStartupOptions', async (t) => {
  const set = (name: string, value: string) => ({ kind: 'setting', name, value });
  const cases: [string, unknown[]][] = [
    ['', []],
    ['   ', []],
    ['-c search_path=a\\ b', [set('search_path', 'a b')]],
    ['--role=x', [set('role', 'x')]],
    ['-c  role=x', [set('role', 'x')]],
    ['-crole=x', [set('role', 'x')]],
    ['-c DEFAULT-TRANSACTION-READ-ONLY=off', [set('default_transaction_read_only', 'off')]],
    ['--Default-Transaction-Read-Only=off', [set('default_transaction_read_only', 'off')]],
    ['-c\trole=x\n-c statement_timeout=0', [set('role', 'x'), set('statement_timeout', '0')]],
    ['-c x=a\\\\b', [set('x', 'a\\b')]],
    ['-c x=\\-y', [set('x', '-y')]],
    ['-c a=b=c', [set('a', 'b=c')]],
    ['-c role=', [set('role', '')]],
    ['-c my.Ext-Opt=1', [set('my.ext_opt', '1')]],
    ['-c\\ role=x', [set(' role', 'x')]],
    ['-B 100', [{ kind: 'switch', flag: 'B', value: '100' }]],
    ['-B100 -d 5', [{ kind: 'switch', flag: 'B', value: '100' }, { kind: 'switch', flag: 'd', value: '5' }]],
    ['-e -F', [{ kind: 'switch', flag: 'e', value: null }, { kind: 'switch', flag: 'F', value: null }]],
    ['-Fc role=x', [{ kind: 'switch', flag: 'F', value: null }, set('role', 'x')]],
    ['-eBx', [{ kind: 'switch', flag: 'e', value: null }, { kind: 'switch', flag: 'B', value: 'x' }]],
    ['-o -c', [{ kind: 'switch', flag: 'o', value: '-c' }]],
    ['-c role=x --', [set('role', 'x')]],
  ];
  for (const [input, expected] of cases) t.same(parseStartupOptions(input), expected, JSON.stringify(input));
  const bad = ['-c', '-c role', '--role', '-c role=x -c', 'role=x', '-c =x', '-', '-Z', '-c a=1 stray', '-- -c a=1', '\\', '-B'];
  for (const input of bad) throwsReason(t, () => parseStartupOptions(input), 'malformed_options', JSON.stringify(input));
});
