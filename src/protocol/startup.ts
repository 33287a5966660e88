// Decoding of the untyped first packet (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) and of the
// startup "options" parameter. Pure: it throws ProtocolViolation on malformed input and decides no policy.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from './codes.js';
import { ProtocolViolation } from './errors.js';
import { BodyReader } from './reader.js';

export const STARTUP_MIN_LENGTH = 8;
export const STARTUP_MAX_LENGTH = 10_000; // PostgreSQL's MAX_STARTUP_PACKET_LENGTH

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; processId: number; secretKey: number }
  | {
      kind: 'startup';
      majorVersion: number;
      minorVersion: number;
      parameters: Map<string, string>; // excluding _pq_.* names
      protocolOptions: string[]; // the _pq_.* names, for NegotiateProtocolVersion
    };

const PROTOCOL_OPTION_PREFIX = '_pq_.';

function lengthError(): never {
  throw new ProtocolViolation('startup_length', 'invalid length of startup packet');
}

/**
 * The declared length of the first packet once 4 bytes are buffered, else null. Throws before the caller
 * allocates anything for a length outside [8, 10000] (a negative int32 falls below 8).
 */
export function peekStartupLength(buf: Buffer): number | null {
  if (buf.length < 4) return null;
  const len = buf.readInt32BE(0);
  if (len < STARTUP_MIN_LENGTH || len > STARTUP_MAX_LENGTH) lengthError();
  return len;
}

/** Decodes one whole first packet, its 4-byte length prefix included. */
export function decodeStartupPacket(packet: Buffer): StartupPacket {
  const len = peekStartupLength(packet);
  if (len === null || len !== packet.length) lengthError();
  const code = packet.readInt32BE(4);
  switch (code) {
    case SSL_REQUEST_CODE:
      if (len !== 8) lengthError();
      return { kind: 'ssl' };
    case GSSENC_REQUEST_CODE:
      if (len !== 8) lengthError();
      return { kind: 'gssenc' };
    case CANCEL_REQUEST_CODE:
      // Protocol 3.2 allows longer cancel keys, but the proxy issues its own 4-byte keys to clients.
      if (len !== 16) lengthError();
      return { kind: 'cancel', processId: packet.readInt32BE(8), secretKey: packet.readInt32BE(12) };
  }
  const majorVersion = packet.readUInt16BE(4);
  const minorVersion = packet.readUInt16BE(6);
  if (majorVersion !== 3) {
    throw new ProtocolViolation('unsupported_protocol', 'unsupported frontend protocol');
  }
  return { kind: 'startup', majorVersion, minorVersion, ...decodeParameters(packet.subarray(8)) };
}

/** name\0value\0 ... \0 — the terminator must be the last byte (as in PostgreSQL's ProcessStartupPacket). */
function decodeParameters(body: Buffer): { parameters: Map<string, string>; protocolOptions: string[] } {
  const r = new BodyReader(body, 'malformed_startup', 'invalid startup packet layout');
  const parameters = new Map<string, string>();
  const protocolOptions: string[] = [];
  const seen = new Set<string>();
  for (;;) {
    if (r.remaining === 0) r.fail(); // no final terminator
    const name = r.cstring();
    if (name === '') break; // the terminator; an "empty name" followed by more bytes fails r.end() below
    const value = r.cstring();
    // PostgreSQL lets the last duplicate win; refuse instead, so the proxy and the server cannot disagree.
    if (seen.has(name)) {
      throw new ProtocolViolation('malformed_startup', 'duplicate startup parameter');
    }
    seen.add(name);
    if (name.startsWith(PROTOCOL_OPTION_PREFIX)) protocolOptions.push(name);
    else parameters.set(name, value);
  }
  r.end();
  return { parameters, protocolOptions };
}

export type StartupOption =
  | { kind: 'setting'; name: string; value: string }
  | { kind: 'switch'; flag: string; value: string | null };

// PostgreSQL's getopt string in process_postgres_switches ("B:bC:c:D:d:EeFf:h:ijk:lN:nOo:Pp:r:S:sTt:v:W:-:",
// with the older 'A:' and 'o:'): letters followed by ':' take an argument.
const SWITCHES_WITH_ARG = new Set(['A', 'B', 'C', 'D', 'd', 'f', 'h', 'k', 'N', 'o', 'p', 'r', 'S', 't', 'v', 'W']);
const SWITCHES_NO_ARG = new Set(['b', 'E', 'e', 'F', 'i', 'j', 'l', 'n', 'O', 'P', 's', 'T']);

function optionsError(message: string): never {
  throw new ProtocolViolation('malformed_options', message);
}

/** pg_split_opts: split on unescaped whitespace (C isspace); a backslash takes the next char literally. */
export function splitOptions(options: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let escaped = false;
  for (const ch of options) {
    if (!escaped && (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\v' || ch === '\f')) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (!escaped && ch === '\\') {
      escaped = true;
      continue;
    }
    escaped = false;
    cur += ch;
  }
  if (inWord) out.push(cur);
  return out;
}

/** ParseLongOption + GUC name lookup: '-' becomes '_', ASCII lowercased (guc_name_compare). */
function setting(arg: string, display: string): StartupOption {
  const eq = arg.indexOf('=');
  if (eq < 0) optionsError(`${display} requires a value`);
  const name = arg.slice(0, eq).replaceAll('-', '_').replace(/[A-Z]+/g, (s) => s.toLowerCase());
  if (name === '') optionsError('invalid configuration parameter name in options');
  return { kind: 'setting', name, value: arg.slice(eq + 1) };
}

/**
 * Parses the startup "options" parameter as PostgreSQL does (pg_split_opts, then getopt in
 * process_postgres_switches). Flag clusters ("-Fe"), attached ("-cname=v") and separate ("-c name=v")
 * arguments are handled like getopt. Any leftover positional word, unknown flag or dangling argument
 * makes the backend fail with FATAL, so it throws here too.
 */
export function parseStartupOptions(options: string): StartupOption[] {
  const argv = splitOptions(options);
  const out: StartupOption[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      if (i !== argv.length - 1) optionsError('invalid command-line argument in options');
      break;
    }
    if (word.length < 2 || word[0] !== '-') optionsError('invalid command-line argument in options');
    for (let j = 1; j < word.length; j++) {
      const flag = word[j]!;
      if (flag === 'c' || flag === '-' || SWITCHES_WITH_ARG.has(flag)) {
        let arg: string;
        if (j + 1 < word.length) arg = word.slice(j + 1);
        else if (i + 1 < argv.length) arg = argv[++i]!;
        else optionsError(`option -${flag} requires an argument`);
        if (flag === 'c') out.push(setting(arg, `-c ${arg}`));
        else if (flag === '-') out.push(setting(arg, `--${arg}`));
        else out.push({ kind: 'switch', flag, value: arg });
        break; // the argument consumed the rest of this word
      }
      if (!SWITCHES_NO_ARG.has(flag)) optionsError('invalid command-line argument in options');
      out.push({ kind: 'switch', flag, value: null });
    }
  }
  return out;
}
