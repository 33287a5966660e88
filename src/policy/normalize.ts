// Two scanners over SQL text: a deliberately conservative one that builds literal-blind cache keys (null when in any
// doubt), and a lenient one that redacts every literal for logs. Neither decides access; both assume
// standard_conforming_strings=on, which the policy pins (it is a protected parameter).

export type Literal = { readonly start: number; readonly end: number; readonly kind: 'string' | 'integer' | 'number' };
export type Normalized = { readonly key: string; readonly literals: readonly Literal[] };

const IDENT_START = /[A-Za-z_]/;
const IDENT_CHAR = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;
// Characters copied verbatim into the key. Everything else (backslash, $, non-ASCII, controls, `) means "don't know".
const PLAIN = new Set([...' \t\n\r(),;[].:+-*/<>=~!@#%^&|?{}']);

/**
 * A cache key in which string and numeric literals are replaced by `$s`/`$i`/`$n` (a `$` never survives in the input,
 * so keys cannot collide with real text). Returns null for any text the scanner does not fully understand.
 */
export function normalizeForCache(sql: string): Normalized | null {
  // Outside printable ASCII (client_encoding tricks, Unicode), a backslash or a `$` anywhere: not understood.
  if (/[^\t\n\r\x20-\x7e]|[\\$]/.test(sql)) return null;
  const literals: Literal[] = [];
  let key = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i] as string;
    const code = sql.charCodeAt(i);
    if (code > 0x7e || (code < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r')) return null;
    if (ch === "'") {
      const end = scanQuoted(sql, i, "'");
      if (end < 0) return null;
      const next = sql[end];
      if (next !== undefined && !PLAIN.has(next) && next !== '"' && !IDENT_CHAR.test(next)) return null;
      literals.push({ start: i, end, kind: 'string' });
      key += '$s';
      i = end;
      continue;
    }
    if (ch === '"') {
      const end = scanQuoted(sql, i, '"');
      if (end < 0) return null;
      key += sql.slice(i, end);
      i = end;
      continue;
    }
    if (IDENT_START.test(ch)) {
      let j = i + 1;
      while (j < n && IDENT_CHAR.test(sql[j] as string)) j++;
      const next = sql[j];
      // E'..', B'..', X'..', N'..', typed 'literal' glued to a word, U&'..' / U&".." escapes: not understood.
      if (next === "'" || (next === '&' && j === i + 1 && (ch === 'u' || ch === 'U'))) return null;
      key += sql.slice(i, j);
      i = j;
      continue;
    }
    if (DIGIT.test(ch) || (ch === '.' && DIGIT.test(sql[i + 1] ?? ''))) {
      let j = i;
      while (j < n && DIGIT.test(sql[j] as string)) j++;
      if (sql[j] === '.') {
        if (!DIGIT.test(sql[j + 1] ?? '')) return null; // `1.` and `1..2` forms: leave to the exact-text cache
        j++;
        while (j < n && DIGIT.test(sql[j] as string)) j++;
      }
      const next = sql[j];
      if (next !== undefined && (IDENT_CHAR.test(next) || next === '.' || next === "'" || next === '"')) return null; // 1e5, 0x1f, 1abc
      // The grammar accepts only integer tokens in places (varchar(10), FETCH 10); PostgreSQL lexes an integer
      // beyond int32 as a float token. So the key keeps the token class: $i (int32 integer) or $n (other number).
      const text = sql.slice(i, j);
      const isInt = /^[0-9]+$/.test(text) && Number(text) <= 2147483647;
      literals.push({ start: i, end: j, kind: isInt ? 'integer' : 'number' });
      key += isInt ? '$i' : '$n';
      i = j;
      continue;
    }
    if ((ch === '-' && sql[i + 1] === '-') || (ch === '/' && sql[i + 1] === '*')) return null; // comments
    if (!PLAIN.has(ch)) return null;
    key += ch;
    i++;
  }
  return { key, literals };
}

