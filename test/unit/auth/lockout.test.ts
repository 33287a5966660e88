// Brute-force lockout tables: sliding window, per address and per name, expiry, IPv6 /64 keys, bounded memory.
import t from 'tap';
import { AuthFailureTracker, addressKey } from '../../../src/auth/lockout.js';

function tracker(maxEntries?: number): { tr: AuthFailureTracker; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const tr = new AuthFailureTracker(() => ({ max: 3, windowMs: 10_000, lockoutMs: 60_000 }), { now: () => clock.now, ...(maxEntries ? { maxEntries } : {}) });
  return { tr, clock };
}

t.test('max failures within the window lock the address and the user, until the lockout ends', async (t) => {
  const { tr, clock } = tracker();
  t.same(tr.recordFailure('10.0.0.1', 'app'), []);
  t.same(tr.recordFailure('10.0.0.1', 'app'), []);
  t.same(tr.check('10.0.0.1', 'app'), { locked: false });
  t.same(tr.recordFailure('10.0.0.1', 'app'), ['address', 'user']);
  t.match(tr.check('10.0.0.1', 'app'), { locked: true, scope: 'address' });
  t.match(tr.check('10.0.0.2', 'app'), { locked: true, scope: 'user' }, 'the user is locked from any address');
  t.match(tr.check('10.0.0.1', 'other'), { locked: true, scope: 'address' }, 'the address is locked for any user');
  t.same(tr.check('10.0.0.2', 'other'), { locked: false });
  clock.now += 59_999;
  t.equal(tr.check('10.0.0.1', 'app').locked, true);
  clock.now += 1;
  t.same(tr.check('10.0.0.1', 'app'), { locked: false }, 'released after the lockout period');
  t.same(tr.recordFailure('10.0.0.1', 'app'), [], 'counting starts afresh');
});

t.test('the window slides: old failures stop counting', async (t) => {
  const { tr, clock } = tracker();
  tr.recordFailure('10.0.0.1', 'app');
  clock.now += 6_000;
  tr.recordFailure('10.0.0.1', 'app');
  clock.now += 6_000; // the first failure is now outside the 10 s window
  t.same(tr.recordFailure('10.0.0.1', 'app'), []);
  t.same(tr.recordFailure('10.0.0.1', 'app'), ['address', 'user']);
});

t.test('per user: failures from many addresses lock the name', async (t) => {
  const { tr } = tracker();
  tr.recordFailure('10.0.0.1', 'app');
  tr.recordFailure('10.0.0.2', 'app');
  t.same(tr.recordFailure('10.0.0.3', 'app'), ['user']);
  t.match(tr.check('10.0.0.9', 'app'), { locked: true, scope: 'user' });
  t.same(tr.check('10.0.0.9', 'nobody'), { locked: false });
});

t.test('address keys: IPv4-mapped as IPv4, IPv6 by /64', async (t) => {
  t.equal(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  t.equal(addressKey('10.1.2.3'), '10.1.2.3');
  t.equal(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:2:ffff::9'));
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  const { tr } = tracker();
  tr.recordFailure('2001:db8:1:2::1', 'a');
  tr.recordFailure('2001:db8:1:2::2', 'b');
  tr.recordFailure('2001:db8:1:2::3', 'c');
  t.match(tr.check('2001:db8:1:2::4', 'd'), { locked: true, scope: 'address' });
});

t.test('memory is bounded; locked entries are the last evicted; sweep drops expired entries', async (t) => {
  const { tr, clock } = tracker(100);
  for (let i = 0; i < 3; i++) tr.recordFailure('192.0.2.1', 'victim');
  for (let i = 0; i < 10_000; i++) tr.recordFailure(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `user${i}`);
  t.ok(tr.sizes.address <= 100 && tr.sizes.user <= 100, `sizes ${JSON.stringify(tr.sizes)}`);
  t.match(tr.check('192.0.2.1', 'x'), { locked: true }, 'a flood of other addresses does not unlock an address');
  t.match(tr.check('10.9.9.9', 'victim'), { locked: true }, 'a flood of other names does not unlock a user');
  clock.now += 120_000;
  tr.sweep();
  t.same(tr.sizes, { address: 0, user: 0 });
});
