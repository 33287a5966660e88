// A raw-socket PostgreSQL client for tests that need exact bytes: TLS by SSLRequest, SCRAM login with the
// real client code, and helpers to read backend messages. Used where real drivers cannot misbehave on purpose.
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { parseBackendMessages } from './frontend-builders.js';

export type RawMessage = { code: string; body: Buffer };

/** Connects over TCP and collects everything the server sends until it closes or `ms` pass. */
export function sendAndCollect(port: number, payload: Buffer, ms = 2000, host = '127.0.0.1'): Promise<{ bytes: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect({ host, port }, () => socket.write(payload));
    const done = (closed: boolean): void => { clearTimeout(timer); socket.destroy(); resolve({ bytes: Buffer.concat(chunks), closed }); };
    const timer = setTimeout(() => done(false), ms);
    socket.on('data', (c) => chunks.push(c));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
  });
}

export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    out[code] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

export function messages(bytes: Buffer): RawMessage[] {
  return parseBackendMessages(bytes);
}

/** Opens TLS via SSLRequest and returns the secure socket (no startup sent yet). */
export function connectTls(port: number, caFile: string): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ host: '127.0.0.1', port }, () => {
      const req = Buffer.alloc(8);
      req.writeInt32BE(8, 0);
      req.writeInt32BE(80877103, 4);
      raw.write(req);
    });
    raw.once('data', (b) => {
      if (b[0] !== 0x53) return reject(new Error(`SSLRequest answered ${b.toString()}`));
      const secure = tls.connect({ socket: raw, ca: fs.readFileSync(caFile), servername: 'localhost' }, () => resolve(secure));
      secure.once('error', reject);
    });
    raw.once('error', reject);
  });
}

/** Collects messages from a socket until one with `code` arrives (or the socket closes / times out). */
export function readUntil(socket: net.Socket, code: string, ms = 3000): Promise<RawMessage[]> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      resolve(parseBackendMessages(buf));
    };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const msgs = parseCompleteMessages(buf);
      if (msgs.some((m) => m.code === code)) finish();
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.once('close', finish);
  });
}

function parseCompleteMessages(buf: Buffer): RawMessage[] {
  const out: RawMessage[] = [];
  let pos = 0;
  while (buf.length - pos >= 5) {
    const len = buf.readInt32BE(pos + 1);
    if (buf.length - pos < len + 1) break;
    out.push({ code: String.fromCharCode(buf[pos]!), body: buf.subarray(pos + 5, pos + 1 + len) });
    pos += len + 1;
  }
  return out;
}

/** Logs in over TLS with SCRAM (the proxy's own client code) and returns the socket after ReadyForQuery. */
export async function rawLogin(port: number, caFile: string, user: string, password: string, database = 'yugabyte'): Promise<tls.TLSSocket> {
  const { ScramClient } = await import('../../src/auth/scram-client.js');
  const { buildStartup, buildSASLInitialResponse, buildSASLResponse } = await import('./frontend-builders.js');
  const s = await connectTls(port, caFile);
  s.write(buildStartup({ user, database }));
  await readUntil(s, 'R');
  const scram = new ScramClient(password);
  s.write(buildSASLInitialResponse('SCRAM-SHA-256', scram.clientFirstMessage()));
  const cont = (await readUntil(s, 'R')).find((m) => m.code === 'R')!;
  s.write(buildSASLResponse(scram.handleServerFirst(cont.body.subarray(4))));
  const rest = await readUntil(s, 'Z');
  if (!rest.some((m) => m.code === 'Z')) throw new Error(`login failed: ${rest.map((m) => m.code).join('')}`);
  return s;
}

/** Sends `payload` and collects message codes until `readyCount` ReadyForQuery messages arrived. */
export function exchange(socket: net.Socket, payload: Buffer, readyCount: number, ms = 3000): Promise<RawMessage[]> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const finish = (): void => { clearTimeout(timer); socket.off('data', onData); resolve(parseCompleteMessages(buf)); };
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (parseCompleteMessages(buf).filter((m) => m.code === 'Z').length >= readyCount) finish();
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', onData);
    socket.write(payload);
  });
}
