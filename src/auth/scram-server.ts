// Server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, RFC 5929) as a pure state machine.
// Returns outcomes with internal reason codes; never logs and never decides what the client is told.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import {
  SCRAM_KEY_LEN, decodeBase64Strict, hmac, isPrintableNonce, sha256, xor,
} from './scram-crypto.js';
import { DEFAULT_ITERATIONS, DEFAULT_SALT_LEN, type ScramVerifier } from './verifier.js';

export type ChannelBinding = { type: 'tls-server-end-point'; data: Buffer };
export type ScramFailure = 'malformed' | 'bad_gs2_header' | 'channel_binding_mismatch' | 'downgrade' | 'bad_nonce'
  | 'bad_proof' | 'unknown_user' | 'unsupported_mechanism';
export type ScramStep = { ok: true; message: Buffer } | { ok: false; reason: ScramFailure };
export type ScramFinalStep = { ok: true; message: Buffer; clientKey: Buffer } | { ok: false; reason: ScramFailure };
export type ScramServerOptions = {
  verifier: ScramVerifier | null; // null: unknown user, run the same exchange against a mock verifier
  mockSecret: Buffer;
  username: string;
  channelBinding: ChannelBinding | null; // non-null only over TLS; then SCRAM-SHA-256-PLUS is offered too
  nonceBytes?: number; // default 18 random bytes, base64
  serverNonce?: string; // tests only (RFC 7677 vector): a fixed server nonce
};

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS';
const CB_NAME = 'tls-server-end-point';
const MAX_MESSAGE_LEN = 8192;
const MAX_NONCE_LEN = 1024;

export function scramMechanisms(channelBinding: ChannelBinding | null): string[] {
  return channelBinding !== null ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256];
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeMessage(data: Buffer): string | null {
  if (data.length === 0 || data.length > MAX_MESSAGE_LEN || data.includes(0)) return null;
  try {
    return utf8.decode(data);
  } catch {
    return null;
  }
}

type Gs2 = { flag: 'n' | 'y' | 'p'; header: string; bare: string };

// gs2-header = gs2-cbind-flag "," [ authzid ] "," ; we accept only an empty authzid.
function parseGs2Header(text: string): Gs2 | null {
  let flag: Gs2['flag'];
  let pos: number;
  if (text.startsWith('n,') || text.startsWith('y,')) {
    flag = text[0] as 'n' | 'y';
    pos = 2;
  } else if (text.startsWith(`p=${CB_NAME},`)) {
    flag = 'p';
    pos = CB_NAME.length + 3;
  } else {
    return null;
  }
  if (text[pos] !== ',') return null; // an authzid ("a=...") is refused, as is anything else here
  return { flag, header: text.slice(0, pos + 1), bare: text.slice(pos + 1) };
}

type MockKeys = Pick<ScramVerifier, 'salt' | 'storedKey' | 'serverKey'>;

// Stable per (secret, username) so repeated probes for one unknown name see the same salt, as PostgreSQL does.
function mockVerifier(secret: Buffer, username: string): ScramVerifier {
  const derive = (label: string): Buffer => hmac(secret, `${label}\0${username}`);
  const keys: MockKeys = {
    salt: derive('salt').subarray(0, DEFAULT_SALT_LEN),
    storedKey: derive('stored-key'),
    serverKey: derive('server-key'),
  };
  return { iterations: DEFAULT_ITERATIONS, ...keys };
}

type State =
  | { phase: 'start' }
  | { phase: 'first'; gs2Header: string; flag: Gs2['flag']; clientFirstBare: string; serverFirst: string; nonce: string }
  | { phase: 'done' };

export class ScramServerExchange {
  readonly #opts: ScramServerOptions;
  readonly #verifier: ScramVerifier;
  readonly #mock: boolean;
  #state: State = { phase: 'start' };

  constructor(opts: ScramServerOptions) {
    if (opts.mockSecret.length < 16) throw new RangeError('SCRAM mockSecret must be at least 16 bytes');
    const nonceBytes = opts.nonceBytes ?? 18;
    if (!Number.isInteger(nonceBytes) || nonceBytes < 16 || nonceBytes > 256) {
      throw new RangeError('SCRAM nonceBytes must be 16..256');
    }
    if (opts.serverNonce !== undefined && !isPrintableNonce(opts.serverNonce)) {
      throw new RangeError('SCRAM serverNonce must be printable');
    }
    this.#opts = opts;
    this.#mock = opts.verifier === null;
    this.#verifier = opts.verifier ?? mockVerifier(opts.mockSecret, opts.username);
  }

