/**
 * A parser compiled from a pasted nginx `log_format` directive. The format becomes a list of
 * variables, each followed by the literal text that ends it; matching a line is one indexOf per
 * variable (fixed-width ones, `$time_local` and `$time_iso8601`, are taken by length), then known
 * variables fill the event's typed fields and the rest go to `fields` under their nginx names.
 *
 *   log_format main '$remote_addr - $remote_user [$time_local] "$request" '
 *                   '$status $body_bytes_sent "$http_referer" '
 *                   '"$http_user_agent" "$http_x_forwarded_for" $request_time';
 *
 * Values that may hold the literal that follows them (spaces, commas) must be quoted in the format,
 * as nginx's own formats do; nginx escapes quotes inside values, so a quote always ends one.
 */

import { MoatError } from '../core/errors.ts';
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { ipAt } from './address.ts';
import { type Fields, makeEvent } from './event.ts';
import type { HttpParserOptions } from './nginx-combined.ts';
import { type Escaping, requestParts, splitRequest, uintAt, valueAt } from './nginx-http.ts';
import { nginxTimeLocalAt, parseTimestamp, type TimeContext } from './time.ts';
import type { Parser } from './types.ts';

/** nginx's predefined format, so `logFormat: combined` works and the two parsers can be compared. */
export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

// What a variable feeds. Numbers, not an enum: sources run through type stripping.
const FIELD = 0;
const IP = 1;
const TIME_LOCAL = 2;
const TIME_OTHER = 3;
const REQUEST = 4;
const METHOD = 5;
const PATH = 6;
const STATUS = 7;
const BYTES = 8;
const REFERER = 9;
const USER_AGENT = 10;
const HOST = 11;
const USER = 12;

/** Known nginx variables in order of preference for each event field (the first present wins). */
const PREFERENCES: ReadonlyArray<readonly [number, readonly string[]]> = [
  [IP, ['remote_addr', 'realip_remote_addr']],
  [TIME_LOCAL, ['time_local']],
  [TIME_OTHER, ['msec', 'time_iso8601']],
  [REQUEST, ['request']],
  [METHOD, ['request_method']],
  [PATH, ['request_uri', 'uri']],
  [STATUS, ['status']],
  [BYTES, ['body_bytes_sent', 'bytes_sent']],
  [REFERER, ['http_referer']],
  [USER_AGENT, ['http_user_agent']],
  [HOST, ['host', 'http_host']],
  [USER, ['remote_user']],
];

const FIXED_WIDTH: Readonly<Record<string, number>> = { time_local: 26, time_iso8601: 25 };

export interface CompiledLogFormat {
  readonly escapes: Escaping;
  /** Literal text before the first variable. */
  readonly lead: string;
  readonly names: readonly string[];
  /** The literal after each variable ('' only for a variable that ends the format). */
  readonly after: readonly string[];
  readonly roles: readonly number[];
  readonly widths: readonly number[];
}

function invalid(message: string): MoatError {
  return new MoatError('MOAT_CONFIG_INVALID', `logFormat: ${message}`, {
    hint: 'Paste the whole directive, e.g. log_format main \'$remote_addr - $remote_user [$time_local] "$request" ...\';',
  });
}

/** Splits nginx directive arguments: whitespace-separated words, '…' and "…" strings with \-escapes, up to `;`. */
function directiveWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === ';') break;
    if (c === '#') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    let word = '';
    if (c === "'" || c === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const d = text[i];
        if (d === '\\' && i + 1 < n) {
          const e = text[i + 1];
          word +=
            e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : e === c || e === '\\' ? e : `\\${e}`;
          i += 2;
          continue;
        }
        if (d === c) {
          closed = true;
          i++;
          break;
        }
        word += d;
        i++;
      }
      if (!closed) throw invalid(`unterminated ${c} string`);
    } else {
      while (i < n && !' \t\n\r;'.includes(text[i] ?? ' ')) {
        word += text[i];
        i++;
      }
    }
    words.push(word);
  }
  return words;
}

