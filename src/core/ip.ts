/**
 * IP and CIDR helpers built on ipaddr.js. Pure.
 */
import ipaddr from 'ipaddr.js';

export type Address = ipaddr.IPv4 | ipaddr.IPv6;

export interface Cidr {
  readonly address: Address;
  readonly prefix: number;
  /** Normalised text, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
}

const DIGIT_0 = 48;
const DIGIT_9 = 57;
const DOT = 46;

/**
 * Parses a dotted quad into a uint32 without allocating; -1 when the text is not exactly one.
 * Leading zeros (`010.0.0.1`) are refused: some tools read them as octal.
 */
export function parseIpv4(text: string): number {
  return parseIpv4At(text, 0, text.length);
}

/** parseIpv4 of text[start, end), for readers that scan a longer text (headers, log lines). */
export function parseIpv4At(text: string, start: number, end: number): number {
  const length = end - start;
  if (length < 7 || length > 15) return -1;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= DIGIT_0 && c <= DIGIT_9) {
      if (digits === 1 && octet === 0) return -1;
      octet = octet * 10 + (c - DIGIT_0);
      digits++;
      if (octet > 255) return -1;
    } else if (c === DOT) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

const ipv4Of = (value: number) =>
  new ipaddr.IPv4([value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255]);

/**
 * Parses an address, unwrapping IPv4-mapped IPv6 (`::ffff:1.2.3.4` → `1.2.3.4`). Undefined if invalid.
 * IPv4 is taken only as a canonical dotted quad: `010.0.0.1` is refused rather than read as octal
 * (8.0.0.1, as ipaddr.js and inet_aton do) or as decimal (10.0.0.1, as others do); a trust list or a
 * ban that two readers take for different hosts is worse than an error. Shorthands (`10`, `0x7f.1`)
 * are refused too.
 */
export function parseAddress(text: string): Address | undefined {
  const value = parseIpv4(text);
  if (value >= 0) return ipv4Of(value);
  const trimmed = text.trim().replace(/^\[|\]$/g, '');
  const bare = trimmed.includes('%') ? trimmed.slice(0, trimmed.indexOf('%')) : trimmed;
  const quad = parseIpv4(bare);
  if (quad >= 0) return ipv4Of(quad);
  // An IPv6 address may end in a dotted quad (`::ffff:1.2.3.4`): that one must be canonical too.
  const colon = bare.lastIndexOf(':');
  if (colon < 0 || (bare.includes('.', colon) && parseIpv4At(bare, colon + 1, bare.length) < 0)) {
    return undefined;
  }
  if (!ipaddr.IPv6.isValid(bare)) return undefined;
  const parsed = ipaddr.IPv6.parse(bare);
  return parsed.isIPv4MappedAddress() ? parsed.toIPv4Address() : parsed;
}

/**
 * For an error message: why `text` was refused, when it is a dotted quad written with a leading zero
 * (`010.0.0.1`, `10.0.0.01/32`); undefined for anything else.
 */
export function leadingZeroProblem(text: string): string | undefined {
  const quad = /(?:^|:)(\d{1,3}(?:\.\d{1,3}){3})(?:\/\d+)?$/.exec(text.trim().replace(/^\[|\]$/g, ''))?.[1];
  if (quad === undefined || !/(?:^|\.)0\d/.test(quad)) return undefined;
  return `${quad} has a leading zero, which some tools read as octal (010 = 8) and others as decimal: write ${quad.replace(/(^|\.)0+(?=\d)/g, '$1')} if that is what you mean`;
}

/** Parses `a.b.c.d/n`, `v6/n`, or a bare address (a /32 or /128). Undefined if invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const value = parseIpv4(text);
  if (value >= 0) return { address: ipv4Of(value), prefix: 32, text: `${text}/32` };
  const [addrText, prefixText, extra] = text.trim().split('/');
  if (addrText === undefined || extra !== undefined) return undefined;
  const address = parseAddress(addrText);
  if (!address) return undefined;
  const max = address.kind() === 'ipv4' ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    if (prefix > max) return undefined;
  }
  const network = networkOf(address, prefix);
  return { address: network, prefix, text: `${network.toString()}/${prefix}` };
}

function networkOf(address: Address, prefix: number): Address {
  if (address.kind() === 'ipv4') {
    return ipaddr.IPv4.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
  }
  return ipaddr.IPv6.networkAddressFromCIDR(`${address.toString()}/${prefix}`);
}

export function cidrContains(cidr: Cidr, address: Address): boolean {
  if (cidr.address.kind() !== address.kind()) return false;
  return address.match([cidr.address, cidr.prefix] as [Address, number]);
}

/** True when `outer` contains all of `inner`. */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.prefix <= inner.prefix && cidrContains(outer, inner.address);
}

export type AddressScope = 'loopback' | 'private' | 'public' | 'any';

/**
 * Where an address (as a bind address or a source range) reaches:
 * `any` for 0.0.0.0 and ::, `loopback`, `private` (RFC 1918, CGNAT, link-local, ULA), else `public`.
 */
export function scopeOf(address: Address): AddressScope {
  const range = address.range();
  if (range === 'unspecified') return 'any';
  if (range === 'loopback') return 'loopback';
  if (['private', 'carrierGradeNat', 'linkLocal', 'uniqueLocal'].includes(range)) return 'private';
  return 'public';
}

export function isLoopback(address: Address): boolean {
  return address.range() === 'loopback';
}

/** The scope of a CIDR used as a *source* in a firewall rule or trust list. */
export function cidrScope(cidr: Cidr): AddressScope {
  if (cidr.prefix === 0) return 'any';
  const scope = scopeOf(cidr.address);
  // A short prefix starting in a private block can still spill into public space (e.g. 10.0.0.0/4).
  if (scope !== 'public' && cidr.prefix < 8 && cidr.address.kind() === 'ipv4') return 'public';
  return scope === 'any' ? 'public' : scope;
}
