// PROXY protocol v1/v2 decoding: valid headers of every kind, every header split at every byte offset (null
// until complete), and a table of malformed headers that must be refused with a stable reason.
import t from 'tap';
import { decodeProxyHeader, ProxyHeaderError, startsLikeProxyHeader, V2_SIGNATURE } from '../../../src/net/proxy-protocol.js';

const PG_STARTUP = Buffer.from([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]); // SSLRequest

function v2(opts: { ver?: number; cmd?: number; fam?: number; body?: Buffer; len?: number }): Buffer {
  const body = opts.body ?? Buffer.alloc(0);
  const head = Buffer.alloc(4);
  head[0] = ((opts.ver ?? 2) << 4) | (opts.cmd ?? 1);
  head[1] = opts.fam ?? 0x11;
  head.writeUInt16BE(opts.len ?? body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}

function tcp4(src: number[], sport: number, tlv = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  Buffer.from(src).copy(b, 0);
  Buffer.from([10, 0, 0, 1]).copy(b, 4);
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(5433, 10);
  return Buffer.concat([b, tlv]);
}

function tcp6(src: Buffer, sport: number): Buffer {
  const b = Buffer.alloc(36);
  src.copy(b, 0);
  b[31] = 1;
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(5433, 34);
  return b;
}

const valid: Array<[string, Buffer, { address: string; port: number; family: string } | null]> = [
  ['v1 TCP4', Buffer.from('PROXY TCP4 192.0.2.7 10.0.0.1 56324 5433\r\n'), { address: '192.0.2.7', port: 56324, family: 'IPv4' }],
  ['v1 TCP6', Buffer.from('PROXY TCP6 2001:DB8::7 2001:db8::1 1 5433\r\n'), { address: '2001:db8::7', port: 1, family: 'IPv6' }],
  ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), null],
  ['v1 UNKNOWN with addresses', Buffer.from('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n'), null],
  ['v2 TCP4', v2({ body: tcp4([198, 51, 100, 9], 40000) }), { address: '198.51.100.9', port: 40000, family: 'IPv4' }],
  ['v2 TCP4 with a TLV', v2({ body: tcp4([198, 51, 100, 9], 40000, Buffer.from([0x04, 0, 2, 0xaa, 0xbb])) }), { address: '198.51.100.9', port: 40000, family: 'IPv4' }],
  ['v2 TCP6', v2({ fam: 0x21, body: tcp6(Buffer.from('20010db8000000000000000000000042', 'hex'), 7) }), { address: '2001:db8::42', port: 7, family: 'IPv6' }],
  ['v2 LOCAL', v2({ cmd: 0, fam: 0 }), null],
  ['v2 LOCAL with an address block', v2({ cmd: 0, fam: 0x11, body: tcp4([1, 2, 3, 4], 1) }), null],
];

t.test('valid headers decode, whole and split at every offset', async (t) => {
  for (const [name, header, source] of valid) {
    const stream = Buffer.concat([header, PG_STARTUP]);
    const got = decodeProxyHeader(stream);
    t.ok(got, name);
    t.equal(got!.length, header.length, `${name}: length`);
    t.same(got!.source, source, `${name}: source`);
    for (let cut = 1; cut < header.length; cut++) {
      t.equal(decodeProxyHeader(header.subarray(0, cut)), null, `${name}: incomplete at ${cut}`);
    }
    t.ok(startsLikeProxyHeader(header.subarray(0, 1)), `${name}: detected from its first byte`);
  }
});

const malformed: Array<[string, Buffer, string]> = [
  ['not a header (PostgreSQL startup)', PG_STARTUP, 'missing'],
  ['v1 lower-case', Buffer.from('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'missing'],
  ['v1 LF only', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nxx'), 'v1_bad_character'],
  ['v1 CR not followed by LF', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX'), 'v1_bad_line_end'],
  ['v1 too long', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), 'v1_too_long'],
  ['v1 double space', Buffer.from('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 'v1_bad_fields'],
  ['v1 missing port', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 'v1_bad_fields'],
  ['v1 unknown protocol', Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), 'v1_bad_protocol'],
  ['v1 octal IPv4', Buffer.from('PROXY TCP4 010.0.0.1 5.6.7.8 1 2\r\n'), 'v1_bad_address'],
  ['v1 IPv6 in TCP4', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), 'v1_bad_address'],
  ['v1 IPv4 in TCP6', Buffer.from('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 'v1_bad_address'],
  ['v1 zone id', Buffer.from('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n'), 'v1_bad_address'],
  ['v1 port too big', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 'v1_bad_port'],
  ['v1 port with leading zero', Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n'), 'v1_bad_port'],
  ['v1 NUL byte', Buffer.from('PROXY TCP4 1.2.3.4\x005.6.7.8 1 2\r\n'), 'v1_bad_character'],
  ['v2 version 1', v2({ ver: 1, body: tcp4([1, 2, 3, 4], 1) }), 'v2_bad_version'],
  ['v2 command 2', v2({ cmd: 2, body: tcp4([1, 2, 3, 4], 1) }), 'v2_bad_command'],
  ['v2 UNSPEC with PROXY', v2({ fam: 0x00 }), 'v2_unsupported_family'],
  ['v2 UDP4', v2({ fam: 0x12, body: tcp4([1, 2, 3, 4], 1) }), 'v2_unsupported_family'],
  ['v2 UNIX', v2({ fam: 0x31, body: Buffer.alloc(216) }), 'v2_unsupported_family'],
  ['v2 TCP4 short address', v2({ body: Buffer.alloc(8) }), 'v2_short_address'],
  ['v2 TCP6 short address', v2({ fam: 0x21, body: Buffer.alloc(12) }), 'v2_short_address'],
  ['v2 declared length over the cap', v2({ len: 65535 }), 'v2_too_long'],
  ['v2 truncated TLV', v2({ body: tcp4([1, 2, 3, 4], 1, Buffer.from([0x04, 0, 5, 1])) }), 'v2_bad_tlv'],
  ['v2 TLV header cut', v2({ body: tcp4([1, 2, 3, 4], 1, Buffer.from([0x04, 0])) }), 'v2_bad_tlv'],
];

t.test('malformed headers are refused with a reason', async (t) => {
  for (const [name, bytes, reason] of malformed) {
    let caught: unknown = null;
    try { decodeProxyHeader(bytes); } catch (err) { caught = err; }
    t.ok(caught instanceof ProxyHeaderError, `${name}: refused`);
    t.equal((caught as ProxyHeaderError | null)?.reason, reason, `${name}: ${reason}`);
  }
});

t.test('PostgreSQL first bytes never look like a header', async (t) => {
  t.notOk(startsLikeProxyHeader(PG_STARTUP));
  t.notOk(startsLikeProxyHeader(Buffer.from([0x16, 3, 1]))); // direct TLS
  t.notOk(startsLikeProxyHeader(Buffer.alloc(0)));
});
