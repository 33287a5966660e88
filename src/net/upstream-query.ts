// One simple-protocol query on a logged-in upstream connection, for ysqlgate's own use (health checks,
// yb_servers() discovery): text rows only, bounded in size and time. Never used on a client's session.
import { serialize } from 'pg-protocol/dist/serializer';
import { SocketReader } from '../session/socket-reader.js';
import type { UpstreamConnection } from './upstream.js';

const MAX_MESSAGE = 1 << 20;
const MAX_ROWS = 10_000;
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4]);

export class UpstreamQueryError extends Error {}

/** Runs `sql` (no parameters) and resolves with the rows as text (null for SQL NULL); throws on any error. */
export async function queryRows(connection: UpstreamConnection, sql: string, timeoutMs: number): Promise<Array<Array<string | null>>> {
  const { socket } = connection;
  if (connection.leftover.length > 0) socket.unshift(connection.leftover);
  const reader = new SocketReader(socket, MAX_MESSAGE);
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const rows: Array<Array<string | null>> = [];
  let failure: string | null = null;
  try {
    socket.write(serialize.query(sql));
    for (;;) {
      const { code, body } = await reader.readMessage();
      switch (String.fromCharCode(code)) {
        case 'D':
          if (rows.length >= MAX_ROWS) throw new UpstreamQueryError('too many rows');
          rows.push(decodeDataRow(body));
          break;
        case 'E':
          failure = errorCode(body);
          break;
        case 'Z':
          if (failure !== null) throw new UpstreamQueryError(`query failed: ${failure}`);
          return rows;
        default: // RowDescription, CommandComplete, NoticeResponse, ParameterStatus, EmptyQueryResponse
          break;
      }
    }
  } catch (err) {
    if (err instanceof UpstreamQueryError) throw err;
    throw new UpstreamQueryError('connection lost during query');
  } finally {
    clearTimeout(timer);
    reader.detach();
  }
}

/** Ends a connection politely (Terminate) and makes sure the socket goes away. */
export function closeQuietly(connection: UpstreamConnection): void {
  const { socket } = connection;
  socket.on('error', () => undefined);
  if (!socket.destroyed && socket.writable) socket.end(TERMINATE);
  setTimeout(() => socket.destroy(), 1000).unref();
}

// https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-DATAROW
function decodeDataRow(body: Buffer): Array<string | null> {
  const count = body.readInt16BE(0);
  const out: Array<string | null> = [];
  let off = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(off);
    off += 4;
    if (length < 0) { out.push(null); continue; }
    if (off + length > body.length) throw new UpstreamQueryError('malformed DataRow');
    out.push(body.toString('utf8', off, off + length));
    off += length;
  }
  return out;
}

/** The SQLSTATE field of an ErrorResponse (the only part kept). */
function errorCode(body: Buffer): string {
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    if (body[i] === 0x43 /* C */) return body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return 'XX000';
}
