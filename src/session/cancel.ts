// Cancel keys: each session gets a BackendKeyData of ysqlgate's own (random, never the upstream's), and a
// CancelRequest on a new connection is routed by it. Unknown or wrong keys are dropped silently, as PostgreSQL does.
import { randomInt, timingSafeEqual } from 'node:crypto';

export type CancelTarget = { cancelUpstream(): Promise<void> };

type Entry = { secretKey: number; target: CancelTarget };

export class CancelRegistry {
  private readonly entries = new Map<number, Entry>();

  /** Issues a fresh (processId, secretKey) for a session. */
  issue(target: CancelTarget): { processId: number; secretKey: number } {
    let processId: number;
    do processId = randomInt(1, 0x7fffffff); while (this.entries.has(processId));
    const secretKey = randomInt(-0x80000000, 0x7fffffff);
    this.entries.set(processId, { secretKey, target });
    return { processId, secretKey };
  }

  release(processId: number): void {
    this.entries.delete(processId);
  }

  /** The session a key belongs to, or null; the secret is compared in constant time. */
  lookup(processId: number, secretKey: number): CancelTarget | null {
    const entry = this.entries.get(processId);
    if (!entry) return null;
    const a = Buffer.alloc(4);
    const b = Buffer.alloc(4);
    a.writeInt32BE(entry.secretKey);
    b.writeInt32BE(secretKey | 0);
    return timingSafeEqual(a, b) ? entry.target : null;
  }

  get size(): number {
    return this.entries.size;
  }
}
