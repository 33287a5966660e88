// Frontend body decoders: valid messages (from our builders and from pg-protocol's serializer) and malformed ones.
import t from 'tap';
import { serialize } from 'pg-protocol/dist/serializer';
import * as d from '../../../src/protocol/frontend.js';
import * as b from '../../helpers/frontend-builders.js';
import { throwsReason } from '../../helpers/protocol-violation.js';

const body = (msg: Buffer): Buffer => msg.subarray(5);
const z = (s: string): Buffer => Buffer.from(s + '\0', 'utf8');
const i16 = (v: number): Buffer => Buffer.from([(v >> 8) & 255, v & 255]);
const i32 = (v: number): Buffer => {
  const x = Buffer.alloc(4);
  x.writeInt32BE(v | 0);
  return x;
};
const cat = (...p: Buffer[]): Buffer => Buffer.concat(p);
const MALFORMED = 'malformed_message';

t.test('test builders agree byte for byte with pg-protocol serialize', async (t) => {
  t.same(b.buildQuery('SELECT 1'), serialize.query('SELECT 1'));
  t.same(b.buildParse('s', 'SELECT $1', [23]), serialize.parse({ name: 's', text: 'SELECT $1', types: [23] }));
  // pg's Bind also sends explicit text format codes; ours sends none. Both must decode (see below).
  t.same(b.buildExecute('p', 5), serialize.execute({ portal: 'p', rows: 5 }));
  t.same(b.buildDescribe('S', 's'), serialize.describe({ type: 'S', name: 's' }));
  t.same(b.buildClose('P', 'p'), serialize.close({ type: 'P', name: 'p' }));
  t.same(b.buildSync(), serialize.sync());
  t.same(b.buildFlush(), serialize.flush());
  t.same(b.buildTerminate(), serialize.end());
  t.same(b.buildCopyDone(), serialize.copyDone());
  t.same(b.buildCopyFail('no'), serialize.copyFail('no'));
  t.same(b.buildSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=x'), serialize.sendSASLInitialResponseMessage('SCRAM-SHA-256', 'n,,n=,r=x'));
  t.same(b.buildSASLResponse('c=biws'), serialize.sendSCRAMClientFinalMessage('c=biws'));
  t.same(b.buildPassword('pw'), serialize.password('pw'));
  // pg adds client_encoding=UTF8 itself
  t.same(b.buildStartup({ user: 'u', database: 'd', client_encoding: 'UTF8' }), serialize.startup({ user: 'u', database: 'd' }));
  t.same(b.buildSSLRequest(), serialize.requestSsl());
  t.same(b.buildCancelRequest(7, 9), serialize.cancel(7, 9));
});

t.test('valid bodies', async (t) => {
  t.equal(d.decodeQuery(body(serialize.query('SELECT \u00e9'))), 'SELECT \u00e9');
  t.equal(d.decodeQuery(body(b.buildQuery(''))), '');
  t.same(d.decodeParse(body(serialize.parse({ name: 'a', text: 'SELECT $1, $2', types: [23, 4294967295] }))), {
    name: 'a', query: 'SELECT $1, $2', paramTypes: [23, 4294967295],
  });
  t.same(d.decodeParse(body(b.buildParse('', 'x', []))), { name: '', query: 'x', paramTypes: [] });
  t.same(d.decodeBind(body(serialize.bind({ portal: 'p', statement: 's', values: ['1', null, Buffer.from([1, 2])] }))), { portal: 'p', statement: 's' });
  t.same(d.decodeBind(body(b.buildBind('p', 's', ['1', null]))), { portal: 'p', statement: 's' });
  t.same(d.decodeBind(body(serialize.bind({ binary: true, values: [Buffer.from([0])] }))), { portal: '', statement: '' });
  t.same(d.decodeExecute(body(b.buildExecute('p', 0))), { portal: 'p', maxRows: 0 });
  t.same(d.decodeDescribe(body(b.buildDescribe('S', 'x'))), { target: 'S', name: 'x' });
  t.same(d.decodeDescribe(body(b.buildDescribe('P', ''))), { target: 'P', name: '' });
  t.same(d.decodeClose(body(b.buildClose('S', 's1'))), { target: 'S', name: 's1' });
  t.same(d.decodeFunctionCall(body(b.buildFunctionCall(3000000000))), { functionOid: 3000000000 });
  const fcArgs = cat(i32(1598), i16(1), i16(0), i16(2), i32(1), Buffer.from('a'), i32(-1), i16(0));
  t.same(d.decodeFunctionCall(fcArgs), { functionOid: 1598 });
  const sir = d.decodeSASLInitialResponse(body(b.buildSASLInitialResponse('SCRAM-SHA-256', 'n,,n=,r=x')));
  t.equal(sir.mechanism, 'SCRAM-SHA-256');
  t.equal(sir.data.toString(), 'n,,n=,r=x');
  const none = d.decodeSASLInitialResponse(body(b.buildSASLInitialResponse('SCRAM-SHA-256', null)));
  t.equal(none.data.length, 0, 'length -1 means no data');
  t.equal(d.decodeSASLResponse(body(b.buildSASLResponse('c=biws'))).toString(), 'c=biws');
  t.equal(d.decodePasswordMessage(body(b.buildPassword('pw'))), 'pw');
  t.equal(d.decodeCopyFail(body(b.buildCopyFail('why'))), 'why');
});

t.test('malformed bodies', async (t) => {
  const cases: [string, () => unknown][] = [
    ['query: no NUL', () => d.decodeQuery(Buffer.from('SELECT 1'))],
    ['query: empty body', () => d.decodeQuery(Buffer.alloc(0))],
    ['query: embedded NUL', () => d.decodeQuery(cat(z('SELECT 1'), z('DROP TABLE x')))],
    ['query: trailing byte', () => d.decodeQuery(cat(z('SELECT 1'), Buffer.from('x')))],
    ['query: invalid UTF-8', () => d.decodeQuery(Buffer.from([0x53, 0xe9, 0x00]))],
    ['parse: no query', () => d.decodeParse(z('s'))],
    ['parse: no count', () => d.decodeParse(cat(z('s'), z('q')))],
    ['parse: count beyond body', () => d.decodeParse(cat(z('s'), z('q'), i16(2), i32(23)))],
    ['parse: trailing bytes', () => d.decodeParse(cat(z('s'), z('q'), i16(1), i32(23), Buffer.from([0])))],
    ['parse: half count', () => d.decodeParse(cat(z('s'), z('q'), Buffer.from([0])))],
    ['bind: no statement name', () => d.decodeBind(z('p'))],
    ['bind: formats beyond body', () => d.decodeBind(cat(z('p'), z('s'), i16(3), i16(0)))],
    ['bind: value length beyond body', () => d.decodeBind(cat(z('p'), z('s'), i16(0), i16(1), i32(100), Buffer.from('ab'), i16(0)))],
    ['bind: value length -2', () => d.decodeBind(cat(z('p'), z('s'), i16(0), i16(1), i32(-2), i16(0)))],
    ['bind: missing result formats', () => d.decodeBind(cat(z('p'), z('s'), i16(0), i16(0)))],
    ['bind: trailing', () => d.decodeBind(cat(body(b.buildBind('p', 's', ['1'])), Buffer.from([0])))],
    ['execute: short maxRows', () => d.decodeExecute(cat(z('p'), Buffer.from([0, 0])))],
    ['execute: trailing', () => d.decodeExecute(cat(z('p'), i32(0), Buffer.from([1])))],
    ['execute: no NUL', () => d.decodeExecute(Buffer.from('portal'))],
    ['describe: bad target', () => d.decodeDescribe(cat(Buffer.from('X'), z('n')))],
    ['describe: empty', () => d.decodeDescribe(Buffer.alloc(0))],
    ['describe: no NUL', () => d.decodeDescribe(Buffer.from('Sname'))],
    ['describe: trailing', () => d.decodeDescribe(cat(Buffer.from('S'), z('n'), Buffer.from('x')))],
    ['close: bad target', () => d.decodeClose(cat(Buffer.from('s'), z('n')))],
    ['close: trailing', () => d.decodeClose(cat(Buffer.from('P'), z('n'), z('m')))],
    ['functioncall: short oid', () => d.decodeFunctionCall(Buffer.from([0, 0, 1]))],
    ['functioncall: no result format', () => d.decodeFunctionCall(cat(i32(1), i16(0), i16(0)))],
    ['functioncall: arg beyond body', () => d.decodeFunctionCall(cat(i32(1), i16(0), i16(1), i32(9), i16(0)))],
    ['functioncall: trailing', () => d.decodeFunctionCall(cat(body(b.buildFunctionCall(1)), Buffer.from([0])))],
    ['sasl initial: no mechanism NUL', () => d.decodeSASLInitialResponse(Buffer.from('SCRAM'))],
    ['sasl initial: no length', () => d.decodeSASLInitialResponse(z('SCRAM-SHA-256'))],
    ['sasl initial: length beyond body', () => d.decodeSASLInitialResponse(cat(z('M'), i32(10), Buffer.from('abc')))],
    ['sasl initial: length -2', () => d.decodeSASLInitialResponse(cat(z('M'), i32(-2)))],
    ['sasl initial: trailing after data', () => d.decodeSASLInitialResponse(cat(z('M'), i32(1), Buffer.from('ab')))],
    ['sasl initial: trailing after -1', () => d.decodeSASLInitialResponse(cat(z('M'), i32(-1), Buffer.from('a')))],
    ['password: no NUL', () => d.decodePasswordMessage(Buffer.from('pw'))],
    ['password: trailing', () => d.decodePasswordMessage(cat(z('pw'), Buffer.from('x')))],
    ['copyfail: no NUL', () => d.decodeCopyFail(Buffer.from('e'))],
  ];
  for (const [name, fn] of cases) throwsReason(t, fn, MALFORMED, name);
});
