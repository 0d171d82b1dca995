/**
 * A set of address ranges answering "is this address inside?" and "does this range touch any of
 * them?" in O(log n): ranges are parsed once into numbers, sorted and merged. IPv4 is a uint32
 * compare on a string parsed without allocating; IPv6 goes through ipaddr.js into a bigint (it is
 * rare on the paths that call this per event, and decisions are rare).
 */
import { parseAddress, parseIpv4 } from '../core/ip.ts';

/** An inclusive numeric range of addresses of one family. */
export type IpRange =
  | { readonly family: 4; readonly start: number; readonly end: number; readonly prefix: number }
  | { readonly family: 6; readonly start: bigint; readonly end: bigint; readonly prefix: number };

export interface CidrSet {
  /** True when the address (IPv4, IPv6, IPv4-mapped IPv6) lies in one of the ranges. False if invalid. */
  has(address: string): boolean;
  /** True when any address of `range` is in the set. */
  overlaps(range: IpRange): boolean;
  /** The entries as given, for messages. */
  readonly entries: readonly string[];
  readonly size: number;
}

/** Parses an address into a one-address range (IPv4-mapped IPv6 becomes IPv4). */
export function addressRange(text: string): IpRange | undefined {
  const v4 = parseIpv4(text);
  if (v4 >= 0) return { family: 4, start: v4, end: v4, prefix: 32 };
  return parseRange(text);
}

/** Parses `a.b.c.d`, `a.b.c.d/n`, `v6`, `v6/n` into a range. Undefined when invalid. */
export function parseRange(text: string): IpRange | undefined {
  const slash = text.indexOf('/');
  const addressText = (slash < 0 ? text : text.slice(0, slash)).trim();
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1).trim();
  const address = parseAddress(addressText);
  if (address === undefined) return undefined;
  const family = address.kind() === 'ipv4' ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText)) return undefined;
    prefix = Number(prefixText);
    // `::ffff:10.0.0.0/104` style: the prefix counted over the IPv6 form.
    if (family === 4 && addressText.includes(':')) {
      if (prefix < 96 || prefix > 128) return undefined;
      prefix -= 96;
    }
    if (prefix > max) return undefined;
  }
  const bytes = address.toByteArray();
  if (family === 4) {
    const [a = 0, b = 0, c = 0, d = 0] = bytes;
    const value = a * 16_777_216 + b * 65_536 + c * 256 + d;
    const size = 2 ** (32 - prefix);
    const start = value - (value % size);
    return { family, start, end: start + size - 1, prefix };
  }
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  const hostBits = BigInt(max - prefix);
  const start = (value >> hostBits) << hostBits;
  const end = start | ((1n << hostBits) - 1n);
  return { family, start, end, prefix };
}

/**
 * A target in the form decisions give it (`formatRange(parseRange(text))`), or undefined when it is
 * not an address or range. A canonical dotted quad, what nearly every stored ban is, is its own form.
 */
export function normalTarget(text: string): string | undefined {
  if (parseIpv4(text) >= 0) return text;
  const range = parseRange(text);
  return range === undefined ? undefined : formatRange(range);
}

/** The text of a range: `203.0.113.7`, `10.0.0.0/8`, `2001:db8:1:2::/64`. Single addresses have no prefix. */
export function formatRange(range: IpRange): string {
  if (range.family === 4) {
    const s = range.start;
    const text = `${Math.floor(s / 16777216)}.${Math.floor(s / 65536) % 256}.${Math.floor(s / 256) % 256}.${s % 256}`;
    return range.prefix === 32 ? text : `${text}/${range.prefix}`;
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n)
    groups.push(((range.start >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const text =
    bestStart < 0
      ? groups.join(':')
      : `${groups.slice(0, bestStart).join(':')}::${groups.slice(bestStart + bestLength).join(':')}`;
  return range.prefix === 128 ? text : `${text}/${range.prefix}`;
}

/** The network of `prefix` bits around a range's first address (e.g. the /64 of an IPv6 address). */
export function widenRange(range: IpRange, prefix: number): IpRange {
  if (range.family === 4) {
    const p = Math.min(prefix, range.prefix);
    const size = 2 ** (32 - p);
    const start = Math.floor(range.start / size) * size;
    return { family: 4, start, end: start + size - 1, prefix: p };
  }
  const p = Math.min(prefix, range.prefix);
  const hostBits = BigInt(128 - p);
  const start = (range.start >> hostBits) << hostBits;
  return { family: 6, start, end: start | ((1n << hostBits) - 1n), prefix: p };
}

/**
 * Builds a set from CIDR or address strings. Invalid entries are returned in `invalid` (the caller
 * decides whether that is a config error); they are not in the set.
 */
export function createCidrSet(entries: readonly string[]): CidrSet & { readonly invalid: readonly string[] } {
  const invalid: string[] = [];
  const v4: [number, number][] = [];
  const v6: [bigint, bigint][] = [];
  for (const entry of entries) {
    const range = parseRange(entry);
    if (range === undefined) invalid.push(entry);
    else if (range.family === 4) v4.push([range.start, range.end]);
    else v6.push([range.start, range.end]);
  }
  const merged4 = merge4(v4);
  const merged6 = merge6(v6);
  const starts4 = Float64Array.from(merged4, (r) => r[0]);
  const ends4 = Float64Array.from(merged4, (r) => r[1]);
  const starts6 = merged6.map((r) => r[0]);
  const ends6 = merged6.map((r) => r[1]);

  const has4 = (x: number): boolean => {
    const i = lastAtOrBelow(starts4, x);
    return i >= 0 && (ends4[i] as number) >= x;
  };
  const has6 = (x: bigint): boolean => {
    const i = lastAtOrBelow(starts6, x);
    return i >= 0 && (ends6[i] as bigint) >= x;
  };

  return {
    entries: [...entries],
    invalid,
    size: merged4.length + merged6.length,
    has(address: string): boolean {
      const x = parseIpv4(address);
      if (x >= 0) return has4(x);
      if (starts4.length === 0 && starts6.length === 0) return false;
      const range = parseRange(address);
      if (range === undefined || range.prefix !== (range.family === 4 ? 32 : 128)) return false;
      return range.family === 4 ? has4(range.start) : has6(range.start);
    },
    overlaps(range: IpRange): boolean {
      if (range.family === 4) {
        const i = lastAtOrBelow(starts4, range.end);
        return i >= 0 && (ends4[i] as number) >= range.start;
      }
      const i = lastAtOrBelow(starts6, range.end);
      return i >= 0 && (ends6[i] as bigint) >= range.start;
    },
  };
}

function merge4(ranges: [number, number][]): [number, number][] {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const range of ranges) {
    const last = out[out.length - 1];
    // Adjacent ranges merge too (10.0.0.0/25 + 10.0.0.128/25).
    if (last !== undefined && range[0] <= last[1] + 1) last[1] = Math.max(last[1], range[1]);
    else out.push([range[0], range[1]]);
  }
  return out;
}

function merge6(ranges: [bigint, bigint][]): [bigint, bigint][] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: [bigint, bigint][] = [];
  for (const range of ranges) {
    const last = out[out.length - 1];
    if (last !== undefined && range[0] <= last[1] + 1n) {
      if (range[1] > last[1]) last[1] = range[1];
    } else {
      out.push([range[0], range[1]]);
    }
  }
  return out;
}

/** Index of the last element <= x in a sorted array, or -1. */
function lastAtOrBelow<T extends number | bigint>(sorted: ArrayLike<T>, x: T): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as T) <= x) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