  /** Handles SASLInitialResponse; on success the message is the server-first-message. */
  clientFirst(mechanism: string, data: Buffer): ScramStep {
    const state = this.#state;
    this.#state = { phase: 'done' }; // any failure ends the exchange
    if (state.phase !== 'start') return { ok: false, reason: 'malformed' };
    const cb = this.#opts.channelBinding;
    if (!scramMechanisms(cb).includes(mechanism)) return { ok: false, reason: 'unsupported_mechanism' };
    const text = decodeMessage(data);
    if (text === null) return { ok: false, reason: 'malformed' };
    const gs2 = parseGs2Header(text);
    if (gs2 === null) return { ok: false, reason: 'bad_gs2_header' };
    const plus = mechanism === SCRAM_SHA_256_PLUS;
    // The flag must agree with the mechanism; 'y' over TLS means the client thinks we offered no PLUS: a downgrade.
    if (plus !== (gs2.flag === 'p')) return { ok: false, reason: 'bad_gs2_header' };
    // Unreachable while PLUS is offered only with a binding; kept so a change to scramMechanisms cannot open it.
    if (gs2.flag === 'p' && cb === null) return { ok: false, reason: 'bad_gs2_header' };
    if (gs2.flag === 'y' && cb !== null) return { ok: false, reason: 'downgrade' };

    // client-first-message-bare = "n=" saslname ",r=" c-nonce ; no extensions (reserved "m=" or others)
    const parts = gs2.bare.split(',');
    if (parts.length !== 2 || !parts[0]!.startsWith('n=') || !parts[1]!.startsWith('r=')) {
      return { ok: false, reason: 'malformed' };
    }
    // The username in n= is ignored, as PostgreSQL does: the StartupMessage user is authoritative.
    const clientNonce = parts[1]!.slice(2);
    if (clientNonce.length > MAX_NONCE_LEN || !isPrintableNonce(clientNonce)) return { ok: false, reason: 'bad_nonce' };

    const serverNonce = this.#opts.serverNonce ?? randomBytes(this.#opts.nonceBytes ?? 18).toString('base64');
    const nonce = clientNonce + serverNonce;
    const v = this.#verifier;
    const serverFirst = `r=${nonce},s=${v.salt.toString('base64')},i=${v.iterations}`;
    this.#state = {
      phase: 'first', gs2Header: gs2.header, flag: gs2.flag, clientFirstBare: gs2.bare, serverFirst, nonce,
    };
    return { ok: true, message: Buffer.from(serverFirst, 'utf8') };
  }

  /** Handles SASLResponse; on success the message is the server-final-message and clientKey is recovered. */
  clientFinal(data: Buffer): ScramFinalStep {
    const state = this.#state;
    this.#state = { phase: 'done' };
    if (state.phase !== 'first') return { ok: false, reason: 'malformed' };
    const text = decodeMessage(data);
    if (text === null) return { ok: false, reason: 'malformed' };
    // client-final-message = "c=" base64 ",r=" nonce ",p=" base64 ; no extensions
    const parts = text.split(',');
    if (parts.length !== 3 || !parts[0]!.startsWith('c=') || !parts[1]!.startsWith('r=') || !parts[2]!.startsWith('p=')) {
      return { ok: false, reason: 'malformed' };
    }
    const cbData = state.flag === 'p' ? this.#opts.channelBinding!.data : Buffer.alloc(0);
    const expectedC = Buffer.concat([Buffer.from(state.gs2Header, 'utf8'), cbData]).toString('base64');
    if (parts[0]!.slice(2) !== expectedC) return { ok: false, reason: 'channel_binding_mismatch' };
    if (parts[1]!.slice(2) !== state.nonce) return { ok: false, reason: 'bad_nonce' };
    const proof = decodeBase64Strict(parts[2]!.slice(2));
    if (proof === null || proof.length !== SCRAM_KEY_LEN) return { ok: false, reason: 'malformed' };

    const withoutProof = `${parts[0]},${parts[1]}`;
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const v = this.#verifier;
    // Same work for known and unknown users: recover ClientKey and compare H(ClientKey) with StoredKey.
    const clientKey = xor(proof, hmac(v.storedKey, authMessage));
    const computed = sha256(clientKey);
    const match = computed.length === v.storedKey.length && timingSafeEqual(computed, v.storedKey);
    // The signature is computed on every path, so the work done never tells a right proof from a wrong one
    // (a later check, such as a required client certificate, may still refuse a right one).
    const serverSignature = hmac(v.serverKey, authMessage);
    if (this.#mock) return { ok: false, reason: 'unknown_user' };
    if (!match) return { ok: false, reason: 'bad_proof' };
    return { ok: true, message: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), clientKey };
  }
}
