// Backend encoders: every frame round-trips through pg-protocol's Parser (an independent client implementation).
import t, { type Test } from 'tap';
import { Parser } from 'pg-protocol/dist/parser';
import * as e from '../../../src/protocol/backend.js';
import { parseBackendMessages } from '../../helpers/frontend-builders.js';
import { throwsReason } from '../../helpers/protocol-violation.js';

/** Parses one buffer with pg-protocol; asserts nothing is left over by requiring exactly `count` messages. */
function pgParse(buf: Buffer): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  new Parser().parse(buf, (m) => out.push(m as unknown as Record<string, unknown>));
  return out;
}
function one(t: Test, buf: Buffer): Record<string, unknown> {
  const msgs = pgParse(buf);
  t.equal(msgs.length, 1, 'exactly one message');
  t.equal(parseBackendMessages(buf).length, 1);
  t.equal(buf.readInt32BE(1) + 1, buf.length, 'length field matches');
  return msgs[0]!;
}

t.test('ErrorResponse and NoticeResponse', async (t) => {
  const err = one(t, e.encodeErrorResponse({ severity: 'FATAL', code: '28P01', message: 'password authentication failed', detail: 'd\u00e9', hint: 'h' }));
  t.match(err, { name: 'error', severity: 'FATAL', code: '28P01', message: 'password authentication failed', detail: 'd\u00e9', hint: 'h' });
  const plain = one(t, e.encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'denied' }));
  t.match(plain, { name: 'error', severity: 'ERROR', code: '42501', message: 'denied', detail: undefined, hint: undefined });
  const notice = one(t, e.encodeNoticeResponse({ severity: 'WARNING', code: '01000', message: 'careful' }));
  t.match(notice, { name: 'notice', severity: 'WARNING', code: '01000', message: 'careful' });
  const f = e.decodeErrorFields(e.encodeErrorResponse({ severity: 'ERROR', code: 'XX000', message: 'm', hint: 'h' }).subarray(5));
  t.same([...f], [['S', 'ERROR'], ['V', 'ERROR'], ['C', 'XX000'], ['M', 'm'], ['H', 'h']], 'field order S V C M H');
});

t.test('NULs inside strings cannot break framing', async (t) => {
  const buf = e.encodeErrorResponse({ severity: 'ERROR', code: '42501', message: 'a\0Mb', detail: '\0' });
  const m = one(t, buf);
  t.equal(m['message'], 'aMb');
  t.equal(m['detail'], '');
  t.match(one(t, e.encodeCommandComplete('SELECT\u00001')), { name: 'commandComplete', text: 'SELECT1' });
});

t.test('authentication messages', async (t) => {
  t.match(one(t, e.AUTHENTICATION_OK), { name: 'authenticationOk' });
  t.match(one(t, e.encodeAuthenticationSASL(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])), {
    name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
  });
  t.match(one(t, e.encodeAuthenticationSASLContinue(Buffer.from('r=abc,s=xyz,i=4096'))), { name: 'authenticationSASLContinue', data: 'r=abc,s=xyz,i=4096' });
  t.match(one(t, e.encodeAuthenticationSASLFinal(Buffer.from('v=sig'))), { name: 'authenticationSASLFinal', data: 'v=sig' });
});

t.test('session messages', async (t) => {
  t.match(one(t, e.encodeParameterStatus('server_version', '15.2')), { name: 'parameterStatus', parameterName: 'server_version', parameterValue: '15.2' });
  t.match(one(t, e.encodeBackendKeyData(4242, -7)), { name: 'backendKeyData', processID: 4242, secretKey: -7 });
  t.match(one(t, e.encodeBackendKeyData(1, 0xffffffff)), { name: 'backendKeyData', secretKey: -1 }, 'unsigned input, same bits');
  for (const [buf, s] of [[e.READY_FOR_QUERY_IDLE, 'I'], [e.READY_FOR_QUERY_IN_TRANSACTION, 'T'], [e.READY_FOR_QUERY_FAILED, 'E'], [e.encodeReadyForQuery('T'), 'T']] as const) {
    t.match(one(t, buf), { name: 'readyForQuery', status: s });
  }
  t.match(one(t, e.encodeCommandComplete('SELECT 1')), { name: 'commandComplete', text: 'SELECT 1' });
  t.match(one(t, e.PARSE_COMPLETE), { name: 'parseComplete' });
  t.match(one(t, e.BIND_COMPLETE), { name: 'bindComplete' });
  t.match(one(t, e.CLOSE_COMPLETE), { name: 'closeComplete' });
  t.match(one(t, e.NO_DATA), { name: 'noData' });
  t.match(one(t, e.EMPTY_QUERY_RESPONSE), { name: 'emptyQuery' });
});

t.test('a stream of several frames parses in order', async (t) => {
  const names = pgParse(Buffer.concat([e.AUTHENTICATION_OK, e.encodeParameterStatus('a', 'b'), e.encodeBackendKeyData(1, 2), e.READY_FOR_QUERY_IDLE])).map((m) => m['name']);
  t.same(names, ['authenticationOk', 'parameterStatus', 'backendKeyData', 'readyForQuery']);
});

t.test('NegotiateProtocolVersion (pg-protocol does not parse it)', async (t) => {
  const buf = e.encodeNegotiateProtocolVersion(0, ['_pq_.a', '_pq_.bb']);
  const [m] = parseBackendMessages(buf);
  t.equal(m?.code, 'v');
  t.same(m?.body, Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 2]), Buffer.from('_pq_.a\0_pq_.bb\0')]));
  t.equal(buf.readInt32BE(1) + 1, buf.length);
  t.same(parseBackendMessages(e.encodeNegotiateProtocolVersion(2, []))[0]?.body, Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]));
});

t.test('single-byte SSL/GSSENC answers', async (t) => {
  t.same(e.SSL_ACCEPTED, Buffer.from('S'));
  t.same(e.SSL_REFUSED, Buffer.from('N'));
  t.same(e.GSSENC_REFUSED, Buffer.from('N'));
});

t.test('decodeErrorFields', async (t) => {
  t.same([...e.decodeErrorFields(Buffer.from('SERROR\0C42P01\0Mno table\0Xextra\0\0'))], [['S', 'ERROR'], ['C', '42P01'], ['M', 'no table'], ['X', 'extra']]);
  t.same([...e.decodeErrorFields(Buffer.from([0]))], []);
  for (const bad of ['', 'SERROR', 'SERROR\0', 'SERROR\0\0x', 'S']) {
    throwsReason(t, () => e.decodeErrorFields(Buffer.from(bad)), 'malformed_message', JSON.stringify(bad));
  }
});
