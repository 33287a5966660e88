// Frames the upstream→client stream by headers only, in place: whole chunks are forwarded as they came
// (as subarrays, never copied), except an ErrorResponse the session asked to inspect, which is held until
// complete so it can be replaced. Reads the status of every ReadyForQuery on the way.
// https://www.postgresql.org/docs/current/protocol-message-formats.html
import { BackendCode } from './codes.js';
import { ProtocolViolation } from './errors.js';

/** Largest ErrorResponse that is held for inspection; a bigger one is forwarded untouched. */
const MAX_HELD_ERROR = 1 << 20;

export type ScanHooks = {
  /** Called with the transaction status byte ('I', 'T', 'E') of each ReadyForQuery. */
  onReadyForQuery(status: number): void;
  /** Called with a complete ErrorResponse while `watchErrors` is on; returns what to send instead (or the same). */
  onErrorResponse(message: Buffer): Buffer;
};

export class BackendScanner {
  /** Set while the session waits for an upstream error it may need to replace. */
  watchErrors = false;
  private readonly header = Buffer.alloc(5);
  private headerFill = 0;
  private remaining = 0;
  private readyStatusPending = false;
  private held: Buffer | null = null;
  private heldFill = 0;

  constructor(private readonly hooks: ScanHooks) {}

  /** True between messages: a message injected now cannot split one from upstream. */
  get atBoundary(): boolean {
    return this.headerFill === 0 && this.remaining === 0 && this.held === null;
  }

  /**
   * Scans one chunk and appends what to forward to `out`. With `stopAtBoundary`, stops right after the
   * first message that completes (or at once if already at a boundary) and returns the bytes consumed;
   * the rest of the chunk is dropped by the caller.
   */
  scan(chunk: Buffer, out: Buffer[], stopAtBoundary = false): number {
    const len = chunk.length;
    let pos = 0;
    let forwardFrom = 0;
    while (pos < len) {
      if (stopAtBoundary && this.atBoundary) break;
      if (this.held !== null) {
        const n = Math.min(this.held.length - this.heldFill, len - pos);
        chunk.copy(this.held, this.heldFill, pos, pos + n);
        this.heldFill += n;
        pos += n;
        forwardFrom = pos;
        if (this.heldFill === this.held.length) {
          out.push(this.hooks.onErrorResponse(this.held));
          this.held = null;
        }
        continue;
      }
      if (this.remaining > 0) {
        if (this.readyStatusPending) {
          this.readyStatusPending = false;
          this.hooks.onReadyForQuery(chunk[pos]!);
        }
        const n = Math.min(this.remaining, len - pos);
        pos += n;
        this.remaining -= n;
        continue;
      }
      // A header: in place when whole, else gathered across chunks (held back, never forwarded in pieces).
      let code: number;
      let length: number;
      let headerStart: number;
      if (this.headerFill === 0 && len - pos >= 5) {
        code = chunk[pos]!;
        length = chunk.readInt32BE(pos + 1);
        headerStart = pos;
        pos += 5;
      } else {
        if (this.headerFill === 0 && pos > forwardFrom) out.push(chunk.subarray(forwardFrom, pos));
        const n = Math.min(5 - this.headerFill, len - pos);
        chunk.copy(this.header, this.headerFill, pos, pos + n);
        this.headerFill += n;
        pos += n;
        forwardFrom = pos;
        if (this.headerFill < 5) break;
        this.headerFill = 0;
        code = this.header[0]!;
        length = this.header.readInt32BE(1);
        headerStart = -1;
      }
      if (length < 4) throw new ProtocolViolation('bad_length', 'upstream sent a message with an invalid length');
      this.remaining = length - 4;
      if (code === BackendCode.ReadyForQuery && this.remaining > 0) this.readyStatusPending = true;
      if (code === BackendCode.ErrorResponse && this.watchErrors && length + 1 <= MAX_HELD_ERROR) {
        if (headerStart >= 0 && headerStart > forwardFrom) out.push(chunk.subarray(forwardFrom, headerStart));
        this.held = Buffer.allocUnsafe(length + 1);
        if (headerStart >= 0) chunk.copy(this.held, 0, headerStart, headerStart + 5);
        else this.header.copy(this.held, 0, 0, 5);
        this.heldFill = 5;
        this.remaining = 0;
        forwardFrom = pos;
        if (this.heldFill === this.held.length) {
          out.push(this.hooks.onErrorResponse(this.held));
          this.held = null;
        }
      } else if (headerStart < 0) {
        out.push(Buffer.from(this.header)); // a header gathered across chunks: forward our copy of it
      }
    }
    if (pos > forwardFrom && this.held === null && this.headerFill === 0) out.push(chunk.subarray(forwardFrom, pos));
    return pos;
  }
}
