/**
 * Pieces shared by the nginx access-log parsers: the request line split, and undoing nginx's
 * escaping of variable values (`\x22` for a quote with the default escaping, JSON escapes with
 * `escape=json`).
 */

const BACKSLASH = 92;

/** Result cells of splitRequest (a scratch record: read right after the call, never kept). */
export const requestParts = {
  method: undefined as string | undefined,
  path: undefined as string | undefined,
  /** The request was not `METHOD target[ HTTP/x.y]`: scanners' binary garbage, `HELP`, an empty line. */
  malformed: false,
};

function methodAt(text: string, start: number, end: number): string {
  // Common methods come back as the same interned string instead of a fresh slice. The caller has
  // checked every character is A–Z or _, so the first two and the length tell them apart.
  const c0 = text.charCodeAt(start);
  const c1 = text.charCodeAt(start + 1);
  switch (end - start) {
    case 3:
      if (c0 === 71 && c1 === 69 && text.charCodeAt(start + 2) === 84) return 'GET';
      if (c0 === 80 && c1 === 85 && text.charCodeAt(start + 2) === 84) return 'PUT';
      break;
    case 4:
      if (c0 === 80 && c1 === 79 && text.charCodeAt(start + 2) === 83 && text.charCodeAt(start + 3) === 84) {
        return 'POST';
      }
      if (c0 === 72 && c1 === 69 && text.charCodeAt(start + 2) === 65 && text.charCodeAt(start + 3) === 68) {
        return 'HEAD';
      }
      break;
  }
  return text.slice(start, end);
}

/**
 * Splits an HTTP request line held in text[start, end) (`GET /a?b=1 HTTP/1.1`) into method and target
 * (`path`, query included, as the client sent it). A line that is not a method token, a space and a
 * non-empty target is `malformed` (method and path undefined). `escaped: false` says the caller knows
 * the line holds no backslash, so no escape needs undoing.
 */
export function splitRequest(
  text: string,
  start: number,
  end: number,
  escapes: Escaping,
  escaped = true,
): void {
  let s = start;
  let e = end;
  let t = text;
  if (escaped && escapes !== 'none') {
    const backslash = text.indexOf('\\', start);
    if (backslash >= 0 && backslash < end) {
      t = unescapeValue(text.slice(start, end), escapes);
      s = 0;
      e = t.length;
    }
  }
  requestParts.method = undefined;
  requestParts.path = undefined;
  requestParts.malformed = true;
  // Method: 1–20 of A–Z or _, then a space.
  let i = s;
  while (i < e && i - s <= 20) {
    const c = t.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c === 95) i++;
    else break;
  }
  if (i === s || i === e || t.charCodeAt(i) !== 32) return;
  const methodEnd = i;
  const targetStart = i + 1;
  let targetEnd = e;
  if (
    e - 9 > methodEnd &&
    t.charCodeAt(e - 9) === 32 &&
    t.charCodeAt(e - 8) === 72 &&
    t.charCodeAt(e - 5) === 80 &&
    t.charCodeAt(e - 4) === 47
  ) {
    targetEnd = e - 9; // " HTTP/1.1", " HTTP/2.0": the usual case, checked in place
  } else {
    const lastSpace = t.lastIndexOf(' ', e - 1);
    if (lastSpace > methodEnd && t.startsWith('HTTP/', lastSpace + 1)) targetEnd = lastSpace;
  }
  if (targetEnd <= targetStart) return;
  requestParts.method = methodAt(t, s, methodEnd);
  requestParts.path = t.slice(targetStart, targetEnd);
  requestParts.malformed = false;
}

/** How the log format escaped variable values: nginx `log_format … escape=default|json|none`. */
export type Escaping = 'default' | 'json' | 'none';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 32;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Undoes nginx's default escaping: `\xHH` bytes back to text (decoded as UTF-8, U+FFFD where invalid). */
export function unescapeNginx(value: string): string {
  if (value.indexOf('\\') < 0) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === BACKSLASH && value.charCodeAt(i + 1) === 120 /* x */) {
      const hi = hexValue(value.charCodeAt(i + 2));
      const lo = hexValue(value.charCodeAt(i + 3));
      if (hi >= 0 && lo >= 0) {
        bytes.push(hi * 16 + lo);
        i += 3;
        continue;
      }
    }
    if (c < 0x80) {
      bytes.push(c);
    } else {
      // A non-ASCII character (escape=none, or a source that already decoded): keep it as UTF-8.
      const codePoint = value.codePointAt(i) ?? c;
      const char = String.fromCodePoint(codePoint);
      for (const b of encoder.encode(char)) bytes.push(b);
      i += char.length - 1;
    }
  }
  return decoder.decode(new Uint8Array(bytes));
}

/** Undoes `escape=json` (`\"`, `\\`, `\u0001`); returns the text unchanged when it is not valid JSON string content. */
export function unescapeJson(value: string): string {
  if (value.indexOf('\\') < 0) return value;
  try {
    const parsed: unknown = JSON.parse(`"${value}"`);
    return typeof parsed === 'string' ? parsed : value;
  } catch {
    return value;
  }
}

export function unescapeValue(value: string, escapes: Escaping): string {
  if (escapes === 'default') return unescapeNginx(value);
  if (escapes === 'json') return unescapeJson(value);
  return value;
}

/**
 * text[start, end) as a value: empty or `-` (nginx's "empty") is undefined, escapes undone. With
 * `escaped: false` (the caller checked the line has no backslash) it is a bare slice.
 */
export function valueAt(
  text: string,
  start: number,
  end: number,
  escapes: Escaping,
  escaped = true,
): string | undefined {
  if (end <= start) return undefined;
  if (end - start === 1 && text.charCodeAt(start) === 45) return undefined;
  if (escaped && escapes !== 'none') {
    const backslash = text.indexOf('\\', start);
    if (backslash >= 0 && backslash < end) return unescapeValue(text.slice(start, end), escapes);
  }
  return text.slice(start, end);
}

/** Non-negative decimal integer in text[start, end), or -1. */
export function uintAt(text: string, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}
