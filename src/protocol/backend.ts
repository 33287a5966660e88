// Encoders for the server→client messages the proxy itself sends, plus the one decoder it needs for upstream
// ErrorResponse/NoticeResponse fields. Pure; constant frames are prebuilt once.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { BackendCode } from './codes.js';
import { ProtocolViolation } from './errors.js';

export type ErrorFields = {
  severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
};

/** A NUL inside a String would end it early and desynchronise the client's framing: drop it. */
function cstr(s: string): Buffer {
  const clean = s.includes('\0') ? s.replaceAll('\0', '') : s;
  const b = Buffer.allocUnsafe(Buffer.byteLength(clean) + 1);
  b.write(clean, 0, 'utf8');
  b[b.length - 1] = 0;
  return b;
}

/** Frames a body: Byte1 code, Int32 length (self-inclusive), body. */
function frame(code: number, ...parts: Buffer[]): Buffer {
  let len = 4;
  for (const p of parts) len += p.length;
  const out = Buffer.allocUnsafe(1 + len);
  out[0] = code;
  out.writeInt32BE(len, 1);
  let off = 5;
  for (const p of parts) off += p.copy(out, off);
  return out;
}

function int32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v | 0, 0); // accepts signed or unsigned 32-bit values, same bits
  return b;
}

const NUL = Buffer.from([0]);

function encodeFields(code: number, f: ErrorFields): Buffer {
  const parts: Buffer[] = [];
  const field = (type: string, value: string): void => {
    parts.push(Buffer.from(type, 'latin1'), cstr(value));
  };
  field('S', f.severity);
  field('V', f.severity);
  field('C', f.code);
  field('M', f.message);
  if (f.detail !== undefined) field('D', f.detail);
  if (f.hint !== undefined) field('H', f.hint);
  parts.push(NUL);
  return frame(code, ...parts);
}

export function encodeErrorResponse(f: ErrorFields): Buffer {
  return encodeFields(BackendCode.ErrorResponse, f);
}

export function encodeNoticeResponse(f: ErrorFields): Buffer {
  return encodeFields(BackendCode.NoticeResponse, f);
}

/** Single-byte answers to SSLRequest / GSSENCRequest (not framed). */
export const SSL_ACCEPTED = Buffer.from('S', 'latin1');
export const SSL_REFUSED = Buffer.from('N', 'latin1');
export const GSSENC_REFUSED = Buffer.from('N', 'latin1');

export const AUTHENTICATION_OK = frame(BackendCode.Authentication, int32(0));

/** AuthenticationSASL: Int32 10, then each mechanism name as a String, then a final NUL. */
export function encodeAuthenticationSASL(mechanisms: string[]): Buffer {
  return frame(BackendCode.Authentication, int32(10), ...mechanisms.map(cstr), NUL);
}

export function encodeAuthenticationSASLContinue(data: Buffer): Buffer {
  return frame(BackendCode.Authentication, int32(11), data);
}

export function encodeAuthenticationSASLFinal(data: Buffer): Buffer {
  return frame(BackendCode.Authentication, int32(12), data);
}

export function encodeParameterStatus(name: string, value: string): Buffer {
  return frame(BackendCode.ParameterStatus, cstr(name), cstr(value));
}

export function encodeBackendKeyData(processId: number, secretKey: number): Buffer {
  return frame(BackendCode.BackendKeyData, int32(processId), int32(secretKey));
}

export function encodeReadyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return frame(BackendCode.ReadyForQuery, Buffer.from(status, 'latin1'));
}

export const READY_FOR_QUERY_IDLE = encodeReadyForQuery('I');
export const READY_FOR_QUERY_IN_TRANSACTION = encodeReadyForQuery('T');
export const READY_FOR_QUERY_FAILED = encodeReadyForQuery('E');

/** NegotiateProtocolVersion: Int32 newest minor supported, Int32 count, the unrecognised _pq_. options. */
export function encodeNegotiateProtocolVersion(newestMinor: number, unrecognized: string[]): Buffer {
  return frame(BackendCode.NegotiateProtocolVersion, int32(newestMinor), int32(unrecognized.length), ...unrecognized.map(cstr));
}

export function encodeCommandComplete(tag: string): Buffer {
  return frame(BackendCode.CommandComplete, cstr(tag));
}

export const PARSE_COMPLETE = frame(BackendCode.ParseComplete);
export const BIND_COMPLETE = frame(BackendCode.BindComplete);
export const CLOSE_COMPLETE = frame(BackendCode.CloseComplete);
export const NO_DATA = frame(BackendCode.NoData);
export const EMPTY_QUERY_RESPONSE = frame(BackendCode.EmptyQueryResponse);

/**
 * Fields of an upstream ErrorResponse/NoticeResponse body: Byte1 type, String value, ..., final NUL.
 * Unknown field types are kept (clients must ignore them); a missing terminator throws.
 */
export function decodeErrorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  let off = 0;
  for (;;) {
    if (off >= body.length) throw new ProtocolViolation('malformed_message', 'invalid message format');
    const type = body[off]!;
    if (type === 0) break;
    const end = body.indexOf(0, off + 1);
    if (end < 0) throw new ProtocolViolation('malformed_message', 'invalid message format');
    fields.set(String.fromCharCode(type), body.toString('utf8', off + 1, end));
    off = end + 1;
  }
  if (off !== body.length - 1) throw new ProtocolViolation('malformed_message', 'invalid message format');
  return fields;
}
