/**
 * Allocation-free IP address recognition for the per-line hot path (src/core/ip.ts is the ipaddr.js
 * based helper for everything else). Checks the text in place with charCodeAt; only the returned
 * slice allocates.
 */

const DOT = 46;
const COLON = 58;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

// A sticky regex runs natively: about twice as fast here as a charCodeAt loop over the same text.
const IPV4 = /(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}/y;

/** True when text[start, end) is a dotted-quad IPv4 address (no leading zeros, each part ≤ 255). */
export function isIpv4At(text: string, start: number, end: number): boolean {
  if (end - start < 7 || end - start > 15) return false;
  IPV4.lastIndex = start;
  return IPV4.test(text) && IPV4.lastIndex === end;
}

/**
 * Reads a dotted-quad IPv4 address starting at text[start] (the forms isIpv4At accepts: no leading
 * zeros, each part ≤ 255) and returns the index one past it, or -1. The caller checks what follows.
 * The address's value is left in `scannedIpv4.value`. One pass, no regex, no allocation: for
 * formats that open with the address, it also finds where the address ends.
 */
export function scanIpv4(text: string, start: number): number {
  let i = start;
  let value = 0;
  for (let part = 0; ; part++) {
    let d = text.charCodeAt(i) - 48;
    if (!(d >= 0 && d <= 9)) return -1;
    let octet = d;
    d = text.charCodeAt(++i) - 48;
    if (d >= 0 && d <= 9) {
      if (octet === 0) return -1;
      octet = octet * 10 + d;
      d = text.charCodeAt(++i) - 48;
      if (d >= 0 && d <= 9) {
        octet = octet * 10 + d;
        if (octet > 255) return -1;
        i++;
      }
    }
    value = value * 256 + octet;
    if (part === 3) {
      scannedIpv4.value = value;
      return i;
    }
    if (text.charCodeAt(i) !== DOT) return -1;
    i++;
  }
}

/** scanIpv4's result cell: the address as an unsigned 32-bit integer (read right after the call). */
export const scannedIpv4 = { value: 0 };

/**
 * The IPv4 address of the event a parser built last, as an unsigned 32-bit integer, so that the
 * detection engine need not read the same text again. A parser that read the address with
 * scanIpv4 sets it right after building the event; a reader trusts it only for that very event
 * whose `ip` is still that string (the check is two identity compares on the hot path).
 */
export const lastEventIpv4 = { event: undefined as object | undefined, ip: '', value: 0 };

/** True when text[start, end) is an IPv6 address (RFC 4291 text forms, with an optional dotted-quad tail). */
export function isIpv6At(text: string, start: number, end: number): boolean {
  const length = end - start;
  if (length < 2 || length > 45) return false;
  let groups = 0;
  let doubleColon = false;
  let i = start;
  if (text.charCodeAt(i) === COLON) {
    if (text.charCodeAt(i + 1) !== COLON) return false;
    doubleColon = true;
    i += 2;
    if (i === end) return true; // "::"
  }
  while (i < end) {
    // One group: 1–4 hex digits, or a dotted quad as the last 32 bits.
    const groupStart = i;
    while (i < end && isHex(text.charCodeAt(i))) i++;
    const digits = i - groupStart;
    if (i < end && text.charCodeAt(i) === DOT) {
      if (!isIpv4At(text, groupStart, end)) return false;
      groups += 2;
      break;
    }
    if (digits === 0 || digits > 4) return false;
    groups++;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (text.charCodeAt(i) === COLON) {
      if (doubleColon) return false;
      doubleColon = true;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single colon
    }
  }
  return doubleColon ? groups <= 7 : groups === 8;
}

/** 4, 6, or 0 when text[start, end) is not an address. */
export function ipVersionAt(text: string, start: number, end: number): 0 | 4 | 6 {
  if (isIpv4At(text, start, end)) return 4;
  if (isIpv6At(text, start, end)) return 6;
  return 0;
}

/**
 * The address at text[start, end) as a string, IPv4-mapped IPv6 (`::ffff:192.0.2.1`) unwrapped to
 * IPv4; undefined when it is not an address.
 */
export function ipAt(text: string, start: number, end: number): string | undefined {
  if (end <= start) return undefined;
  const first = text.charCodeAt(start);
  if (first !== COLON && isIpv4At(text, start, end)) return text.slice(start, end);
  if (!isIpv6At(text, start, end)) return undefined;
  // ::ffff:a.b.c.d
  if (
    end - start > 7 &&
    first === COLON &&
    text.charCodeAt(start + 6) === COLON &&
    (text.startsWith('::ffff:', start) || text.startsWith('::FFFF:', start)) &&
    isIpv4At(text, start + 7, end)
  ) {
    return text.slice(start + 7, end);
  }
  return text.slice(start, end);
}

/** ipAt over a whole string (the common case off the hot path). */
export function ipOf(text: string): string | undefined {
  return ipAt(text, 0, text.length);
}

/**
 * Splits `host:port`, `[v6]:port` or `v6:port` (Redis writes IPv6 client addresses both ways) into
 * the address and port. Undefined when the address part is not an IP.
 */
export function splitHostPort(text: string): { ip: string; port: string } | undefined {
  let hostEnd: number;
  if (text.charCodeAt(0) === 91 /* [ */) {
    hostEnd = text.indexOf(']');
    if (hostEnd < 0 || text.charCodeAt(hostEnd + 1) !== COLON) return undefined;
    const ip = ipAt(text, 1, hostEnd);
    return ip === undefined ? undefined : { ip, port: text.slice(hostEnd + 2) };
  }
  hostEnd = text.lastIndexOf(':');
  if (hostEnd <= 0) return undefined;
  const portStart = hostEnd + 1;
  for (let i = portStart; i < text.length; i++) if (!isDigit(text.charCodeAt(i))) return undefined;
  const ip = ipAt(text, 0, hostEnd);
  return ip === undefined ? undefined : { ip, port: text.slice(portStart) };
}
