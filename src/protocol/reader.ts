// Bounds-checked cursor over one message body, shared by the frontend and startup decoders.
// Every read checks the remaining length first, so a peer-declared count can never read past the body.
import { isUtf8 } from 'node:buffer';
import { ProtocolViolation } from './errors.js';

export class BodyReader {
  private off = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly reason = 'malformed_message',
    private readonly what = 'invalid message format',
  ) {}

  get remaining(): number {
    return this.buf.length - this.off;
  }

  fail(): never {
    throw new ProtocolViolation(this.reason, this.what);
  }

  private need(n: number): void {
    if (n < 0 || this.buf.length - this.off < n) this.fail();
  }

  byte(): number {
    this.need(1);
    return this.buf[this.off++]!;
  }

  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.off);
    this.off += 2;
    return v;
  }

  uint16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }

  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.off);
    this.off += 4;
    return v;
  }

  uint32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }

  /** A view (no copy) of the next n bytes. */
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return v;
  }

  /**
   * A NUL-terminated string. Invalid UTF-8 is refused: the proxy must see the same text the server
   * will (the session pins client_encoding to UTF8), never a lossy U+FFFD rendering of it.
   */
  cstring(): string {
    const end = this.buf.indexOf(0, this.off);
    if (end < 0) this.fail();
    const raw = this.buf.subarray(this.off, end);
    if (!isUtf8(raw)) this.fail();
    this.off = end + 1;
    return raw.toString('utf8');
  }

  /** Asserts the whole body was consumed (PostgreSQL's pq_getmsgend). */
  end(): void {
    if (this.off !== this.buf.length) this.fail();
  }
}