/** The format string and escaping from a pasted directive, its quoted strings, or bare format text. */
export function readLogFormat(pasted: string): { format: string; escapes: Escaping } {
  const text = pasted.trim();
  if (text === '') throw invalid('is empty');
  if (text === 'combined') return { format: COMBINED_FORMAT, escapes: 'default' };
  let words: string[];
  if (/^log_format\s/.test(text)) {
    words = directiveWords(text).slice(2); // drop `log_format` and the format's name
  } else if (text.startsWith("'") || text.startsWith('"') || text.startsWith('escape=')) {
    words = directiveWords(text);
  } else {
    return { format: text, escapes: 'default' };
  }
  let escapes: Escaping = 'default';
  const first = words[0];
  if (first?.startsWith('escape=')) {
    const value = first.slice('escape='.length);
    if (value !== 'default' && value !== 'json' && value !== 'none') {
      throw invalid(`escape=${value} is not default, json or none`);
    }
    escapes = value;
    words.shift();
  }
  if (words.length === 0) throw invalid('the directive has no format string');
  return { format: words.join(''), escapes };
}

/** Compiles a format string into literal/variable steps. Throws MOAT_CONFIG_INVALID when it cannot be matched. */
export function compileLogFormat(format: string, escapes: Escaping = 'default'): CompiledLogFormat {
  const names: string[] = [];
  const literals: string[] = [];
  let literal = '';
  let i = 0;
  while (i < format.length) {
    const c = format.charAt(i);
    if (c === '$') {
      let name: string;
      let end = i + 1;
      if (format.charAt(i + 1) === '{') {
        const close = format.indexOf('}', i + 2);
        if (close < 0) throw invalid(`unterminated \${ at position ${i}`);
        name = format.slice(i + 2, close);
        end = close + 1;
      } else {
        while (end < format.length && /[A-Za-z0-9_]/.test(format.charAt(end))) end++;
        name = format.slice(i + 1, end);
      }
      if (name === '') {
        literal += '$';
        i++;
        continue;
      }
      literals.push(literal);
      literal = '';
      names.push(name);
      i = end;
      continue;
    }
    literal += c;
    i++;
  }
  literals.push(literal);
  if (names.length === 0) throw invalid('the format has no $variables');
  const lead = literals[0] ?? '';
  const after = literals.slice(1);
  const widths = names.map((name) => FIXED_WIDTH[name] ?? 0);
  for (let k = 0; k < names.length - 1; k++) {
    if (after[k] === '' && widths[k] === 0) {
      throw invalid(
        `$${names[k]} is followed directly by $${names[k + 1]}: with nothing between them a line cannot be split`,
      );
    }
  }
  const roles = names.map(() => FIELD);
  for (const [role, candidates] of PREFERENCES) {
    for (const candidate of candidates) {
      const index = names.indexOf(candidate);
      if (index >= 0) {
        roles[index] = role;
        break;
      }
    }
  }
  return { escapes, lead, names, after, roles, widths };
}

