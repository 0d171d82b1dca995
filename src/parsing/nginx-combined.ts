/**
 * nginx's predefined `combined` access-log format, hand-parsed with indexOf and charCodeAt (no regex,
 * no split, one slice per kept field):
 *
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 *
 * Anything after the user agent (the common `main` format adds `"$http_x_forwarded_for"`) is ignored.
 * `$time_local` is parsed once per distinct second: lines come in time order, so the previous line's
 * timestamp is compared in place before anything is parsed.
 */
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { ipAt, lastEventIpv4, scanIpv4, scannedIpv4 } from './address.ts';
import { makeEvent, type Fields } from './event.ts';
import { requestParts, splitRequest, uintAt, valueAt } from './nginx-http.ts';
import { nginxTimeLocalAt } from './time.ts';
import type { RangeParser } from './types.ts';

const SPACE = 32;
const QUOTE = 34;
const CLOSE_BRACKET = 93;
const DASH = 45;
const OPEN_BRACKET = 91;

/** Three ASCII digits at i as a number, or -1. */
function threeDigitsAt(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  const c = text.charCodeAt(i + 2) - 48;
  if (!(a >= 0 && a <= 9 && b >= 0 && b <= 9 && c >= 0 && c <= 9)) return -1;
  return a * 100 + b * 10 + c;
}

export interface HttpParserOptions {
  readonly service?: string;
  readonly kind?: string;
}

