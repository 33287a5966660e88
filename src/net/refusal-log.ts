// `connection.rejected` lines for connections refused at accept (allow list, PROXY header, draining), rate
// limited so a flood of refused connections cannot flood the log: at most `perSecond` lines a second, and
// once a second after a burst one line saying how many were suppressed, by reason. Metrics count every one.
import type { Logger } from '../observability/logger.js';

export type RefusalLogOptions = { readonly perSecond?: number; readonly now?: () => number };

export const DEFAULT_REFUSALS_PER_SECOND = 20;

export class RefusalLog {
  private readonly perSecond: number;
  private readonly now: () => number;
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly logger: Logger, opts: RefusalLogOptions = {}) {
    this.perSecond = opts.perSecond ?? DEFAULT_REFUSALS_PER_SECOND;
    this.now = opts.now ?? Date.now;
  }

  /** One refused connection: `reason` is a code, `client` the (reported) address:port. */
  refused(reason: string, client: string, extra: Record<string, unknown> = {}): void {
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      this.logger.info({ event: 'connection.rejected', reason, client, ...extra }, 'connection refused');
      return;
    }
    this.suppressed.set(reason, (this.suppressed.get(reason) ?? 0) + 1);
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => this.flush(), 1000);
      this.flushTimer.unref();
    }
  }

  /** Writes the "suppressed K" line now (also called on shutdown). */
  flush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.suppressed.size === 0) return;
    let total = 0;
    const reasons: Record<string, number> = {};
    for (const [reason, n] of this.suppressed) { reasons[reason] = n; total += n; }
    this.suppressed = new Map();
    this.logger.warn({ event: 'connection.rejected', reason: 'suppressed', suppressed: total, reasons }, `${total} connection refusals not logged`);
  }
}
