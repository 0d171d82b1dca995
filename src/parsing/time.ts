/**
 * Timestamp readers for the log formats moat parses, all in place (charCodeAt, no regex, no split).
 * Each returns ms since the epoch, or NaN when the text is not that form.
 *
 * Zone-less forms (syslog, nginx error log, Redis log, ISO without offset) are read in the context's
 * zone: the machine's local zone by default, which is what those daemons write. Syslog's year-less
 * form takes its year from the injected clock: a date more than a day ahead of "now" belongs to the
 * previous year (a Dec 31 line read on Jan 1).
 */
import type { Clock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';

export interface TimeContext {
  /** Fixed offset from UTC in ms for zone-less timestamps; undefined means the machine's local zone. */
  readonly offsetMs: number | undefined;
  readonly clock: Clock;
}

const DAY_MS = 86_400_000;

/** Builds a TimeContext from the spec's `timeZone` (`local`, `UTC`, `Z`, `+02:00`, `-0530`). */
export function timeContext(timeZone: string | undefined, clock: Clock): TimeContext {
  if (timeZone === undefined || timeZone === 'local') return { offsetMs: undefined, clock };
  if (timeZone === 'UTC' || timeZone === 'utc' || timeZone === 'Z') return { offsetMs: 0, clock };
  const match = /^([+-])(\d{2}):?(\d{2})$/.exec(timeZone);
  if (match) {
    const minutes = Number(match[2]) * 60 + Number(match[3]);
    if (minutes <= 14 * 60) return { offsetMs: (match[1] === '-' ? -minutes : minutes) * 60_000, clock };
  }
  throw new MoatError('MOAT_CONFIG_INVALID', `timeZone "${timeZone}" is not local, UTC or an offset`, {
    hint: 'Use `local` (the default), `UTC`, or a fixed offset such as `+02:00`.',
  });
}

/** Two ASCII digits at i as a number, or -1. */
export function twoDigitsAt(text: string, i: number): number {
  const a = text.charCodeAt(i) - 48;
  const b = text.charCodeAt(i + 1) - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

/** Four ASCII digits at i as a number, or -1. */
export function fourDigitsAt(text: string, i: number): number {
  const hi = twoDigitsAt(text, i);
  const lo = twoDigitsAt(text, i + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

/** English three-letter month at i (any case) as 0–11, or -1. */
export function monthAt(text: string, i: number): number {
  const key =
    ((text.charCodeAt(i) | 32) << 16) | ((text.charCodeAt(i + 1) | 32) << 8) | (text.charCodeAt(i + 2) | 32);
  switch (key) {
    case 0x6a616e: // jan
      return 0;
    case 0x666562:
      return 1;
    case 0x6d6172:
      return 2;
    case 0x617072:
      return 3;
    case 0x6d6179:
      return 4;
    case 0x6a756e:
      return 5;
    case 0x6a756c:
      return 6;
    case 0x617567:
      return 7;
    case 0x736570:
      return 8;
    case 0x6f6374:
      return 9;
    case 0x6e6f76:
      return 10;
    case 0x646563:
      return 11;
    default:
      return -1;
  }
}

function validClock(month: number, day: number, hour: number, minute: number, second: number): boolean {
  return (
    month >= 0 &&
    month <= 11 &&
    day >= 1 &&
    day <= 31 &&
    hour >= 0 &&
    hour <= 23 &&
    minute >= 0 &&
    minute <= 59 &&
    second >= 0 &&
    second <= 60
  );
}

/** A civil date-time in the context's zone → ms since the epoch (month 0-based). NaN when out of range. */
export function civilMs(
  ctx: TimeContext,
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
): number {
  if (year < 0 || !validClock(month, day, hour, minute, second)) return Number.NaN;
  if (ctx.offsetMs !== undefined) return Date.UTC(year, month, day, hour, minute, second, ms) - ctx.offsetMs;
  return new Date(year, month, day, hour, minute, second, ms).getTime();
}

/** A year-less date-time (syslog): this year, or last year when that would put it more than a day ahead. */
export function yearlessMs(
  ctx: TimeContext,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  ms: number,
): number {
  const now = ctx.clock.now();
  const thisYear =
    ctx.offsetMs === undefined ? new Date(now).getFullYear() : new Date(now + ctx.offsetMs).getUTCFullYear();
  const candidate = civilMs(ctx, thisYear, month, day, hour, minute, second, ms);
  if (candidate > now + DAY_MS) return civilMs(ctx, thisYear - 1, month, day, hour, minute, second, ms);
  return candidate;
}

/**
 * nginx `$time_local`: `01/May/2024:12:00:00 +0200`, exactly 26 characters at i. The zone is in the
 * text, so no context is needed.
 */
export function nginxTimeLocalAt(text: string, i: number): number {
  const day = twoDigitsAt(text, i);
  const month = monthAt(text, i + 3);
  const year = fourDigitsAt(text, i + 7);
  const hour = twoDigitsAt(text, i + 12);
  const minute = twoDigitsAt(text, i + 15);
  const second = twoDigitsAt(text, i + 18);
  const sign = text.charCodeAt(i + 21);
  const offH = twoDigitsAt(text, i + 22);
  const offM = twoDigitsAt(text, i + 24);
  if (
    year < 0 ||
    offH < 0 ||
    offM < 0 ||
    (sign !== 43 && sign !== 45) ||
    text.charCodeAt(i + 2) !== 47 ||
    text.charCodeAt(i + 6) !== 47 ||
    text.charCodeAt(i + 11) !== 58 ||
    text.charCodeAt(i + 20) !== 32 ||
    !validClock(month, day, hour, minute, second)
  ) {
    return Number.NaN;
  }
  const offsetMs = (offH * 60 + offM) * 60_000;
  return Date.UTC(year, month, day, hour, minute, second) - (sign === 45 ? -offsetMs : offsetMs);
}

/** Where the last variable-length reader stopped (one past the timestamp): a scratch cell, read right after the call. */
export const cursor = { end: 0 };

/** Where the last fractionMsAt stopped (no allocation per call). */
const fraction = { end: 0 };

/** The digits of a decimal fraction of a second starting at p, as whole milliseconds (more digits are read and dropped). */
function fractionMsAt(text: string, p: number): number {
  let ms = 0;
  let scale = 100;
  while (p < text.length) {
    const d = text.charCodeAt(p) - 48;
    if (d < 0 || d > 9) break;
    ms += d * scale;
    scale /= 10;
    p++;
  }
  fraction.end = p;
  return Math.floor(ms);
}

/**
 * ISO 8601 / RFC 3339 at i: `2024-05-01T12:00:00`, then optional `.fraction`, then optional `Z`,
 * `+02:00` or `+0200`; a space may stand for the `T`. Sets `cursor.end`.
 */
export function isoTimeAt(ctx: TimeContext, text: string, i: number): number {
  const year = fourDigitsAt(text, i);
  const month = twoDigitsAt(text, i + 5) - 1;
  const day = twoDigitsAt(text, i + 8);
  const sep = text.charCodeAt(i + 10);
  const hour = twoDigitsAt(text, i + 11);
  const minute = twoDigitsAt(text, i + 14);
  const second = twoDigitsAt(text, i + 17);
  if (
    year < 0 ||
    text.charCodeAt(i + 4) !== 45 ||
    text.charCodeAt(i + 7) !== 45 ||
    (sep !== 84 && sep !== 116 && sep !== 32) ||
    text.charCodeAt(i + 13) !== 58 ||
    text.charCodeAt(i + 16) !== 58 ||
    !validClock(month, day, hour, minute, second)
  ) {
    return Number.NaN;
  }
  const c = text.charCodeAt(i + 19);
  const ms = c === 46 || c === 44 ? fractionMsAt(text, i + 20) : 0;
  const p = c === 46 || c === 44 ? fraction.end : i + 19;
  const z = text.charCodeAt(p);
  if (z === 90 || z === 122) {
    cursor.end = p + 1;
    return Date.UTC(year, month, day, hour, minute, second, ms);
  }
  if (z === 43 || z === 45) {
    const offH = twoDigitsAt(text, p + 1);
    let offM = 0;
    let after = p + 3;
    if (text.charCodeAt(after) === 58) {
      offM = twoDigitsAt(text, after + 1);
      after += 3;
    } else if (twoDigitsAt(text, after) >= 0) {
      offM = twoDigitsAt(text, after);
      after += 2;
    }
    if (offH >= 0 && offM >= 0) {
      cursor.end = after;
      const offsetMs = (offH * 60 + offM) * 60_000;
      return Date.UTC(year, month, day, hour, minute, second, ms) - (z === 45 ? -offsetMs : offsetMs);
    }
  }
  cursor.end = p;
  return civilMs(ctx, year, month, day, hour, minute, second, ms);
}

/**
 * Syslog (RFC 3164) at i: `May  1 12:00:00`, `May 01 12:00:00`, or `May 1 12:00:00`; an optional
 * `.fraction` is read too. Year from the clock. Sets `cursor.end`.
 */
export function syslogTimeAt(ctx: TimeContext, text: string, i: number): number {
  const month = monthAt(text, i);
  if (month < 0 || text.charCodeAt(i + 3) !== 32) return Number.NaN;
  let p = i + 4;
  if (text.charCodeAt(p) === 32) p++;
  let day = twoDigitsAt(text, p);
  if (day >= 0) {
    p += 2;
  } else {
    day = text.charCodeAt(p) - 48;
    if (day < 1 || day > 9) return Number.NaN;
    p += 1;
  }
  const hour = twoDigitsAt(text, p + 1);
  const minute = twoDigitsAt(text, p + 4);
  const second = twoDigitsAt(text, p + 7);
  if (text.charCodeAt(p) !== 32 || text.charCodeAt(p + 3) !== 58 || text.charCodeAt(p + 6) !== 58) {
    return Number.NaN;
  }
  p += 9;
  let ms = 0;
  if (text.charCodeAt(p) === 46) {
    ms = fractionMsAt(text, p + 1);
    p = fraction.end;
  }
  if (!validClock(month, day, hour, minute, second)) return Number.NaN;
  cursor.end = p;
  return yearlessMs(ctx, month, day, hour, minute, second, ms);
}

/** nginx error log: `2024/05/01 12:00:00` (19 characters at i), in the context's zone. */
export function nginxErrorTimeAt(ctx: TimeContext, text: string, i: number): number {
  if (
    text.charCodeAt(i + 4) !== 47 ||
    text.charCodeAt(i + 7) !== 47 ||
    text.charCodeAt(i + 10) !== 32 ||
    text.charCodeAt(i + 13) !== 58 ||
    text.charCodeAt(i + 16) !== 58
  ) {
    return Number.NaN;
  }
  return civilMs(
    ctx,
    fourDigitsAt(text, i),
    twoDigitsAt(text, i + 5) - 1,
    twoDigitsAt(text, i + 8),
    twoDigitsAt(text, i + 11),
    twoDigitsAt(text, i + 14),
    twoDigitsAt(text, i + 17),
    0,
  );
}

/**
 * Redis: `01 May 2024 12:00:00.123` (Redis ≥ 3), or the old year-less `01 May 12:00:00.123` /
 * `01 May 12:00:00`. Sets `cursor.end`.
 */
export function redisTimeAt(ctx: TimeContext, text: string, i: number): number {
  const day = twoDigitsAt(text, i);
  const month = monthAt(text, i + 3);
  if (day < 0 || month < 0 || text.charCodeAt(i + 2) !== 32 || text.charCodeAt(i + 6) !== 32)
    return Number.NaN;
  let p = i + 7;
  let year = -1;
  if (text.charCodeAt(p + 4) === 32) {
    year = fourDigitsAt(text, p);
    if (year < 0) return Number.NaN;
    p += 5;
  }
  const hour = twoDigitsAt(text, p);
  const minute = twoDigitsAt(text, p + 3);
  const second = twoDigitsAt(text, p + 6);
  if (text.charCodeAt(p + 2) !== 58 || text.charCodeAt(p + 5) !== 58) return Number.NaN;
  p += 8;
  let ms = 0;
  if (text.charCodeAt(p) === 46) {
    const millis = twoDigitsAt(text, p + 1);
    const third = text.charCodeAt(p + 3) - 48;
    if (millis < 0 || third < 0 || third > 9) return Number.NaN;
    ms = millis * 10 + third;
    p += 4;
  }
  cursor.end = p;
  if (year < 0) {
    if (!validClock(month, day, hour, minute, second)) return Number.NaN;
    return yearlessMs(ctx, month, day, hour, minute, second, ms);
  }
  return civilMs(ctx, year, month, day, hour, minute, second, ms);
}

/** Seconds (or ms, 13+ digits) since the epoch, with an optional fraction: nginx `$msec`, `1714564800.123`. */
export function epochTime(text: string): number {
  if (!/^\d{9,13}(\.\d{1,9})?$/.test(text)) return Number.NaN;
  const value = Number(text);
  const dot = text.indexOf('.');
  const intDigits = dot < 0 ? text.length : dot;
  return intDigits >= 13 ? Math.floor(value) : Math.round(value * 1000);
}

/**
 * Any timestamp form above, in a whole string (for `(?<time>…)` groups and nginx `$time_iso8601` /
 * `$msec`): ISO 8601, nginx `$time_local`, nginx error log, syslog, Redis, epoch seconds. NaN when none.
 */
export function parseTimestamp(ctx: TimeContext, text: string): number {
  const n = text.length;
  if (n < 8) return Number.NaN;
  const c0 = text.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) {
    if (text.charCodeAt(4) === 45) {
      const ms = isoTimeAt(ctx, text, 0);
      return cursor.end === n ? ms : Number.NaN;
    }
    if (text.charCodeAt(4) === 47) return n === 19 ? nginxErrorTimeAt(ctx, text, 0) : Number.NaN;
    if (text.charCodeAt(2) === 47) return n === 26 ? nginxTimeLocalAt(text, 0) : Number.NaN;
    if (text.charCodeAt(2) === 32) {
      const ms = redisTimeAt(ctx, text, 0);
      return cursor.end === n ? ms : Number.NaN;
    }
    return epochTime(text);
  }
  const ms = syslogTimeAt(ctx, text, 0);
  return cursor.end === n ? ms : Number.NaN;
}
