// SCRAM-SHA-256 primitives (RFC 5802 / RFC 7677) shared by the verifier, server and client, plus strict
// base64 and the SaltedPassword cache. Pure: crypto only, no I/O, no logging.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export const SCRAM_KEY_LEN = 32;
export const MIN_ITERATIONS = 1;
export const MAX_ITERATIONS = 10_000_000;

export function hmac(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

export function xor(a: Buffer, b: Buffer): Buffer {
  if (a.length !== b.length) throw new RangeError('xor of buffers with different lengths');
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Hi() of RFC 5802: PBKDF2-HMAC-SHA-256 over the (already SASLprepped) password. */
export function saltedPassword(preparedPassword: string, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(Buffer.from(preparedPassword, 'utf8'), salt, iterations, SCRAM_KEY_LEN, 'sha256');
}

export function clientKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Client Key');
}

export function serverKeyOf(salted: Buffer): Buffer {
  return hmac(salted, 'Server Key');
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Decodes base64 only in its canonical form (padding present, unused bits zero); null otherwise. */
export function decodeBase64Strict(text: string): Buffer | null {
  if (!BASE64_RE.test(text)) return null;
  const buf = Buffer.from(text, 'base64');
  return buf.toString('base64') === text ? buf : null;
}

export function isValidIterations(n: number): boolean {
  return Number.isSafeInteger(n) && n >= MIN_ITERATIONS && n <= MAX_ITERATIONS;
}

/** Parses a decimal iteration count without sign or leading zeros; null when out of range. */
export function parseIterations(text: string): number | null {
  if (!/^[1-9][0-9]{0,7}$/.test(text)) return null;
  const n = Number(text);
  return isValidIterations(n) ? n : null;
}

// Small LRU of SaltedPassword values so repeated upstream logins skip PBKDF2. Keys are an HMAC under a
// per-process random key: a plain hash of the password would be a fast offline guessing target in a
// memory dump, which would defeat the PBKDF2 cost of the cached values.
const CACHE_MAX = 256;
const cacheKeySecret = randomBytes(32);
const cache = new Map<string, Buffer>();
const cacheStats = { hits: 0, misses: 0 };

function cacheKey(password: string, salt: Buffer, iterations: number): string {
  const pw = Buffer.from(password, 'utf8');
  const head = Buffer.allocUnsafe(12);
  head.writeUInt32BE(pw.length, 0);
  head.writeUInt32BE(salt.length, 4);
  head.writeUInt32BE(iterations, 8);
  return createHmac('sha256', cacheKeySecret).update(head).update(pw).update(salt).digest('base64');
}

export function saltedPasswordCached(preparedPassword: string, salt: Buffer, iterations: number): Buffer {
  const key = cacheKey(preparedPassword, salt, iterations);
  const hit = cache.get(key);
  if (hit !== undefined) {
    cache.delete(key); // refresh recency
    cache.set(key, hit);
    cacheStats.hits++;
    return hit;
  }
  cacheStats.misses++;
  const value = saltedPassword(preparedPassword, salt, iterations);
  cache.set(key, value);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value!);
  return value;
}

/** For tests: cache counters and size. */
export function saltedPasswordCacheStats(): { hits: number; misses: number; size: number; max: number } {
  return { ...cacheStats, size: cache.size, max: CACHE_MAX };
}

/** printable = %x21-2B / %x2D-7E (RFC 5802): visible ASCII except ','. */
export function isPrintableNonce(nonce: string): boolean {
  return /^[\x21-\x2b\x2d-\x7e]+$/.test(nonce);
}