export function createNginxLogFormatParser(
  logFormat: string,
  ctx: TimeContext,
  options: HttpParserOptions = {},
): Parser {
  const read = readLogFormat(logFormat);
  const compiled = compileLogFormat(read.format, read.escapes);
  const { escapes, lead, names, after, roles, widths } = compiled;
  const count = names.length;
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  const service = options.service ?? 'http';
  const kind = options.kind ?? 'http-request';
  const firsts = after.map((literal) => literal.charAt(0));
  const codes = after.map((literal) => Array.from(literal, (c) => c.charCodeAt(0)));

  /** True when the literal after variable k starts at text[at] (its first character already matched when found by indexOf). */
  function literalAt(text: string, at: number, k: number): boolean {
    const want = codes[k] as number[];
    for (let j = 0; j < want.length; j++) if (text.charCodeAt(at + j) !== want[j]) return false;
    return true;
  }

  let cachedTime = '';
  let cachedMs = 0;
  let cachedOther = '';
  let cachedOtherMs = Number.NaN;

  function parseNginxLogFormat(line: LogLine): ParsedEvent | undefined {
    const t = line.text;
    const n = t.length;
    let pos = 0;
    if (lead !== '') {
      if (!t.startsWith(lead)) return undefined;
      pos = lead.length;
    }
    for (let k = 0; k < count; k++) {
      const literal = after[k] as string;
      const width = widths[k] as number;
      let end: number;
      if (width > 0) {
        end = pos + width;
        if (end > n || (literal !== '' && !literalAt(t, end, k))) return undefined;
      } else if (literal === '') {
        end = n;
      } else {
        // The literal's first character with a native single-character indexOf, the rest compared
        // in place: about three times cheaper than indexOf of the whole literal.
        end = t.indexOf(firsts[k] as string, pos);
        while (end >= 0 && !literalAt(t, end, k)) end = t.indexOf(firsts[k] as string, end + 1);
        if (end < 0) return undefined;
      }
      starts[k] = pos;
      ends[k] = end;
      pos = end + literal.length;
    }

    // Escapes are rare: one native scan of the line decides whether any value needs undoing.
    const escaped = escapes !== 'none' && t.indexOf('\\') >= 0;
    let at = line.readAtMs;
    let ip: string | undefined;
    let method: string | undefined;
    let path: string | undefined;
    let status: number | undefined;
    let bytes: number | undefined;
    let referer: string | undefined;
    let userAgent: string | undefined;
    let host: string | undefined;
    let user: string | undefined;
    let fields: Fields | undefined;
    let requestSeen = false;
    for (let k = 0; k < count; k++) {
      const s = starts[k] as number;
      const e = ends[k] as number;
      switch (roles[k]) {
        case IP:
          ip = ipAt(t, s, e);
          break;
        case TIME_LOCAL:
          {
            const time = t.substring(s, s + 26);
            if (time === cachedTime) {
              at = cachedMs;
            } else {
              at = nginxTimeLocalAt(t, s);
              if (Number.isNaN(at)) return undefined;
              cachedTime = time;
              cachedMs = at;
            }
          }
          break;
        case TIME_OTHER:
          {
            const time = t.substring(s, e);
            if (time !== cachedOther) {
              cachedOther = time;
              cachedOtherMs = parseTimestamp(ctx, time);
            }
            at = cachedOtherMs;
            if (Number.isNaN(at)) return undefined;
          }
          break;
        case REQUEST:
          requestSeen = true;
          splitRequest(t, s, e, escapes, escaped);
          method ??= requestParts.method;
          path ??= requestParts.path;
          if (requestParts.malformed) {
            fields ??= {};
            fields['request'] = valueAt(t, s, e, escapes, escaped) ?? '';
          }
          break;
        case METHOD:
          method = valueAt(t, s, e, escapes, escaped);
          break;
        case PATH:
          if (!requestSeen || path === undefined) path = valueAt(t, s, e, escapes, escaped);
          break;
        case STATUS: {
          const value = uintAt(t, s, e);
          if (value < 0) return undefined;
          status = value;
          break;
        }
        case BYTES: {
          const value = uintAt(t, s, e);
          bytes = value < 0 ? undefined : value;
          break;
        }
        case REFERER:
          referer = valueAt(t, s, e, escapes, escaped);
          break;
        case USER_AGENT:
          userAgent = valueAt(t, s, e, escapes, escaped);
          break;
        case HOST:
          host = valueAt(t, s, e, escapes, escaped);
          break;
        case USER:
          user = valueAt(t, s, e, escapes, escaped);
          break;
        default: {
          const value = valueAt(t, s, e, escapes, escaped);
          if (value !== undefined) {
            fields ??= {};
            fields[names[k] as string] = value;
          }
        }
      }
    }
    return makeEvent(
      at,
      line.source,
      service,
      kind,
      ip,
      method,
      path,
      status,
      bytes,
      userAgent,
      referer,
      host,
      user,
      fields,
    );
  }

  return { format: 'nginx-log-format', parse: parseNginxLogFormat };
}
