// SCRAM-SHA-256 verifiers in PostgreSQL's pg_authid.rolpassword format: strict parsing and creation.
// Pure: crypto only; never logs or returns the password or key material in messages.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  SCRAM_KEY_LEN, clientKeyOf, decodeBase64Strict, isValidIterations, parseIterations, saltedPassword,
  serverKeyOf, sha256,
} from './scram-crypto.js';
import { saslprep } from './saslprep.js';

export { saslprep } from './saslprep.js';

export type ScramVerifier = { iterations: number; salt: Buffer; storedKey: Buffer; serverKey: Buffer };

export const DEFAULT_ITERATIONS = 4096;
export const DEFAULT_SALT_LEN = 16;
const MAX_SALT_LEN = 1024;

const VERIFIER_RE = /^SCRAM-SHA-256\$([0-9]+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/**
 * `SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>`, strictly:
 * canonical base64, 32-byte keys, a non-empty salt, iterations 1..10,000,000 without leading zeros.
 */
export function parseScramVerifier(text: string): ScramVerifier | null {
  const m = VERIFIER_RE.exec(text);
  if (m === null) return null;
  const iterations = parseIterations(m[1]!);
  const salt = decodeBase64Strict(m[2]!);
  const storedKey = decodeBase64Strict(m[3]!);
  const serverKey = decodeBase64Strict(m[4]!);
  if (iterations === null || salt === null || storedKey === null || serverKey === null) return null;
  if (salt.length === 0 || salt.length > MAX_SALT_LEN) return null;
  if (storedKey.length !== SCRAM_KEY_LEN || serverKey.length !== SCRAM_KEY_LEN) return null;
  return { iterations, salt, storedKey, serverKey };
}

export function formatScramVerifier(v: ScramVerifier): string {
  return `SCRAM-SHA-256$${v.iterations}:${v.salt.toString('base64')}$${v.storedKey.toString('base64')}:${v.serverKey.toString('base64')}`;
}

/** Builds a verifier the way PostgreSQL's pg_be_scram_build_secret does (SASLprep, PBKDF2-SHA-256). */
export function createScramVerifier(password: string, opts?: { iterations?: number; salt?: Buffer }): string {
  const iterations = opts?.iterations ?? DEFAULT_ITERATIONS;
  if (!isValidIterations(iterations)) throw new RangeError('SCRAM iterations must be 1..10000000');
  const salt = opts?.salt ?? randomBytes(DEFAULT_SALT_LEN);
  if (salt.length === 0 || salt.length > MAX_SALT_LEN) throw new RangeError('SCRAM salt must be 1..1024 bytes');
  const salted = saltedPassword(saslprep(password), salt, iterations);
  return formatScramVerifier({
    iterations, salt, storedKey: sha256(clientKeyOf(salted)), serverKey: serverKeyOf(salted),
  });
}

/** Checks a plain password against a verifier (runs PBKDF2; constant-time key comparison). */
export function verifyScramPassword(password: string, verifier: ScramVerifier): boolean {
  const salted = saltedPassword(saslprep(password), verifier.salt, verifier.iterations);
  const storedKey = sha256(clientKeyOf(salted));
  return storedKey.length === verifier.storedKey.length && timingSafeEqual(storedKey, verifier.storedKey);
}
