/**
 * Who the client is: the socket's peer by default; behind trusted proxies, the right-most
 * X-Forwarded-For entry that is not a trusted proxy; in CDN-only mode, CF-Connecting-IP once the
 * edge that handed us the request is a CDN address.
 *
 * Also the one address parser of the gate (the limiter keys on it): IPv4 dotted quads and every
 * IPv6 text form, IPv4-mapped IPv6 unwrapped, parsed into numbers without allocating.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseIpv4At } from '../core/ip.ts';
import { createCidrSet, type CidrSet } from '../decisions/cidr-set.ts';
import { MoatError } from '../core/errors.ts';
import type { ClientIpResolver } from './types.ts';

/** A parsed address. `family` 0 = not an address; 4 = `v4` holds it; 6 = `groups` holds 8 × 16 bits. */
export interface IpScratch {
  family: 0 | 4 | 6;
  v4: number;
  readonly groups: Uint16Array;
}

export function createIpScratch(): IpScratch {
  return { family: 0, v4: 0, groups: new Uint16Array(8) };
}

const DOT = 46;
const COLON = 58;
const DIGIT_0 = 48;
const DIGIT_9 = 57;

function hexValue(c: number): number {
  if (c >= DIGIT_0 && c <= DIGIT_9) return c - DIGIT_0;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/**
 * Parses `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]`, `fe80::1%eth0`, `::ffff:203.0.113.7` (→ IPv4)
 * into `out`. Returns false (and family 0) for anything else, ports included.
 */
export function parseIpInto(text: string, out: IpScratch): boolean {
  out.family = 0;
  let start = 0;
  let end = text.length;
  if (end > 64) return false;
  if (end > 1 && text.charCodeAt(0) === 91 /* [ */) {
    if (text.charCodeAt(end - 1) !== 93 /* ] */) return false;
    start = 1;
    end--;
  }
  const v4 = parseIpv4At(text, start, end);
  if (v4 >= 0) {
    if (start !== 0) return false; // [1.2.3.4] is not an address
    out.family = 4;
    out.v4 = v4;
    return true;
  }
  const percent = text.indexOf('%', start);
  if (percent >= 0 && percent < end) {
    if (percent === end - 1) return false;
    end = percent;
  }
  const groups = out.groups;
  let n = 0;
  let gap = -1;
  let i = start;
  if (end - start < 2) return false;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    gap = 0;
    i += 2;
  }
  while (i < end) {
    let j = i;
    let value = 0;
    while (j < end && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      value = value * 16 + h;
      j++;
    }
    if (j < end && text.charCodeAt(j) === DOT) {
      // An IPv4 tail fills the last 32 bits.
      if (n > 6) return false;
      const tail = parseIpv4At(text, i, end);
      if (tail < 0) return false;
      groups[n++] = tail >>> 16;
      groups[n++] = tail & 0xffff;
      break;
    }
    const digits = j - i;
    if (digits === 0 || digits > 4 || n >= 8) return false;
    groups[n++] = value;
    i = j;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0) {
    if (n !== 8) return false;
  } else {
    if (n > 7) return false;
    const moved = n - gap;
    for (let k = 0; k < moved; k++) groups[7 - k] = groups[n - 1 - k] as number;
    for (let k = gap; k < 8 - moved; k++) groups[k] = 0;
  }
  if (
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  ) {
    out.family = 4;
    out.v4 = (groups[6] as number) * 65536 + (groups[7] as number);
    return true;
  }
  out.family = 6;
  return true;
}

