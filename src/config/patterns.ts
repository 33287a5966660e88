// Text forms the config accepts besides units and CIDRs: host:port, object and function patterns, SCRAM verifiers.
// Pure and strict: each parser returns a value or a reason; the reason never repeats a secret (verifiers are not echoed).
import { parseIPv4, parseIPv6 } from './cidr.js';

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

export type HostPortText = { readonly host: string; readonly port: number };

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function validHost(host: string): boolean {
  if (parseIPv4(host) !== null) return true;
  if (host.length > 253) return false;
  const labels = host.split('.');
  if (!labels.every((l) => LABEL.test(l))) return false;
  // A numeric last label makes resolvers read the name as an IPv4 literal ("0x7f.1", "010.0.0.1", "127.1").
  return !/^(?:0x[0-9a-f]*|[0-9]+)$/i.test(labels[labels.length - 1]!);
}

/** "host:port", "[v6]:port", or "host" / "[v6]" when defaultPort is given. IPv6 must be bracketed. */
export function parseHostPort(text: string, defaultPort: number | null, allowPortZero = false): Parsed<HostPortText> {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([0-9]{1,5}))?$/.exec(text);
  const bad = (message: string): Parsed<HostPortText> => ({ ok: false, message });
  if (m === null) {
    return bad(`not host:port: ${JSON.stringify(text)} (write IPv6 addresses in brackets, e.g. [::1]:5433)`);
  }
  const [, v6, name, portText] = m;
  if (v6 !== undefined && parseIPv6(v6) === null) return bad(`not an IPv6 address: ${JSON.stringify(v6)}`);
  if (name !== undefined && !validHost(name)) return bad(`not a host name or IPv4 address: ${JSON.stringify(name)}`);
  if (portText === undefined && defaultPort === null) return bad(`port missing in ${JSON.stringify(text)}`);
  const port = portText === undefined ? defaultPort! : Number(portText);
  if (!(port <= 65535 && (port >= 1 || (allowPortZero && port === 0))) || /^0[0-9]/.test(portText ?? '')) {
    return bad(`bad port in ${JSON.stringify(text)}: must be ${allowPortZero ? 0 : 1}..65535`);
  }
  return { ok: true, value: { host: v6 !== undefined ? v6.toLowerCase() : name!, port } };
}

// One identifier: unquoted (folded to lower case, as PostgreSQL does) or double-quoted with "" for a quote.
const IDENT = String.raw`(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`;
const PART = `(?:${IDENT}|\\*)`;
const QUALIFIED = new RegExp(`^(${PART})\\.(${PART})$`);
const SINGLE = new RegExp(`^(${PART})$`);

/** A pattern part, canonical: "*" (any), a plain lower-case identifier, or a quoted identifier. */
function canonicalPart(part: string): string {
  if (part === '*') return '*';
  if (!part.startsWith('"')) return part.toLowerCase();
  const value = part.slice(1, -1).replace(/""/g, '"');
  return /^[a-z_][a-z0-9_$]*$/.test(value) ? value : `"${value.replace(/"/g, '""')}"`;
}

/** Object patterns: "schema.table", "schema.*" or "*". A bare "table" is refused: which schema would be meant? */
export function parseObjectPattern(text: string): Parsed<string> {
  if (text === '*') return { ok: true, value: '*' };
  const m = QUALIFIED.exec(text);
  if (m === null || m[1] === '*') {
    const hint = SINGLE.test(text) ? '; name the schema, e.g. public.' + text : '';
    return { ok: false, message: `object pattern must be schema.table, schema.* or *: ${JSON.stringify(text)}${hint}` };
  }
  return { ok: true, value: `${canonicalPart(m[1]!)}.${canonicalPart(m[2]!)}` };
}

/** Function patterns: "schema.name", "schema.*", "*", or a bare "name" meaning that name in any schema. */
export function parseFunctionPattern(text: string): Parsed<string> {
  const q = QUALIFIED.exec(text);
  if (q !== null && q[1] !== '*') return { ok: true, value: `${canonicalPart(q[1]!)}.${canonicalPart(q[2]!)}` };
  const s = SINGLE.exec(text);
  if (s !== null) return { ok: true, value: canonicalPart(s[1]!) };
  return { ok: false, message: `function pattern must be schema.name, schema.*, name or *: ${JSON.stringify(text)}` };
}

export const VERIFIER_PATTERN =
  /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*):([A-Za-z0-9+/]+=*)$/;
export const NOT_A_VERIFIER = 'not a SCRAM-SHA-256 verifier';
const MAX_ITERATIONS = 10_000_000;

function strictBase64(text: string): Buffer | null {
  const buf = Buffer.from(text, 'base64');
  return buf.toString('base64') === text ? buf : null;
}

/** pg_authid's "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>", keys 32 bytes each. */
export function isScramVerifier(text: string): boolean {
  const m = VERIFIER_PATTERN.exec(text);
  if (m === null) return false;
  const iterations = Number(m[1]);
  if (!(iterations >= 1 && iterations <= MAX_ITERATIONS)) return false;
  const salt = strictBase64(m[2]!);
  const stored = strictBase64(m[3]!);
  const server = strictBase64(m[4]!);
  return salt !== null && salt.length > 0 && stored?.length === 32 && server?.length === 32;
}
