// Cancel keys: each session gets a BackendKeyData of ysqlgate's own (random, never the upstream's), and a
// CancelRequest on a new connection is routed by it. Unknown or wrong keys are dropped silently, as PostgreSQL does.
import { randomInt, timingSafeEqual } from 'node:crypto';
import { SESSION_BITS_MAX, TAG_SHIFT, type Replica } from '../net/peers.js';

export type CancelTarget = { cancelUpstream(): Promise<void> };

type Entry = { secretKey: number; target: CancelTarget };

export type CancelResult = 'forwarded' | 'unknown' | 'failed';

/** Asks the other processes of this replica (cluster workers, src/workers.ts) to cancel a key not held here. */
export type SiblingCancel = (processId: number, secretKey: number) => Promise<CancelResult>;

export class CancelRegistry {
  private readonly entries = new Map<number, Entry>();
  /** Set in a cluster worker: where a CancelRequest for a key this process did not issue goes. */
  siblings: SiblingCancel | null = null;

  /** Which replica this is among `peers` (net/peers.ts); its tag is kept in bits 22-29 of every processId. */
  private self: Replica = { tag: 0, selfIndex: null };

  /** Set once the listen address is known; keys issued before keep their old tag and still resolve here. */
  setReplica(replica: Replica): void {
    this.self = replica;
  }

  get replica(): Replica {
    return this.self;
  }

  /** Issues a fresh (processId, secretKey) for a session; the processId carries the replica tag. */
  issue(target: CancelTarget): { processId: number; secretKey: number } {
    let processId: number;
    do processId = (this.self.tag << TAG_SHIFT) | randomInt(1, SESSION_BITS_MAX); while (this.entries.has(processId));
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

  /** Cancels the session a key belongs to, if this process issued it: forwarded, failed, or unknown. */
  async cancel(processId: number, secretKey: number): Promise<CancelResult> {
    const target = this.lookup(processId, secretKey);
    if (!target) return 'unknown';
    try {
      await target.cancelUpstream();
      return 'forwarded';
    } catch {
      return 'failed';
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
