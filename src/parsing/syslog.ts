/**
 * The header in front of a daemon's message, in the shapes auth.log and the journal give it:
 *
 *   May  1 12:00:00 host sshd[123]: msg                  (RFC 3164, rsyslog default, `journalctl -o short`)
 *   2024-05-01T12:00:00.123456+02:00 host sshd[123]: msg (RFC 3339: newer rsyslog, `journalctl -o short-iso`)
 *   <38>1 2024-05-01T12:00:00Z host sshd 123 - - msg     (RFC 5424)
 *   host sshd[123]: msg                                  (journal lines without a timestamp)
 *   sshd[123]: msg                                       (no host)
 *
 * Results go to the `header` scratch record (read right after the call).
 */
import { cursor, isoTimeAt, syslogTimeAt, type TimeContext } from './time.ts';

export const header = {
  /** The header's timestamp, or NaN when it has none. */
  at: Number.NaN,
  /** The program name (`sshd`, `sshd-session`, `redis-server`), path stripped, pid dropped. */
  program: '',
  /** The `[pid]` of the tag, or '' when there is none. */
  pid: '',
  /** Where the message starts. */
  messageStart: 0,
  /** Where the text after the timestamp starts (the host, or the message of a bare line). */
  afterTime: 0,
};

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Reads a timestamp at the start of text (after an optional `<PRI>`); sets header.at and header.afterTime. */
function readTime(ctx: TimeContext, text: string, start: number): void {
  let p = start;
  header.at = Number.NaN;
  const c = text.charCodeAt(p);
  if (isDigit(c)) {
    const at = isoTimeAt(ctx, text, p);
    if (!Number.isNaN(at) && text.charCodeAt(cursor.end) === 32) {
      header.at = at;
      p = cursor.end + 1;
    }
  } else if (c >= 65 && c <= 90) {
    const at = syslogTimeAt(ctx, text, p);
    if (!Number.isNaN(at) && text.charCodeAt(cursor.end) === 32) {
      header.at = at;
      p = cursor.end + 1;
    }
  }
  header.afterTime = p;
}

/** Index after the next space-delimited word starting at p (p itself when none), and -1 past the end. */
function wordEnd(text: string, p: number): number {
  const space = text.indexOf(' ', p);
  return space < 0 ? -1 : space;
}

function parseRfc5424(ctx: TimeContext, text: string, start: number): boolean {
  // VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP STRUCTURED-DATA [SP MSG]
  let p = start;
  if (text.charCodeAt(p) === 45) {
    header.at = Number.NaN;
    p += 1;
  } else {
    header.at = isoTimeAt(ctx, text, p);
    if (Number.isNaN(header.at)) return false;
    p = cursor.end;
  }
  if (text.charCodeAt(p) !== 32) return false;
  const hostEnd = wordEnd(text, p + 1);
  if (hostEnd < 0) return false;
  const appEnd = wordEnd(text, hostEnd + 1);
  if (appEnd < 0) return false;
  header.program = text.slice(hostEnd + 1, appEnd);
  const procEnd = wordEnd(text, appEnd + 1);
  if (procEnd < 0) return false;
  header.pid = text.slice(appEnd + 1, procEnd);
  if (header.pid === '-') header.pid = '';
  const msgidEnd = wordEnd(text, procEnd + 1);
  if (msgidEnd < 0) return false;
  p = msgidEnd + 1;
  if (text.charCodeAt(p) === 45) {
    p += 1;
  } else {
    // One or more [id key="value" …] elements; values may hold \" and ].
    while (text.charCodeAt(p) === 91) {
      let inQuotes = false;
      p++;
      while (p < text.length) {
        const c = text.charCodeAt(p);
        if (c === 92) p++;
        else if (c === 34) inQuotes = !inQuotes;
        else if (c === 93 && !inQuotes) break;
        p++;
      }
      if (p >= text.length) return false;
      p++;
    }
  }
  header.messageStart = text.charCodeAt(p) === 32 ? p + 1 : p;
  header.afterTime = header.messageStart;
  return true;
}

/**
 * Reads the header of a syslog-style line. True when a `program[pid]:` tag was found (header.program,
 * header.messageStart set); false otherwise, with header.at / header.afterTime still describing any
 * timestamp so the caller can try the rest as a bare message.
 */
export function parseSyslogHeader(ctx: TimeContext, text: string): boolean {
  let p = 0;
  header.program = '';
  header.pid = '';
  if (text.charCodeAt(0) === 60 /* < */) {
    const close = text.indexOf('>');
    if (close > 1 && close <= 4) {
      p = close + 1;
      if (text.charCodeAt(p) === 49 /* 1 */ && text.charCodeAt(p + 1) === 32)
        return parseRfc5424(ctx, text, p + 2);
    }
  }
  readTime(ctx, text, p);
  p = header.afterTime;
  header.messageStart = p;
  // "host prog[pid]: " or "prog[pid]: " or "host prog: "
  const colon = text.indexOf(': ', p);
  if (colon < 0) return false;
  const firstSpace = text.indexOf(' ', p);
  let tagStart = p;
  if (firstSpace >= 0 && firstSpace < colon) {
    tagStart = firstSpace + 1;
    if (text.indexOf(' ', tagStart) < colon && text.indexOf(' ', tagStart) >= 0) return false; // more than two words
  }
  let tagEnd = colon;
  if (text.charCodeAt(tagEnd - 1) === 93 /* ] */) {
    const open = text.lastIndexOf('[', tagEnd);
    if (open <= tagStart) return false;
    for (let i = open + 1; i < tagEnd - 1; i++) if (!isDigit(text.charCodeAt(i))) return false;
    header.pid = text.slice(open + 1, tagEnd - 1);
    tagEnd = open;
  } else if (tagStart === p) {
    // A single word with no [pid] is as likely a message prefix ("error: …") as a tag: say no, and let
    // the caller decide.
    const word = text.slice(p, colon);
    if (word !== 'sshd') return false;
  }
  if (tagEnd <= tagStart) return false;
  const slash = text.lastIndexOf('/', tagEnd - 1);
  header.program = text.slice(slash >= tagStart ? slash + 1 : tagStart, tagEnd);
  header.messageStart = colon + 2;
  return true;
}
