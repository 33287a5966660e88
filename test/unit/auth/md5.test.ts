import t from 'tap';
import { createHash } from 'node:crypto';
import { md5PasswordResponse } from '../../../src/auth/md5.js';

t.test('md5PasswordResponse', async (t) => {
  // Known value: md5('pencil' + 'user') = md5 hex; then md5(hex + salt bytes).
  const salt = Buffer.from([0x01, 0x02, 0x03, 0x04]);
  const inner = createHash('md5').update('penciluser').digest('hex');
  const outer = createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
  t.equal(md5PasswordResponse('user', 'pencil', salt), 'md5' + outer);
  // PostgreSQL's well-known stored hash for user "postgres", password "postgres" is md53175bce1d3201d16594cebf9d7eb3f9d.
  const pgInner = '3175bce1d3201d16594cebf9d7eb3f9d';
  const expected = createHash('md5').update(Buffer.concat([Buffer.from(pgInner), salt])).digest('hex');
  t.equal(md5PasswordResponse('postgres', 'postgres', salt), 'md5' + expected);
  t.match(md5PasswordResponse('u', 'p', salt), /^md5[0-9a-f]{32}$/);
  t.not(md5PasswordResponse('u', 'p', salt), md5PasswordResponse('u', 'p', Buffer.from([1, 2, 3, 5])));
  t.throws(() => md5PasswordResponse('u', 'p', Buffer.alloc(3)));
});