/** End index (exclusive) of a quoted token starting at `start`, with doubled quotes; -1 if unterminated. */
function scanQuoted(sql: string, start: number, q: string): number {
  const end = scanQuotedLenient(sql, start, q);
  if (end < 0) return -1;
  return sql.slice(start + 1, end - 1).includes('\\') ? -1 : end;
}

/** The text with literals as $1, $2, ... (for the differential tests and explain output). */
export function toParamForm(sql: string, literals: readonly Literal[]): string {
  let out = '';
  let at = 0;
  literals.forEach((l, k) => {
    out += sql.slice(at, l.start) + `$${k + 1}`;
    at = l.end;
  });
  return out + sql.slice(at);
}

/**
 * Redacts SQL for logs: every string, dollar-quoted, bit/hex/escape string and number becomes `?`, comments are
 * dropped, and after anything unterminated the rest of the text becomes `?`. Quoted identifiers are kept.
 */
export function redactSql(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const ch = sql[i] as string;
    const rest = sql.slice(i, i + 3);
    if (ch === '-' && sql[i + 1] === '-') {
      const j = sql.indexOf('\n', i);
      out += ' ';
      if (j < 0) break;
      i = j;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const j = blockCommentEnd(sql, i);
      out += ' ';
      if (j < 0) break;
      i = j;
      continue;
    }
    const prefixed = /^(?:[eE]'|[bBxXnN]'|[uU]&')/.exec(rest);
    if (ch === "'" || prefixed) {
      const q = sql.indexOf("'", i);
      const escapes = prefixed !== null && (ch === 'e' || ch === 'E');
      const end = redactStringEnd(sql, q, escapes);
      out += '?';
      if (end < 0) return out;
      i = end;
      continue;
    }
    if (ch === '"') {
      const end = scanQuotedLenient(sql, i, '"');
      if (end < 0) return `${out}?`;
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (ch === '$') {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (m && !(i > 0 && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[i - 1] as string))) {
        const close = sql.indexOf(m[0], i + m[0].length);
        out += '?';
        if (close < 0) return out;
        i = close + m[0].length;
        continue;
      }
      const p = /^\$[0-9]+/.exec(sql.slice(i));
      if (p) {
        out += p[0];
        i += p[0].length;
        continue;
      }
    }
    if (/[A-Za-z_\u0080-\uffff]/.test(ch)) {
      const m = /^[A-Za-z0-9_$\u0080-\uffff]+/.exec(sql.slice(i)) as RegExpExecArray;
      out += m[0];
      i += m[0].length;
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^[0-9A-Za-z_.]+(?:[eE][+-][0-9]+)?/.exec(sql.slice(i)) as RegExpExecArray;
      out += '?';
      i += m[0].length;
      continue;
    }
    out += ch;
    i++;
  }
  return out;
}

function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql.startsWith('/*', i)) {
      depth++;
      i += 2;
    } else if (sql.startsWith('*/', i)) {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else i++;
  }
  return -1;
}

function redactStringEnd(sql: string, quote: number, escapes: boolean): number {
  let i = quote + 1;
  while (i < sql.length) {
    const c = sql[i];
    if (escapes && c === '\\') {
      i += 2;
      continue;
    }
    if (c === "'") {
      if (sql[i + 1] === "'") {
        i += 2;
        continue;
      }
      // 'a'\n'b' continues the same literal in PostgreSQL: swallow the continuation too.
      const m = /^'[ \t\r\f]*\n[ \t\r\n\f]*'/.exec(sql.slice(i));
      if (m) {
        i += m[0].length;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return -1;
}

function scanQuotedLenient(sql: string, start: number, q: string): number {
  let i = start + 1;
  for (;;) {
    const j = sql.indexOf(q, i);
    if (j < 0) return -1;
    if (sql[j + 1] === q) {
      i = j + 2;
      continue;
    }
    return j + 1;
  }
}
