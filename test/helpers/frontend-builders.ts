// Test-only builders for the client side of the wire, and a reader for what a server sent back.
// Written independently of src/protocol so tests check the codec against a second implementation.

type Piece = Buffer | string | number; // string => NUL-terminated UTF-8; number => Int32

function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}
function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
}
function i16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return b;
}
function toBuf(p: Piece): Buffer {
  return typeof p === 'string' ? cstring(p) : typeof p === 'number' ? i32(p) : p;
}

/** A typed frontend message: code char, Int32 length, body. */
export function buildMessage(code: string, ...pieces: Piece[]): Buffer {
  const body = Buffer.concat(pieces.map(toBuf));
  return Buffer.concat([Buffer.from(code, 'latin1'), i32(body.length + 4), body]);
}

/** An untyped first packet: Int32 length, body. */
function buildUntyped(body: Buffer): Buffer {
  return Buffer.concat([i32(body.length + 4), body]);
}

export function buildStartup(params: Record<string, string>, version: { major: number; minor: number } = { major: 3, minor: 0 }): Buffer {
  const pieces: Buffer[] = [i16(version.major), i16(version.minor)];
  for (const [k, v] of Object.entries(params)) pieces.push(cstring(k), cstring(v));
  pieces.push(Buffer.from([0]));
  return buildUntyped(Buffer.concat(pieces));
}
export const buildSSLRequest = (): Buffer => buildUntyped(i32(80877103));
export const buildGSSENCRequest = (): Buffer => buildUntyped(i32(80877104));
export const buildCancelRequest = (pid: number, key: number): Buffer => buildUntyped(Buffer.concat([i32(80877102), i32(pid), i32(key)]));

export const buildQuery = (sql: string): Buffer => buildMessage('Q', sql);
export function buildParse(name: string, sql: string, types: number[] = []): Buffer {
  const t = Buffer.alloc(types.length * 4);
  types.forEach((v, i) => t.writeUInt32BE(v >>> 0, i * 4));
  return buildMessage('P', name, sql, i16(types.length), t);
}
/** Bind with text parameters (no format codes) and no result format codes. */
export function buildBind(portal: string, stmt: string, params: (string | null)[] = []): Buffer {
  const vals = params.map((p) => (p === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(p)), Buffer.from(p, 'utf8')])));
  return buildMessage('B', portal, stmt, i16(0), i16(params.length), ...vals, i16(0));
}
export const buildExecute = (portal = '', maxRows = 0): Buffer => buildMessage('E', portal, maxRows);
export const buildDescribe = (target: 'S' | 'P', name = ''): Buffer => buildMessage('D', Buffer.from(target, 'latin1'), name);
export const buildClose = (target: 'S' | 'P', name = ''): Buffer => buildMessage('C', Buffer.from(target, 'latin1'), name);
export const buildSync = (): Buffer => buildMessage('S');
export const buildFlush = (): Buffer => buildMessage('H');
export const buildTerminate = (): Buffer => buildMessage('X');
/** FunctionCall with no arguments and a text result. */
export const buildFunctionCall = (oid: number): Buffer => buildMessage('F', oid, i16(0), i16(0), i16(0));
export function buildSASLInitialResponse(mech: string, data: Buffer | string | null): Buffer {
  if (data === null) return buildMessage('p', mech, -1);
  const d = Buffer.from(data);
  return buildMessage('p', mech, d.length, d);
}
export const buildSASLResponse = (data: Buffer | string): Buffer => buildMessage('p', Buffer.from(data));
export const buildPassword = (password: string): Buffer => buildMessage('p', password);
export const buildCopyData = (buf: Buffer): Buffer => buildMessage('d', buf);
export const buildCopyDone = (): Buffer => buildMessage('c');
export const buildCopyFail = (msg: string): Buffer => buildMessage('f', msg);

/**
 * Splits what a server sent into messages. A trailing incomplete message is ignored, so tests can call it on
 * whatever has arrived so far. Single-byte SSL/GSSENC answers are not framed: slice them off first.
 */
export function parseBackendMessages(buf: Buffer): { code: string; body: Buffer }[] {
  const out: { code: string; body: Buffer }[] = [];
  let off = 0;
  while (buf.length - off >= 5) {
    const len = buf.readInt32BE(off + 1);
    if (len < 4) throw new Error(`bad backend message length ${len}`);
    if (off + 1 + len > buf.length) break;
    out.push({ code: String.fromCharCode(buf[off]!), body: buf.subarray(off + 5, off + 1 + len) });
    off += 1 + len;
  }
  return out;
}
