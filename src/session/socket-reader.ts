// Pull-style reading of a socket during the startup phase (negotiation and authentication), where the
// conversation is strictly request/response. Lengths are capped before buffering. The relay takes over
// afterwards with `detach()`, which hands back whatever was read but not consumed.
import type { Duplex } from 'node:stream';
import { peekStartupLength } from '../protocol/startup.js';
import { ProtocolViolation } from '../protocol/errors.js';

export class PeerClosedError extends Error {
  constructor() { super('peer closed the connection'); }
}

export type StartupFrame = { code: number; body: Buffer };

export class SocketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | null = null;
  private failure: Error | null = null;
  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    // Never hold more than one whole message: a peer that sends ahead (or floods) is paused, not buffered.
    if (this.size > this.maxMessageSize) this.socket.pause();
    this.wake();
  };
  private readonly onEnd = (): void => this.fail(new PeerClosedError());
  private readonly onError = (err: Error): void => this.fail(err);

  constructor(private readonly socket: Duplex, private readonly maxMessageSize: number) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
    socket.resume(); // sockets may arrive paused (pauseOnConnect, or detached by a previous reader)
  }

  get buffered(): number {
    return this.size;
  }

  /** Reads one length-prefixed startup packet (SSLRequest, StartupMessage, CancelRequest...), whole. */
  async readStartupPacket(): Promise<Buffer> {
    for (;;) {
      const head = this.peek(4);
      const length = head ? peekStartupLength(head) : null;
      if (length !== null && this.size >= length) return this.take(length);
      await this.wait();
    }
  }

  /** Reads one type-coded message; the declared length is checked before the body is buffered. */
  async readMessage(): Promise<StartupFrame> {
    for (;;) {
      const head = this.peek(5);
      if (head) {
        const length = head.readInt32BE(1);
        if (length < 4) throw new ProtocolViolation('bad_length', 'invalid message length');
        if (length + 1 > this.maxMessageSize) throw new ProtocolViolation('message_too_large', 'message too large');
        if (this.size >= length + 1) {
          const whole = this.take(length + 1);
          return { code: whole[0]!, body: whole.subarray(5) };
        }
      }
      await this.wait();
    }
  }

  /** Reads the first byte without consuming it (direct TLS detection). */
  async peekByte(): Promise<number> {
    while (this.size < 1) await this.wait();
    return this.chunks[0]![0]!;
  }

  /** Stops reading and returns the unconsumed bytes (possibly empty). */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    const rest = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  private peek(n: number): Buffer | null {
    if (this.size < n) return null;
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    return Buffer.concat(this.chunks).subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    if (this.size <= this.maxMessageSize && this.failure === null) this.socket.resume();
    return out;
  }

  private wait(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      this.waiter = () => {
        this.waiter = null;
        if (this.failure) reject(this.failure);
        else resolve();
      };
    });
  }

  private wake(): void {
    this.waiter?.();
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.wake();
  }
}
