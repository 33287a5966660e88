// SASLprep (RFC 4013) applied to SCRAM passwords exactly as PostgreSQL's pg_saslprep does.
// Pure: no I/O. On any failure the raw password is used unchanged, as PostgreSQL and libpq do.
import {
  LCAT, MAPPED_TO_NOTHING, NON_ASCII_SPACE, PROHIBITED, RANDALCAT, UNASSIGNED,
} from './saslprep-tables.js';

function inTable(code: number, table: readonly number[]): boolean {
  let lo = 0;
  let hi = table.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const first = table[mid * 2]!;
    const last = table[mid * 2 + 1]!;
    if (code < first) hi = mid - 1;
    else if (code > last) lo = mid + 1;
    else return true;
  }
  return false;
}

// Returns the prepared string, or null where PostgreSQL would report the password invalid for SASLprep.
function prepare(password: string): string | null {
  const mapped: number[] = [];
  for (const ch of password) {
    const code = ch.codePointAt(0)!;
    // A lone surrogate is not valid UTF-8: PostgreSQL falls back to the raw bytes.
    if (code >= 0xd800 && code <= 0xdfff) return null;
    if (inTable(code, NON_ASCII_SPACE)) mapped.push(0x20);
    else if (!inTable(code, MAPPED_TO_NOTHING)) mapped.push(code);
  }
  if (mapped.length === 0) return null; // PostgreSQL refuses an empty prepared password
  // PostgreSQL runs the prohibition and bidi checks on the mapped (pre-normalization) characters;
  // we follow it so that both sides derive the same SaltedPassword.
  for (const code of mapped) {
    if (inTable(code, PROHIBITED) || inTable(code, UNASSIGNED)) return null;
  }
  if (mapped.some((c) => inTable(c, RANDALCAT))) {
    if (mapped.some((c) => inTable(c, LCAT))) return null;
    if (!inTable(mapped[0]!, RANDALCAT) || !inTable(mapped[mapped.length - 1]!, RANDALCAT)) return null;
  }
  return mapped.map((c) => String.fromCodePoint(c)).join('').normalize('NFKC');
}

/** PostgreSQL's behaviour: SASLprep the password; if it is not valid for SASLprep, use it unchanged. */
export function saslprep(password: string): string {
  // Pure ASCII needs no processing (PostgreSQL's fast path, which also keeps ASCII control characters).
  if (/^[\x00-\x7f]*$/.test(password)) return password;
  return prepare(password) ?? password;
}
