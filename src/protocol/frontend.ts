// Decoders for client→server message bodies (the bytes after the 5-byte header) that the proxy inspects.
// Pure; each throws ProtocolViolation('malformed_message') on any structural fault, never reads past the body.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { BodyReader } from './reader.js';

/** Query: String. An embedded NUL or bytes after the terminator are refused (PostgreSQL's pq_getmsgend). */
export function decodeQuery(body: Buffer): string {
  const r = new BodyReader(body);
  const sql = r.cstring();
  r.end();
  return sql;
}

/** Parse: String name, String query, UInt16 count, Int32[count] parameter type OIDs. */
export function decodeParse(body: Buffer): { name: string; query: string; paramTypes: number[] } {
  const r = new BodyReader(body);
  const name = r.cstring();
  const query = r.cstring();
  const n = r.uint16(); // PostgreSQL reads counts as unsigned 16-bit
  if (r.remaining !== n * 4) r.fail();
  const paramTypes = new Array<number>(n);
  for (let i = 0; i < n; i++) paramTypes[i] = r.uint32();
  r.end();
  return { name, query, paramTypes };
}

function skipFormatCodes(r: BodyReader): void {
  r.bytes(r.uint16() * 2);
}

/** Values: UInt16 count, then per value Int32 length (-1 = NULL) and that many bytes. */
function skipValues(r: BodyReader): void {
  const n = r.uint16();
  for (let i = 0; i < n; i++) {
    const len = r.int32();
    if (len === -1) continue;
    r.bytes(len); // a length below -1 or past the body fails here
  }
}

/** Bind: only the names are returned, but the whole layout is validated so no garbage is relayed. */
export function decodeBind(body: Buffer): { portal: string; statement: string } {
  const r = new BodyReader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  skipFormatCodes(r);
  skipValues(r);
  skipFormatCodes(r);
  r.end();
  return { portal, statement };
}

/** Execute: String portal, Int32 max rows (0 = no limit). */
export function decodeExecute(body: Buffer): { portal: string; maxRows: number } {
  const r = new BodyReader(body);
  const portal = r.cstring();
  const maxRows = r.int32();
  r.end();
  return { portal, maxRows };
}

function decodeTarget(body: Buffer): { target: 'S' | 'P'; name: string } {
  const r = new BodyReader(body);
  const t = r.byte();
  if (t !== 0x53 && t !== 0x50) r.fail();
  const name = r.cstring();
  r.end();
  return { target: t === 0x53 ? 'S' : 'P', name };
}

/** Describe: Byte1 'S' (statement) or 'P' (portal), String name. */
export function decodeDescribe(body: Buffer): { target: 'S' | 'P'; name: string } {
  return decodeTarget(body);
}

/** Close: Byte1 'S' or 'P', String name. */
export function decodeClose(body: Buffer): { target: 'S' | 'P'; name: string } {
  return decodeTarget(body);
}

/** FunctionCall: Int32 OID, argument format codes, arguments, Int16 result format. */
export function decodeFunctionCall(body: Buffer): { functionOid: number } {
  const r = new BodyReader(body);
  const functionOid = r.uint32();
  skipFormatCodes(r);
  skipValues(r);
  r.int16();
  r.end();
  return { functionOid };
}

/** SASLInitialResponse: String mechanism, Int32 length (-1 = no initial response), bytes. */
export function decodeSASLInitialResponse(body: Buffer): { mechanism: string; data: Buffer } {
  const r = new BodyReader(body);
  const mechanism = r.cstring();
  const len = r.int32();
  const data = len === -1 ? Buffer.alloc(0) : r.bytes(len);
  r.end();
  return { mechanism, data };
}

/** SASLResponse: the whole body is mechanism data. */
export function decodeSASLResponse(body: Buffer): Buffer {
  return body;
}

/** PasswordMessage (cleartext): String password. */
export function decodePasswordMessage(body: Buffer): string {
  return decodeQuery(body);
}

/** CopyFail: String error message. */
export function decodeCopyFail(body: Buffer): string {
  return decodeQuery(body);
}
