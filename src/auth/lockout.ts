// Brute-force lockout (`limits.authFailures`): failed logins are counted per client address and per user name
// in a sliding window; `max` failures within `window` lock that address or name for `lockout`. Unknown user
// names are tracked like known ones, so "locked" never tells an attacker which users exist. Pure: no I/O, no
// logging; memory is bounded (capped tables, expired entries dropped). The session decides what to say and log.
import { parseIPv4, parseIPv6 } from '../config/cidr.js';

export type AuthFailureSettings = { readonly max: number; readonly windowMs: number; readonly lockoutMs: number };

export type LockScope = 'address' | 'user';
export type LockState = { readonly locked: false } | { readonly locked: true; readonly scope: LockScope; readonly untilMs: number };

type Entry = { failures: number[]; lockedUntil: number };

/** Entries per table; beyond it the oldest unlocked (then oldest) entries are dropped. */
export const DEFAULT_MAX_ENTRIES = 10_000;
/** User names are client input: only this much of one is kept as a key. */
const MAX_KEY_LENGTH = 128;

class FailureTable {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries: number) {}

  get size(): number {
    return this.entries.size;
  }

  lockedUntil(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (!entry || entry.lockedUntil <= now) return 0;
    return entry.lockedUntil;
  }

  /** Records one failure; returns the lock end when this failure locks the key, else 0. */
  fail(key: string, now: number, s: AuthFailureSettings): number {
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key); // re-insert: Map order doubles as least-recently-failed order
    else entry = { failures: [], lockedUntil: 0 };
    const since = now - s.windowMs;
    entry.failures = entry.failures.filter((at) => at > since);
    entry.failures.push(now);
    if (entry.failures.length > s.max) entry.failures.splice(0, entry.failures.length - s.max);
    let locked = 0;
    if (entry.failures.length >= s.max && entry.lockedUntil <= now) {
      entry.lockedUntil = now + s.lockoutMs;
      entry.failures = [];
      locked = entry.lockedUntil;
    }
    this.entries.set(key, entry);
    this.evict(now, s);
    return locked;
  }

  /** Drops entries with nothing left to remember; then, if still over the cap, the least recently failed. */
  private evict(now: number, s: AuthFailureSettings): void {
    if (this.entries.size <= this.maxEntries) return;
    const since = now - s.windowMs;
    for (const [key, entry] of this.entries) {
      if (entry.lockedUntil <= now && !entry.failures.some((at) => at > since)) this.entries.delete(key);
    }
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries) return;
      if (entry.lockedUntil <= now) this.entries.delete(key);
    }
    for (const key of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) return;
      this.entries.delete(key);
    }
  }

  /** Removes everything expired (called periodically so idle tables shrink). */
  sweep(now: number, s: AuthFailureSettings): void {
    const since = now - s.windowMs;
    for (const [key, entry] of this.entries) {
      if (entry.lockedUntil <= now && !entry.failures.some((at) => at > since)) this.entries.delete(key);
    }
  }
}

export type AuthFailureTrackerOptions = { readonly maxEntries?: number; readonly now?: () => number };

export class AuthFailureTracker {
  private readonly byAddress: FailureTable;
  private readonly byUser: FailureTable;
  private readonly now: () => number;

  /** `settings` is read at every call so a reload applies at once. */
  constructor(private readonly settings: () => AuthFailureSettings, opts: AuthFailureTrackerOptions = {}) {
    const max = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.byAddress = new FailureTable(max);
    this.byUser = new FailureTable(max);
    this.now = opts.now ?? Date.now;
  }

  /** Is this address or this user name locked out right now? */
  check(address: string, user: string): LockState {
    const now = this.now();
    const a = this.byAddress.lockedUntil(addressKey(address), now);
    if (a > 0) return { locked: true, scope: 'address', untilMs: a };
    const u = this.byUser.lockedUntil(userKey(user), now);
    if (u > 0) return { locked: true, scope: 'user', untilMs: u };
    return { locked: false };
  }

  /** Counts one failed login; returns which scopes this failure locked (empty when none). */
  recordFailure(address: string, user: string): LockScope[] {
    const now = this.now();
    const s = this.settings();
    const locked: LockScope[] = [];
    if (this.byAddress.fail(addressKey(address), now, s) > 0) locked.push('address');
    if (this.byUser.fail(userKey(user), now, s) > 0) locked.push('user');
    return locked;
  }

  sweep(): void {
    const now = this.now();
    const s = this.settings();
    this.byAddress.sweep(now, s);
    this.byUser.sweep(now, s);
  }

  get sizes(): { address: number; user: number } {
    return { address: this.byAddress.size, user: this.byUser.size };
  }
}

/**
 * The address a failure is charged to: IPv4 (also when IPv4-mapped) as is; IPv6 by its /64, since one
 * client usually holds a whole /64 and could otherwise rotate addresses to dodge the lockout.
 */
export function addressKey(address: string): string {
  if (parseIPv4(address) !== null) return address;
  const v6 = parseIPv6(address);
  if (v6 === null) return address.slice(0, MAX_KEY_LENGTH);
  if (v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff) return Array.from(v6.subarray(12)).join('.');
  return `${v6.subarray(0, 8).toString('hex')}/64`;
}

function userKey(user: string): string {
  return user.length > MAX_KEY_LENGTH ? user.slice(0, MAX_KEY_LENGTH) : user;
}
