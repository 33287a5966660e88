import net from 'node:net';
import t from 'tap';
import { addressAllowed, buildBlockList, parseCidr } from '../../../src/config/cidr.js';

t.test('parseCidr accepts strict forms', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' });
  t.same(parseCidr('127.0.0.1'), { address: '127.0.0.1', prefix: 32, family: 'ipv4' });
  t.same(parseCidr('0.0.0.0/0'), { address: '0.0.0.0', prefix: 0, family: 'ipv4' });
  t.same(parseCidr('::1/128'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.same(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' });
  t.same(parseCidr('FE80::/10'), { address: 'fe80::', prefix: 10, family: 'ipv6' });
  t.same(parseCidr('::/0'), { address: '::', prefix: 0, family: 'ipv6' });
  t.same(parseCidr('2001:db8::/32'), { address: '2001:db8::', prefix: 32, family: 'ipv6' });
});

t.test('parseCidr refuses octal, hex, short and malformed IPv4', async (t) => {
  for (const text of ['010.0.0.1', '10.0.0.01/32', '0x7f.1', '0x7f.0.0.1', '127.1', '1.2.3', '256.0.0.0',
    '1.2.3.4.5', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/33', '10.0.0.0/-1', ' 10.0.0.0/8', '', 'localhost', '::1/129',
    'fe80::1%eth0', '::1/1a', '1:2:3:4:5:6:7:8:9']) {
    t.throws(() => parseCidr(text), JSON.stringify(text));
  }
});

t.test('parseCidr refuses host bits set, like PostgreSQL cidr', async (t) => {
  t.throws(() => parseCidr('10.0.0.1/8'), /host bits set/);
  t.throws(() => parseCidr('192.168.1.0/23'), /host bits set/);
  t.throws(() => parseCidr('fe80::1/64'), /host bits set/);
  t.throws(() => parseCidr('::1/127'), /host bits set/);
  t.same(parseCidr('192.168.0.0/23').prefix, 23);
});

t.test('parseCidr refuses IPv4-mapped IPv6 ranges (write them as IPv4)', async (t) => {
  t.throws(() => parseCidr('::ffff:10.0.0.0/104'), /IPv4-mapped/);
});

t.test('buildBlockList + addressAllowed', async (t) => {
  const list = buildBlockList(['10.0.0.0/8', '::1/128', '2001:db8::/32']);
  t.ok(addressAllowed(list, '10.1.2.3', 'IPv4'));
  t.notOk(addressAllowed(list, '11.1.2.3', 'IPv4'));
  t.ok(addressAllowed(list, '::1', 'IPv6'));
  t.ok(addressAllowed(list, '2001:db8::5', 'IPv6'));
  t.notOk(addressAllowed(list, '2001:db9::5', 'IPv6'));
  t.notOk(addressAllowed(list, 'not-an-address', 'IPv4'), 'garbage is never allowed');
  t.notOk(addressAllowed(list, '', 'IPv4'));
  t.notOk(addressAllowed(buildBlockList([]), '10.1.2.3', 'IPv4'), 'empty list allows nobody');
  t.throws(() => buildBlockList(['10.0.0.1/8']));
});

t.test('addressAllowed checks IPv4-mapped IPv6 as IPv4, whatever family the caller passes', async (t) => {
  const list = buildBlockList(['10.0.0.0/8']);
  // The pitfall this guards against: BlockList.check without the family misses the mapped address.
  t.notOk(list.check('::ffff:10.1.2.3'), 'net.BlockList alone misses it (FACTS.md)');
  t.ok(addressAllowed(list, '::ffff:10.1.2.3', 'IPv6'));
  t.ok(addressAllowed(list, '::ffff:10.1.2.3', 'IPv4'));
  t.ok(addressAllowed(list, '::ffff:10.1.2.3', ''));
  t.ok(addressAllowed(list, '::FFFF:10.1.2.3', 'IPv6'));
  t.ok(addressAllowed(list, '::ffff:a01:203', 'IPv6'), 'hex form of the mapped address');
  t.notOk(addressAllowed(list, '::ffff:11.1.2.3', 'IPv6'));
  t.notOk(addressAllowed(list, '::ffff:11.1.2.3', ''));
  // And a plain IPv4 address reported with a wrong family is still checked as IPv4.
  t.ok(addressAllowed(list, '10.9.9.9', 'IPv6'));
  t.ok(addressAllowed(list, '10.9.9.9', ''));
});

t.test('a real dual-stack socket reports IPv4 clients as mapped addresses and they are allowed', async (t) => {
  const list = buildBlockList(['127.0.0.0/8']);
  const server = net.createServer();
  const seen = new Promise<[string, string]>((resolve) => {
    server.on('connection', (s) => {
      resolve([s.remoteAddress ?? '', s.remoteFamily ?? '']);
      s.destroy();
    });
  });
  const listened = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen({ host: '::', port: 0, ipv6Only: false }, () => resolve(true));
  });
  if (!listened) {
    t.comment("no IPv6 on this machine: skipped");
    return;
  }
  t.teardown(() => server.close());
  const port = (server.address() as net.AddressInfo).port;
  const client = net.connect(port, '127.0.0.1');
  client.on('error', () => undefined);
  const [address, family] = await seen;
  client.destroy();
  t.equal(address, '::ffff:127.0.0.1');
  t.ok(addressAllowed(list, address, family));
});
