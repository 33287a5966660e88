// Duration and size units of the config file ("10s", "64MiB") to milliseconds and bytes, and back for summaries.
// Pure: no I/O; anything that is not exactly one of the documented forms is refused, never guessed.

/** The largest delay Node timers honour; a longer one fires after 1 ms, so it is refused here. */
export const MAX_DURATION_MS = 2_147_483_647;

const DURATION_UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;
const SIZE_UNITS = { B: 1, KiB: 1_024, MiB: 1_048_576, GiB: 1_073_741_824 } as const;

export const DURATION_PATTERN = /^(0|[1-9][0-9]{0,9})(ms|s|m|h)$/;
export const SIZE_PATTERN = /^(0|[1-9][0-9]{0,12})(B|KiB|MiB|GiB)?$/;

export class UnitError extends Error {
  override readonly name = 'UnitError';
}

/** "500ms", "10s", "5m", "1h", "0s" or "0" to milliseconds. */
export function parseDuration(text: string): number {
  if (text === '0') return 0;
  const m = DURATION_PATTERN.exec(text);
  if (m === null) {
    throw new UnitError('not a duration: use an integer with a unit, e.g. 500ms, 10s, 5m, 1h');
  }
  const ms = Number(m[1]) * DURATION_UNITS[m[2] as keyof typeof DURATION_UNITS];
  if (ms > MAX_DURATION_MS) throw new UnitError('duration too long: at most 24 days (2147483647ms)');
  return ms;
}

/** "64MiB", "512KiB", "1GiB", "100B" or a plain integer of bytes ("4096") to bytes. */
export function parseSize(text: string): number {
  const m = SIZE_PATTERN.exec(text);
  if (m === null) throw new UnitError('not a size: use an integer with B, KiB, MiB or GiB, e.g. 64MiB');
  const bytes = Number(m[1]) * SIZE_UNITS[(m[2] ?? 'B') as keyof typeof SIZE_UNITS];
  if (!Number.isSafeInteger(bytes)) throw new UnitError('size too large');
  return bytes;
}

/** Milliseconds to the largest exact unit: 300000 -> "5m", 1500 -> "1500ms". */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  for (const [unit, factor] of [['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms % factor === 0) return `${ms / factor}${unit}`;
  }
  return `${ms}ms`;
}

/** Bytes to the largest exact binary unit: 67108864 -> "64MiB", 100 -> "100B". */
export function formatSize(bytes: number): string {
  if (bytes === 0) return '0B';
  for (const [unit, factor] of [['GiB', 1_073_741_824], ['MiB', 1_048_576], ['KiB', 1_024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}B`;
}
