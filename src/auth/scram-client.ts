// Client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677), used by the proxy to log in upstream with its own secret,
// or (pass-through) with the ClientKey recovered from the client's proof plus the verifier's ServerKey.
// Pure: crypto only; faults are thrown as ScramClientError with a reason code, never with key material.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  clientKeyOf, decodeBase64Strict, hmac, isPrintableNonce, parseIterations, saltedPasswordCached, serverKeyOf,
  sha256, xor,
} from './scram-crypto.js';
import { saslprep } from './saslprep.js';

export type ScramClientFailure = 'malformed' | 'bad_nonce' | 'bad_iterations' | 'bad_server_signature'
  | 'server_error' | 'out_of_order' | 'verifier_mismatch';

/**
 * Pass-through keys: the ClientKey a client proved knowledge of, and the ServerKey, salt and iterations of the
 * verifier it was checked against. They log in only where the server holds that same verifier.
 */
export type ScramKeys = { readonly clientKey: Buffer; readonly serverKey: Buffer; readonly salt: Buffer; readonly iterations: number };

type Secret = { kind: 'password'; password: string } | { kind: 'keys'; keys: ScramKeys };

export class ScramClientError extends Error {
  constructor(readonly reason: ScramClientFailure) {
    super(`SCRAM client: ${reason}`);
    this.name = 'ScramClientError';
  }
}

const GS2_HEADER = 'n,,';
const CHANNEL_BINDING_B64 = Buffer.from(GS2_HEADER).toString('base64'); // "biws"
const MAX_MESSAGE_LEN = 8192;
const MAX_SALT_LEN = 1024;

export class ScramClient {
  readonly #secret: Secret;
  readonly #clientNonce: string;
  readonly #clientFirstBare: string;
  #phase: 'start' | 'first' | 'final' | 'done' = 'start';
  #expectedServerSignature: Buffer | null = null;

  // username: only for test vectors (RFC 7677 uses n=user); PostgreSQL ignores it.
  constructor(password: string | ScramKeys, opts?: { clientNonce?: string; username?: string }) {
    const nonce = opts?.clientNonce ?? randomBytes(18).toString('base64');
    if (!isPrintableNonce(nonce)) throw new RangeError('SCRAM client nonce must be printable');
    this.#secret = typeof password === 'string' ? { kind: 'password', password: saslprep(password) } : { kind: 'keys', keys: password };
    this.#clientNonce = nonce;
    // PostgreSQL ignores the SCRAM user name (the startup user counts); '*' is what most drivers send.
    const name = (opts?.username ?? '*').replaceAll('=', '=3D').replaceAll(',', '=2C');
    this.#clientFirstBare = `n=${name},r=${nonce}`;
  }

  clientFirstMessage(): Buffer {
    if (this.#phase !== 'start') throw new ScramClientError('out_of_order');
    this.#phase = 'first';
    return Buffer.from(GS2_HEADER + this.#clientFirstBare, 'utf8');
  }

  /** Takes the server-first-message, returns the client-final-message. */
  handleServerFirst(data: Buffer): Buffer {
    if (this.#phase !== 'first') throw new ScramClientError('out_of_order');
    this.#phase = 'done';
    if (data.length > MAX_MESSAGE_LEN) throw new ScramClientError('malformed');
    const serverFirst = data.toString('utf8');
    // server-first-message = "r=" nonce ",s=" salt ",i=" iteration-count ; no extensions accepted
    const parts = serverFirst.split(',');
    if (parts.length !== 3 || !parts[0]!.startsWith('r=') || !parts[1]!.startsWith('s=') || !parts[2]!.startsWith('i=')) {
      throw new ScramClientError('malformed');
    }
    const nonce = parts[0]!.slice(2);
    if (!isPrintableNonce(nonce) || !nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw new ScramClientError('bad_nonce');
    }
    const salt = decodeBase64Strict(parts[1]!.slice(2));
    if (salt === null || salt.length === 0 || salt.length > MAX_SALT_LEN) throw new ScramClientError('malformed');
    const iterations = parseIterations(parts[2]!.slice(2));
    if (iterations === null) throw new ScramClientError('bad_iterations');

    const { clientKey, serverKey } = this.#keysFor(salt, iterations);
    const withoutProof = `c=${CHANNEL_BINDING_B64},r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.#expectedServerSignature = hmac(serverKey, authMessage);
    this.#phase = 'final';
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  #keysFor(salt: Buffer, iterations: number): { clientKey: Buffer; serverKey: Buffer } {
    const secret = this.#secret;
    if (secret.kind === 'password') {
      const salted = saltedPasswordCached(secret.password, salt, iterations);
      return { clientKey: clientKeyOf(salted), serverKey: serverKeyOf(salted) };
    }
    // Pass-through: the keys are only valid for the verifier they came from; another salt means another verifier.
    const { keys } = secret;
    if (iterations !== keys.iterations || !salt.equals(keys.salt)) throw new ScramClientError('verifier_mismatch');
    return { clientKey: keys.clientKey, serverKey: keys.serverKey };
  }

  /** Checks the server-final-message; throws unless it carries the expected server signature. */
  verifyServerFinal(data: Buffer): void {
    const expected = this.#expectedServerSignature;
    if (this.#phase !== 'final' || expected === null) throw new ScramClientError('out_of_order');
    this.#phase = 'done';
    if (data.length > MAX_MESSAGE_LEN) throw new ScramClientError('malformed');
    const text = data.toString('utf8');
    if (text.startsWith('e=')) throw new ScramClientError('server_error');
    if (!text.startsWith('v=') || text.includes(',')) throw new ScramClientError('malformed');
    const signature = decodeBase64Strict(text.slice(2));
    if (signature === null || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw new ScramClientError('bad_server_signature');
    }
  }
}
