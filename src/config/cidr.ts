// Strict CIDR parsing for allow lists, and the allow-list check itself (net.BlockList used as an allow list).
// Refuses every ambiguous form (octal/hex/short IPv4, host bits set, zone ids) rather than guessing what was meant.
import net from 'node:net';

export type IpFamily = 'ipv4' | 'ipv6';
export type Cidr = { readonly address: string; readonly prefix: number; readonly family: IpFamily };

export class CidrError extends Error {
  override readonly name = 'CidrError';
}

// Four decimal octets 0..255 without leading zeros: "010.0.0.1" (octal in inet_aton) and "0x7f.1" never match.
const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** Dotted-decimal IPv4 to 4 bytes, or null when not in the strict form. */
export function parseIPv4(text: string): Buffer | null {
  if (!IPV4.test(text)) return null;
  return Buffer.from(text.split('.').map(Number));
}

/** IPv6 text (as net.isIPv6 accepts, without zone id) to 16 bytes, or null. */
export function parseIPv6(text: string): Buffer | null {
  if (text.includes('%') || !net.isIPv6(text)) return null;
  let s = text.toLowerCase();
  const lastColon = s.lastIndexOf(':');
  const maybeV4 = s.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    // An embedded IPv4 tail ("::ffff:10.1.2.3") becomes two hex words.
    const v4 = parseIPv4(maybeV4);
    if (v4 === null) return null;
    s = `${s.slice(0, lastColon + 1)}${v4.readUInt16BE(0).toString(16)}:${v4.readUInt16BE(2).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const words = (part: string | undefined): number[] =>
    part === undefined || part === '' ? [] : part.split(':').map((w) => parseInt(w, 16));
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  const fill = 8 - head.length - rest.length;
  if (halves.length === 1 ? fill !== 0 : fill < 0) return null;
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...rest];
  if (all.length !== 8 || all.some((w) => !(w >= 0 && w <= 0xffff))) return null;
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

function hostBitsSet(bytes: Buffer, prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return true;
  }
  return false;
}

function isV4Mapped(bytes: Buffer): boolean {
  return bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
}

/** "10.0.0.0/8", "::1/128" or a bare address (/32 or /128). Throws CidrError with a reason. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addr = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? null : text.slice(slash + 1);
  const v4 = parseIPv4(addr);
  const v6 = v4 === null ? parseIPv6(addr) : null;
  if (v4 === null && v6 === null) {
    throw new CidrError(`not an IP address or CIDR: ${JSON.stringify(text)} (IPv4 must be four decimal numbers)`);
  }
  const family: IpFamily = v4 !== null ? 'ipv4' : 'ipv6';
  const bytes = (v4 ?? v6)!;
  const max = bytes.length * 8;
  let prefix = max;
  if (prefixText !== null) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > max) {
      throw new CidrError(`bad prefix length in ${JSON.stringify(text)}: must be 0..${max}`);
    }
    prefix = Number(prefixText);
  }
  if (family === 'ipv6' && isV4Mapped(bytes)) {
    throw new CidrError(`write IPv4-mapped IPv6 ranges as IPv4: ${JSON.stringify(text)}`);
  }
  if (hostBitsSet(bytes, prefix)) {
    throw new CidrError(`host bits set in ${JSON.stringify(text)}: the address must be the network address`);
  }
  return { address: addr.toLowerCase(), prefix, family };
}

/** An allow list from already validated CIDRs; throws CidrError on a bad one. */
export function buildBlockList(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const text of cidrs) {
    const c = parseCidr(text);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return list;
}

/**
 * Is the address inside the list? IPv4-mapped IPv6 ("::ffff:10.1.2.3", as a dual-stack socket reports an
 * IPv4 client) is checked as IPv4: BlockList.check does not match such an address against IPv4 subnets.
 * An address that does not parse is never allowed.
 */
export function addressAllowed(list: net.BlockList, address: string, family: 'IPv4' | 'IPv6' | string): boolean {
  void family; // the family is derived from the address itself, which cannot disagree with it
  const v4 = parseIPv4(address);
  if (v4 !== null) return list.check(address, 'ipv4');
  const v6 = parseIPv6(address);
  if (v6 === null) return false;
  if (isV4Mapped(v6)) return list.check(Array.from(v6.subarray(12)).join('.'), 'ipv4');
  return list.check(address, 'ipv6');
}
