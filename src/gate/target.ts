/**
 * The request target, normalised once, before routes and deny rules look at it, so that every
 * spelling of a path that an upstream might resolve to the same file is matched as that file.
 *
 *   1. absolute-form (`http://host/p?q`) → its path and query; asterisk-form (`*`) stays `*`;
 *      anything else that does not start with `/` is refused.
 *   2. The query (after the first `?`) is kept as sent, undecoded.
 *   3. The path is percent-decoded once, as UTF-8. Refused: `%` not followed by two hex digits,
 *      bytes that are not valid UTF-8 (overlong forms like `%c0%ae` included), NUL and other
 *      control characters, and `#`. What one decoding yields is taken literally — except that a
 *      path which still contains an encoded `.`, `/`, `\`, `;`, `%` or NUL (`%252e`, `%25%32%65`
 *      after one pass) is refused as double-encoded: a server that decodes twice would see a
 *      different path than the one we matched.
 *   4. `\` becomes `/` (Windows servers and some frameworks treat it so).
 *   5. `;parameters` are cut from every segment (`/a;x=1/b` → `/a/b`, `/..;/` → `/../`).
 *   6. Empty segments collapse (`//` → `/`).
 *   7. Dot segments resolve (`/a/./b/../c` → `/a/c`), never above the root.
 */
import type { NormalizedTarget } from './types.ts';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function fail(error: string): NormalizedTarget {
  return { ok: false, error };
}

/** Characters that change a path's structure when a second decoding produces them. */
const STRUCTURAL_AFTER_DECODE = /%(2e|2f|5c|3b|25|00)/i;

/** Whether a path needs the slow route: encodings, `\`, `;`, `//`, dot segments, non-ASCII. */
const NEEDS_WORK = /[%\\;]|\/\/|\/\.\.?(?:\/|$)|[^\x21-\x7e]/;

export function normalizeTarget(raw: string): NormalizedTarget {
  if (raw === '*') return { ok: true, path: '*', query: '' };
  let target = raw;
  if (target.charCodeAt(0) !== 47 /* / */) {
    const absolute = /^(?:https?|wss?):\/\/[^/?#\s]*/i.exec(target);
    if (absolute === null) return fail('the request target is neither a path nor an absolute URL');
    target = target.slice(absolute[0].length);
    if (target === '' || target.charCodeAt(0) === 63 /* ? */) target = `/${target}`;
  }
  if (target.includes('#')) return fail('a fragment (#) in the request target');
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  if (!NEEDS_WORK.test(rawPath)) return { ok: true, path: rawPath, query };

  // 3. Percent-decode once into bytes, then read them as UTF-8. Node hands us the target's bytes
  // as latin1 characters; anything above 0xff (a caller's own string) is encoded as UTF-8 first.
  const bytes: number[] = [];
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i);
    if (c === 37 /* % */) {
      const hi = hexValue(rawPath.charCodeAt(i + 1));
      const lo = hexValue(rawPath.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return fail(`invalid percent-encoding at offset ${i}`);
      bytes.push(hi * 16 + lo);
      i += 2;
    } else if (c <= 0xff) {
      bytes.push(c);
    } else {
      for (const b of new TextEncoder().encode(String.fromCharCode(c))) bytes.push(b);
    }
  }
  let decoded: string;
  try {
    decoded = decoder.decode(Uint8Array.from(bytes));
  } catch {
    return fail('the path is not valid UTF-8 (or uses an overlong encoding)');
  }
  for (let i = 0; i < decoded.length; i++) {
    const c = decoded.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return fail('a control character (NUL, CR, LF…) in the path');
  }
  if (STRUCTURAL_AFTER_DECODE.test(decoded)) return fail('a double-encoded path (%25…)');

  // 4–7. Segments.
  const segments = decoded.replace(/\\/g, '/').split('/');
  const out: string[] = [];
  const lastIndex = segments.length - 1;
  let trailingSlash = false;
  for (let i = 1; i <= lastIndex; i++) {
    const raw = segments[i] as string;
    const semicolon = raw.indexOf(';');
    const segment = semicolon < 0 ? raw : raw.slice(0, semicolon);
    const last = i === lastIndex;
    if (segment === '' || segment === '.') {
      if (last) trailingSlash = true;
      continue;
    }
    if (segment === '..') {
      out.pop();
      if (last) trailingSlash = true;
      continue;
    }
    out.push(segment);
    trailingSlash = false;
  }
  const path = `/${out.join('/')}${trailingSlash && out.length > 0 ? '/' : ''}`;
  return { ok: true, path, query };
}