/** The canonical text of a parsed address: a dotted quad, or RFC 5952 IPv6. */
export function formatIp(ip: IpScratch): string {
  if (ip.family === 4) {
    const v = ip.v4;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g = ip.groups;
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => {
    const parts: string[] = [];
    for (let k = from; k < to; k++) parts.push((g[k] as number).toString(16));
    return parts.join(':');
  };
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLength, 8)}`;
}

const scratch = createIpScratch();

/** The canonical text of an address (`::ffff:1.2.3.4` → `1.2.3.4`), or undefined when it is none. */
export function canonicalIp(text: string): string | undefined {
  if (!parseIpInto(text, scratch)) return undefined;
  // The common case, a plain dotted quad, is already canonical.
  if (scratch.family === 4 && text.length <= 15 && text.charCodeAt(0) !== 91) {
    const first = text.charCodeAt(0);
    if (first >= DIGIT_0 && first <= DIGIT_9 && text.indexOf(':') < 0) return text;
  }
  return formatIp(scratch);
}

/**
 * An X-Forwarded-For entry as proxies write it: an address, possibly with a port (`1.2.3.4:5678`,
 * `[2001:db8::1]:443`) or quoted. Undefined when it is not an address (`unknown`, garbage).
 */
export function forwardedAddress(entry: string): string | undefined {
  let text = entry.trim();
  if (text.length > 2 && text.charCodeAt(0) === 34 && text.charCodeAt(text.length - 1) === 34) {
    text = text.slice(1, -1).trim();
  }
  const direct = canonicalIp(text);
  if (direct !== undefined) return direct;
  if (text.charCodeAt(0) === 91) {
    const close = text.indexOf(']');
    if (close > 0 && /^:\d{1,5}$/.test(text.slice(close + 1))) return canonicalIp(text.slice(1, close));
    return undefined;
  }
  const colon = text.indexOf(':');
  if (colon > 0 && colon === text.lastIndexOf(':') && /^\d{1,5}$/.test(text.slice(colon + 1))) {
    const host = text.slice(0, colon);
    return parseIpv4At(host, 0, host.length) >= 0 ? host : undefined;
  }
  return undefined;
}

export interface ClientIpOptions {
  /** CIDRs (or addresses) of proxies whose X-Forwarded-For is believed. */
  readonly trustProxies: readonly string[];
  /** Accept only peers in `cdnRanges`, then take the client from CF-Connecting-IP. */
  readonly cdnOnly: boolean;
  /** The CDN's ranges (CIDR strings); required when cdnOnly. */
  readonly cdnRanges?: readonly string[];
}

/** The gate's resolver: the contract's two questions plus the edge address the CDN check looks at. */
export interface GateClientIpResolver extends ClientIpResolver {
  /**
   * The address that handed the request to our side of the network: the socket's peer, or — when
   * the peer is a trusted proxy — the right-most X-Forwarded-For entry that is not a trusted proxy.
   * In CDN-only mode this must be a CDN address. Canonical text; the socket's text if unparseable.
   */
  edge(socketIp: string, headers: IncomingHttpHeaders): string;
  /** CDN-only mode: whether `edge(...)` is a CDN address. Always true otherwise. */
  edgeIsCdn(edge: string): boolean;
}

function headerValues(value: string | string[] | undefined): string {
  if (value === undefined) return '';
  return typeof value === 'string' ? value : value.join(',');
}

function compileRanges(entries: readonly string[], key: string): CidrSet {
  const set = createCidrSet(entries);
  const bad = set.invalid[0];
  if (bad !== undefined) {
    throw new MoatError('MOAT_CONFIG_INVALID', `${key}: "${bad}" is not an address or CIDR range`, {
      hint: 'Write ranges like 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32.',
    });
  }
  return set;
}

/**
 * Builds the resolver once (CIDR lists compiled into sorted ranges); per request it does a few
 * range lookups and walks X-Forwarded-For from the right. Never throws on request input.
 */
export function createClientIpResolver(options: ClientIpOptions): GateClientIpResolver {
  const trusted = compileRanges(options.trustProxies, 'gate.trustProxies');
  const cdn = options.cdnOnly ? compileRanges(options.cdnRanges ?? [], 'cdn ranges') : undefined;
  if (cdn !== undefined && cdn.size === 0) {
    throw new MoatError('MOAT_CONFIG_INVALID', 'gate.cdnOnly is on but the CDN range list is empty', {
      hint: 'Remove cdn.rangesFile to use the built-in Cloudflare list, or fill the file with ranges.',
    });
  }
  const trustsAny = trusted.size > 0;

  const peerOf = (socketIp: string): string => canonicalIp(socketIp) ?? socketIp;

  /** Right-to-left walk past trusted proxies; returns the first untrusted hop (or the last trusted). */
  const walk = (peer: string, headers: IncomingHttpHeaders): string => {
    if (!trustsAny || !trusted.has(peer)) return peer;
    const list = headerValues(headers['x-forwarded-for']);
    let current = peer;
    let end = list.length;
    while (end > 0) {
      const comma = list.lastIndexOf(',', end - 1);
      const entry = list.slice(comma + 1, end);
      end = comma < 0 ? 0 : comma;
      if (entry.trim() === '') continue;
      const address = forwardedAddress(entry);
      // Garbage where a trusted proxy should have written its peer: stop at the last hop we trust.
      if (address === undefined) return current;
      if (!trusted.has(address)) return address;
      current = address;
    }
    return current;
  };

  return {
    acceptsPeer(socketIp: string): boolean {
      if (cdn === undefined) return true;
      const peer = peerOf(socketIp);
      // A trusted proxy (a load balancer between the CDN and us) may pass; the policy then checks
      // the edge it names in X-Forwarded-For.
      return cdn.has(peer) || trusted.has(peer);
    },
    edge(socketIp: string, headers: IncomingHttpHeaders): string {
      return walk(peerOf(socketIp), headers);
    },
    edgeIsCdn(edge: string): boolean {
      return cdn === undefined || cdn.has(edge);
    },
    resolve(socketIp: string, headers: IncomingHttpHeaders): string {
      const edge = walk(peerOf(socketIp), headers);
      if (cdn === undefined || !cdn.has(edge)) return edge;
      const value = headers['cf-connecting-ip'];
      if (typeof value !== 'string') return edge;
      return canonicalIp(value.trim()) ?? edge;
    },
  };
}
