// PostgreSQL's legacy MD5 password response, for upstream servers that still ask for it.
// Pure: hashing only; the password never leaves this function.
import { createHash } from 'node:crypto';

function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** 'md5' + md5(md5(password + user) + salt), as sent in PasswordMessage after AuthenticationMD5Password. */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  if (salt.length !== 4) throw new RangeError('MD5 salt must be 4 bytes');
  const inner = md5Hex(Buffer.concat([Buffer.from(password, 'utf8'), Buffer.from(user, 'utf8')]));
  return 'md5' + md5Hex(Buffer.concat([Buffer.from(inner, 'ascii'), salt]));
}
