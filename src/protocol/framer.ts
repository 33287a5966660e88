// Incremental framer for client→server messages after startup: Byte1 code, Int32 length (self-inclusive), body.
// Hot path: frames inside one chunk are zero-copy subarrays; only a message split across chunks is copied.
// It checks the declared length as soon as the 5-byte header is seen, before buffering any of the body.
import { ProtocolViolation } from './errors.js';

export type Frame = { code: number; body: Buffer; raw: Buffer }; // raw = header + body

const HEADER = 5;

export class FrontendFramer {
  /** Pieces of one incomplete message (the header first, once complete). */
  private parts: Buffer[] = [];
  private held = 0;
  /** Total size (header included) of the pending message, 0 while its header is incomplete. */
  private need = 0;

  /** maxMessageSize caps the declared length, which includes its own 4 bytes but not the code byte. */
  constructor(private readonly maxMessageSize: number) {}

  get buffered(): number {
    return this.held;
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    let buf = chunk;
    if (this.held > 0) {
      buf = this.completePending(buf, frames);
      if (buf.length === 0) return frames;
    }
    let off = 0;
    while (buf.length - off >= HEADER) {
      const total = this.checkedTotal(buf.readInt32BE(off + 1));
      const end = off + total;
      if (end > buf.length) {
        this.need = total;
        break;
      }
      const raw = buf.subarray(off, end);
      frames.push({ code: raw[0]!, body: raw.subarray(HEADER), raw });
      off = end;
    }
    if (off < buf.length) {
      this.parts.push(buf.subarray(off));
      this.held = buf.length - off;
    }
    return frames;
  }

  /** Validates a declared length and returns the whole message size (code byte + length). */
  private checkedTotal(len: number): number {
    if (len < 4) throw new ProtocolViolation('bad_length', 'invalid message length');
    if (len > this.maxMessageSize) throw new ProtocolViolation('message_too_large', 'message too large');
    return len + 1;
  }

  /** Feeds the pending message; returns the part of `chunk` left after it (possibly empty). */
  private completePending(chunk: Buffer, frames: Frame[]): Buffer {
    let rest = chunk;
    if (this.need === 0) {
      const take = Math.min(HEADER - this.held, rest.length);
      const header = Buffer.concat([...this.parts, rest.subarray(0, take)]);
      rest = rest.subarray(take);
      this.parts = [header];
      this.held = header.length;
      if (header.length < HEADER) return rest;
      this.need = this.checkedTotal(header.readInt32BE(1));
    }
    const take = Math.min(this.need - this.held, rest.length);
    if (take > 0) {
      this.parts.push(rest.subarray(0, take));
      this.held += take;
      rest = rest.subarray(take);
    }
    if (this.held === this.need) {
      const raw = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.need);
      frames.push({ code: raw[0]!, body: raw.subarray(HEADER), raw });
      this.parts = [];
      this.held = 0;
      this.need = 0;
    }
    return rest;
  }
}
