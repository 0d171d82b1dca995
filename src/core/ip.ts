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

/** Parses an address, unwrapping IPv4-mapped IPv6 (`::ffff:1.2.3.4` → `1.2.3.4`). Undefined if invalid. */
export function parseAddress(text: string): Address | undefined {
  const trimmed = text.trim().replace(/^\[|\]$/g, '');
  const bare = trimmed.includes('%') ? trimmed.slice(0, trimmed.indexOf('%')) : trimmed;
  if (!ipaddr.isValid(bare)) return undefined;
  const parsed = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    return (parsed as ipaddr.IPv6).toIPv4Address();
  }
  // ipaddr.isValid accepts shorthand IPv4 forms like "10" or "0x7f.1"; moat only takes dotted quads.
  if (parsed.kind() === 'ipv4' && !/^\d{1,3}(\.\d{1,3}){3}$/.test(bare)) return undefined;
  return parsed;
}

/** Parses `a.b.c.d/n`, `v6/n`, or a bare address (a /32 or /128). Undefined if invalid. */
export function parseCidr(text: string): Cidr | undefined {
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