export function createNginxCombinedParser(options: HttpParserOptions = {}): RangeParser {
  const service = options.service ?? 'http';
  const kind = options.kind ?? 'http-request';
  /** The last `$time_local` text read (26 characters; empty until the first line), and two of its digits. */
  let cachedTime = '';
  let cachedMs = 0;
  let cachedSecond = -1;
  let cachedMinute = -1;
  /** parseRange's scan for backslashes: the next one at or after backslashFrom in backslashText (-1: none). */
  let backslashText = '';
  let backslashFrom = 0;
  let backslashAt = -1;

  /** True when text[from, to) holds a backslash; the text is scanned once, as its lines come in order. */
  function backslashIn(text: string, from: number, to: number): boolean {
    if (text !== backslashText || from < backslashFrom || (backslashAt >= 0 && backslashAt < from)) {
      backslashText = text;
      backslashFrom = from;
      backslashAt = text.indexOf('\\', from);
    }
    return backslashAt >= 0 && backslashAt < to;
  }

  /**
   * Reads the line t[start, end) (RangeParser.parseRange; parse() passes the whole text). Every
   * search result at or past `end` counts as not found; single reads may touch t[end] (a line end,
   * or past the text: no character any check below accepts).
   */
  function parseNginxCombinedAt(
    t: string,
    start: number,
    end: number,
    source: string,
  ): ParsedEvent | undefined {
    // Single-character indexOf plus a check of the next characters: multi-character searches cost
    // about three times as much.
    // $remote_addr " - ". An IPv4 address is read and checked in the same pass that finds its end
    // (then the first space is right after it); anything else takes the general path.
    let sp = scanIpv4(t, start);
    const ipv4 = sp > start && t.charCodeAt(sp) === SPACE;
    const ipv4Value = scannedIpv4.value;
    if (!ipv4) {
      sp = t.indexOf(' ', start);
      if (sp >= end) sp = -1;
    }
    if (sp <= start || t.charCodeAt(sp + 1) !== DASH || t.charCodeAt(sp + 2) !== SPACE) return undefined;
    // $remote_user " [": nearly always "-", checked in place.
    const userStart = sp + 3;
    let open: number;
    if (
      t.charCodeAt(userStart) === DASH &&
      t.charCodeAt(userStart + 1) === SPACE &&
      t.charCodeAt(userStart + 2) === OPEN_BRACKET
    ) {
      open = userStart + 2;
    } else {
      open = t.indexOf('[', userStart);
      while (open > 0 && open < end && t.charCodeAt(open - 1) !== SPACE) open = t.indexOf('[', open + 1);
      if (open < 0 || open >= end) return undefined;
    }
    const bracket = open - 1;
    // $time_local: 26 characters, then '] "'
    const ts = open + 1;
    if (
      ts + 28 >= end ||
      t.charCodeAt(ts + 26) !== CLOSE_BRACKET ||
      t.charCodeAt(ts + 27) !== SPACE ||
      t.charCodeAt(ts + 28) !== QUOTE
    ) {
      return undefined;
    }
    // Lines come in time order: compared in place with the last line's time, without a substring
    // (an indexOf that matches at ts is a native compare; cheaper than startsWith at an offset).
    // Two digits first, so that a changed time is seldom searched for further on.
    let at: number;
    if (
      t.charCodeAt(ts + 19) === cachedSecond &&
      t.charCodeAt(ts + 16) === cachedMinute &&
      t.indexOf(cachedTime, ts) === ts
    ) {
      at = cachedMs;
    } else {
      at = nginxTimeLocalAt(t, ts);
      if (Number.isNaN(at)) return undefined;
      cachedTime = t.substring(ts, ts + 26);
      cachedMs = at;
      cachedSecond = t.charCodeAt(ts + 19);
      cachedMinute = t.charCodeAt(ts + 16);
    }
    // "$request" — nginx escapes quotes inside values as \x22, so a quote ends the value.
    const requestStart = ts + 29;
    let requestEnd = t.indexOf('"', requestStart);
    while (requestEnd >= 0 && requestEnd < end && t.charCodeAt(requestEnd + 1) !== SPACE)
      requestEnd = t.indexOf('"', requestEnd + 1);
    if (requestEnd < 0 || requestEnd >= end) return undefined;
    // $status $body_bytes_sent: three digits and a run of digits, read in place; else searched.
    const statusStart = requestEnd + 2;
    let statusEnd = statusStart + 3;
    let status = threeDigitsAt(t, statusStart);
    if (status < 0 || t.charCodeAt(statusEnd) !== SPACE) {
      statusEnd = t.indexOf(' ', statusStart);
      if (statusEnd < 0 || statusEnd >= end) return undefined;
      status = uintAt(t, statusStart, statusEnd);
    }
    const bytesStart = statusEnd + 1;
    let bytesEnd = bytesStart;
    let bytes = 0;
    for (;;) {
      const d = t.charCodeAt(bytesEnd) - 48;
      if (!(d >= 0 && d <= 9)) break;
      bytes = bytes * 10 + d;
      bytesEnd++;
    }
    if (
      bytesEnd === bytesStart ||
      bytesEnd - bytesStart > 15 ||
      t.charCodeAt(bytesEnd) !== SPACE ||
      t.charCodeAt(bytesEnd + 1) !== QUOTE
    ) {
      bytesEnd = t.indexOf(' ', bytesStart);
      while (bytesEnd >= 0 && bytesEnd < end && t.charCodeAt(bytesEnd + 1) !== QUOTE)
        bytesEnd = t.indexOf(' ', bytesEnd + 1);
      if (status < 0 || bytesEnd < 0 || bytesEnd >= end) return undefined;
      bytes = uintAt(t, bytesStart, bytesEnd);
    } else if (status < 0) {
      return undefined;
    }
    // "$http_referer" "$http_user_agent"
    const refererStart = bytesEnd + 2;
    let refererEnd = t.indexOf('"', refererStart);
    while (
      refererEnd >= 0 &&
      refererEnd < end &&
      (t.charCodeAt(refererEnd + 1) !== SPACE || t.charCodeAt(refererEnd + 2) !== QUOTE)
    ) {
      refererEnd = t.indexOf('"', refererEnd + 1);
    }
    if (refererEnd < 0 || refererEnd >= end) return undefined;
    const agentStart = refererEnd + 3;
    const agentEnd = t.indexOf('"', agentStart);
    if (agentEnd < 0 || agentEnd >= end) return undefined;

    // Escapes are rare: one native scan decides whether any value needs undoing (a backslash
    // past the user agent, in fields this parser ignores, changes nothing below).
    const escaped = end === t.length ? t.indexOf('\\', userStart) >= 0 : backslashIn(t, userStart, agentEnd);
    let method: string | undefined;
    let path: string | undefined;
    let fields: Fields | undefined;
    if (
      // `GET target HTTP/x.y` without escapes, the usual request, in place (what splitRequest finds)
      !escaped &&
      t.charCodeAt(requestStart) === 71 &&
      t.charCodeAt(requestStart + 1) === 69 &&
      t.charCodeAt(requestStart + 2) === 84 &&
      t.charCodeAt(requestStart + 3) === SPACE &&
      requestEnd - 9 > requestStart + 4 &&
      t.charCodeAt(requestEnd - 9) === SPACE &&
      t.charCodeAt(requestEnd - 8) === 72 &&
      t.charCodeAt(requestEnd - 5) === 80 &&
      t.charCodeAt(requestEnd - 4) === 47
    ) {
      method = 'GET';
      path = t.slice(requestStart + 4, requestEnd - 9);
    } else {
      splitRequest(t, requestStart, requestEnd, 'default', escaped);
      method = requestParts.method;
      path = requestParts.path;
      if (requestParts.malformed)
        fields = { request: valueAt(t, requestStart, requestEnd, 'default', escaped) ?? '' };
    }
    const ip = ipv4 ? t.slice(start, sp) : ipAt(t, start, sp);
    const event = makeEvent(
      at,
      source,
      service,
      kind,
      ip,
      method,
      path,
      status,
      bytes < 0 ? undefined : bytes,
      valueAt(t, agentStart, agentEnd, 'default', escaped),
      valueAt(t, refererStart, refererEnd, 'default', escaped),
      undefined,
      valueAt(t, userStart, bracket, 'default', escaped),
      fields,
    );
    if (ipv4) {
      lastEventIpv4.event = event;
      lastEventIpv4.ip = ip as string;
      lastEventIpv4.value = ipv4Value;
    }
    return event;
  }

  function parseNginxCombined(line: LogLine): ParsedEvent | undefined {
    const t = line.text;
    return parseNginxCombinedAt(t, 0, t.length, line.source);
  }

  return { format: 'nginx-combined', parse: parseNginxCombined, parseRange: parseNginxCombinedAt };
}
