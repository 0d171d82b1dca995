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
import { ipAt } from './address.ts';
import { makeEvent } from './event.ts';
import { requestParts, splitRequest, uintAt, valueAt } from './nginx-http.ts';
import { nginxTimeLocalAt } from './time.ts';
import type { Parser } from './types.ts';

const SPACE = 32;
const QUOTE = 34;
const CLOSE_BRACKET = 93;
const DASH = 45;

export interface HttpParserOptions {
  readonly service?: string;
  readonly kind?: string;
}

export function createNginxCombinedParser(options: HttpParserOptions = {}): Parser {
  const service = options.service ?? 'http';
  const kind = options.kind ?? 'http-request';
  let cachedTime = '';
  let cachedMs = 0;

  function parseNginxCombined(line: LogLine): ParsedEvent | undefined {
    const t = line.text;
    // Single-character indexOf plus a check of the next characters: multi-character searches cost
    // about three times as much.
    // $remote_addr " - "
    const sp = t.indexOf(' ');
    if (sp <= 0 || t.charCodeAt(sp + 1) !== DASH || t.charCodeAt(sp + 2) !== SPACE) return undefined;
    // $remote_user " ["
    const userStart = sp + 3;
    let open = t.indexOf('[', userStart);
    while (open > 0 && t.charCodeAt(open - 1) !== SPACE) open = t.indexOf('[', open + 1);
    if (open < 0) return undefined;
    const bracket = open - 1;
    // $time_local: 26 characters, then '] "'
    const ts = open + 1;
    if (
      t.charCodeAt(ts + 26) !== CLOSE_BRACKET ||
      t.charCodeAt(ts + 27) !== SPACE ||
      t.charCodeAt(ts + 28) !== QUOTE
    ) {
      return undefined;
    }
    // One substring and a string compare per line (cheaper than startsWith at an offset).
    const time = t.substring(ts, ts + 26);
    let at: number;
    if (time === cachedTime) {
      at = cachedMs;
    } else {
      at = nginxTimeLocalAt(t, ts);
      if (Number.isNaN(at)) return undefined;
      cachedTime = time;
      cachedMs = at;
    }
    // "$request" — nginx escapes quotes inside values as \x22, so a quote ends the value.
    const requestStart = ts + 29;
    let requestEnd = t.indexOf('"', requestStart);
    while (requestEnd >= 0 && t.charCodeAt(requestEnd + 1) !== SPACE)
      requestEnd = t.indexOf('"', requestEnd + 1);
    if (requestEnd < 0) return undefined;
    // $status $body_bytes_sent
    const statusStart = requestEnd + 2;
    const statusEnd = t.indexOf(' ', statusStart);
    if (statusEnd < 0) return undefined;
    const status = uintAt(t, statusStart, statusEnd);
    const bytesStart = statusEnd + 1;
    let bytesEnd = t.indexOf(' ', bytesStart);
    while (bytesEnd >= 0 && t.charCodeAt(bytesEnd + 1) !== QUOTE) bytesEnd = t.indexOf(' ', bytesEnd + 1);
    if (status < 0 || bytesEnd < 0) return undefined;
    const bytes = uintAt(t, bytesStart, bytesEnd);
    // "$http_referer" "$http_user_agent"
    const refererStart = bytesEnd + 2;
    let refererEnd = t.indexOf('"', refererStart);
    while (
      refererEnd >= 0 &&
      (t.charCodeAt(refererEnd + 1) !== SPACE || t.charCodeAt(refererEnd + 2) !== QUOTE)
    ) {
      refererEnd = t.indexOf('"', refererEnd + 1);
    }
    if (refererEnd < 0) return undefined;
    const agentStart = refererEnd + 3;
    const agentEnd = t.indexOf('"', agentStart);
    if (agentEnd < 0) return undefined;

    // Escapes are rare: one native scan of the line decides whether any value needs undoing.
    const escaped = t.indexOf('\\', userStart) >= 0;
    splitRequest(t, requestStart, requestEnd, 'default', escaped);
    const fields = requestParts.malformed
      ? { request: valueAt(t, requestStart, requestEnd, 'default', escaped) ?? '' }
      : undefined;
    return makeEvent(
      at,
      line.source,
      service,
      kind,
      ipAt(t, 0, sp),
      requestParts.method,
      requestParts.path,
      status,
      bytes < 0 ? undefined : bytes,
      valueAt(t, agentStart, agentEnd, 'default', escaped),
      valueAt(t, refererStart, refererEnd, 'default', escaped),
      undefined,
      valueAt(t, userStart, bracket, 'default', escaped),
      fields,
    );
  }

  return { format: 'nginx-combined', parse: parseNginxCombined };
}
