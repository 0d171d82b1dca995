/**
 * The nginx error log, for the lines that name a client:
 *
 *   2024/05/01 12:00:00 [error] 123#123: *45 limiting requests, excess: 5.120 by zone "one", client: 203.0.113.7, server: example.com, request: "GET / HTTP/1.1", host: "example.com"
 *
 * nginx appends `, client: …, server: …[, request: "…"][, upstream: "…"][, host: "…"][, referrer: "…"]`
 * to the message, and the message itself may hold what the client sent (a decoded URI in an open()
 * path, a basic-auth user name). So the client is the LAST `, client: ADDR` followed by `, server: `,
 * and the message is classified by the text nginx writes around it.
 *
 * Kinds: nginx-limit-req, nginx-limit-req-delayed, nginx-limit-conn, http-not-found, http-forbidden,
 * http-auth-failed, http-auth-missing, http-tls-failed, http-bad-request.
 */
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { ipAt } from './address.ts';
import { type Fields, makeEvent } from './event.ts';
import { requestParts, splitRequest } from './nginx-http.ts';
import { nginxErrorTimeAt, type TimeContext } from './time.ts';
import type { Parser } from './types.ts';

const CLIENT = ', client: ';
const SERVER = ', server: ';

/** The quoted value of `, key: "…"` at or after `from`, up to the next `", ` or the last quote. */
function quoted(text: string, key: string, from: number): string | undefined {
  const at = text.indexOf(key, from);
  if (at < 0) return undefined;
  const start = at + key.length;
  let end = text.indexOf('", ', start);
  if (end < 0) end = text.endsWith('"') ? text.length - 1 : text.length;
  return end >= start ? text.slice(start, end) : undefined;
}

/** `excess: 5.120` in a limit_req message: how many requests the bucket held beyond its rate. */
function excessInto(message: string, fields: Fields): void {
  const at = message.indexOf('excess: ');
  if (at < 0) return;
  let end = at + 8;
  while (end < message.length && message.charCodeAt(end) !== 32 && message.charCodeAt(end) !== 44) end++;
  fields['excess'] = message.slice(at + 8, end);
}

/** `by zone "NAME"` in a limit_req / limit_conn message. */
function zoneOf(message: string): string | undefined {
  const at = message.indexOf('by zone "');
  if (at < 0) return undefined;
  const end = message.indexOf('"', at + 9);
  return end < 0 ? undefined : message.slice(at + 9, end);
}

export function createNginxErrorParser(ctx: TimeContext, options: { service?: string } = {}): Parser {
  const service = options.service ?? 'http';
  let cachedTime = '';
  let cachedMs = 0;
  /** The basic-auth user named by the message classify() just read. */
  let authUser: string | undefined;

  function classify(message: string, fields: Fields): string | undefined {
    if (message.startsWith('limiting requests, ')) {
      excessInto(message, fields);
      const zone = zoneOf(message);
      if (zone !== undefined) fields['zone'] = zone;
      if (message.startsWith('limiting requests, dry run')) fields['dryRun'] = 'true';
      return 'nginx-limit-req';
    }
    if (message.startsWith('delaying request, ')) {
      excessInto(message, fields);
      const zone = zoneOf(message);
      if (zone !== undefined) fields['zone'] = zone;
      return 'nginx-limit-req-delayed';
    }
    if (message.startsWith('limiting connections')) {
      const zone = zoneOf(message);
      if (zone !== undefined) fields['zone'] = zone;
      if (message.startsWith('limiting connections, dry run')) fields['dryRun'] = 'true';
      return 'nginx-limit-conn';
    }
    if (message.startsWith('access forbidden by rule')) {
      fields['reason'] = 'rule';
      return 'http-forbidden';
    }
    if (message.startsWith('directory index of "') && message.includes('" is forbidden')) {
      fields['reason'] = 'directory-index';
      return 'http-forbidden';
    }
    if (message.startsWith('open() "') || message.startsWith('"')) {
      // open() "/var/www/x" failed (2: No such file or directory)  |  "/var/www/x/index.html" is not found (2: …)
      const failed = message.lastIndexOf('" failed (');
      const notFound = message.lastIndexOf('" is not found (');
      const close = Math.max(failed, notFound);
      if (close < 0) return undefined;
      const errno = message.slice(message.indexOf('(', close) + 1);
      fields['file'] = message.slice(message.startsWith('"') ? 1 : 8, close);
      if (errno.startsWith('2:') || errno.startsWith('20:')) return 'http-not-found';
      if (errno.startsWith('13:')) {
        fields['reason'] = 'permission';
        return 'http-forbidden';
      }
      return undefined;
    }
    if (message.startsWith('user "')) {
      // user "x": password mismatch  |  user "x" was not found in "/etc/nginx/.htpasswd"
      const end = Math.max(
        message.lastIndexOf('": password mismatch'),
        message.lastIndexOf('" was not found in "'),
      );
      if (end < 6) return undefined;
      authUser = message.slice(6, end);
      return 'http-auth-failed';
    }
    if (message.startsWith('no user/password was provided for basic authentication'))
      return 'http-auth-missing';
    if (message.startsWith('SSL_do_handshake() failed')) {
      const open = message.indexOf('(');
      const close = message.lastIndexOf(')');
      if (open > 0 && close > open) fields['reason'] = message.slice(open + 1, close);
      return 'http-tls-failed';
    }
    if (message.startsWith('client sent ') || message.startsWith('client intended to send too large')) {
      fields['reason'] = message;
      return 'http-bad-request';
    }
    return undefined;
  }

  function parseNginxError(line: LogLine): ParsedEvent | undefined {
    const t = line.text;
    if (t.length > 65_536) return undefined;
    // 2024/05/01 12:00:00 [level] pid#tid: *cid message
    if (t.charCodeAt(19) !== 32 || t.charCodeAt(20) !== 91) return undefined;
    let at: number;
    if (cachedTime !== '' && t.startsWith(cachedTime)) {
      at = cachedMs;
    } else {
      at = nginxErrorTimeAt(ctx, t, 0);
      if (Number.isNaN(at)) return undefined;
      cachedTime = t.slice(0, 19);
      cachedMs = at;
    }
    const levelEnd = t.indexOf('] ', 21);
    if (levelEnd < 0) return undefined;
    const pidEnd = t.indexOf(': ', levelEnd + 2);
    if (pidEnd < 0) return undefined;
    let messageStart = pidEnd + 2;
    if (t.charCodeAt(messageStart) === 42 /* * */) {
      const space = t.indexOf(' ', messageStart);
      if (space < 0) return undefined;
      messageStart = space + 1;
    }
    // The last ", client: ADDR" followed by ", server: " (or the end of the line).
    let ip: string | undefined;
    let anchor = t.lastIndexOf(CLIENT);
    while (anchor >= messageStart) {
      const addrStart = anchor + CLIENT.length;
      let addrEnd = t.indexOf(',', addrStart);
      if (addrEnd < 0) addrEnd = t.length;
      if (addrEnd === t.length || t.startsWith(SERVER, addrEnd)) {
        ip = ipAt(t, addrStart, addrEnd);
        if (ip !== undefined) break;
      }
      anchor = anchor === 0 ? -1 : t.lastIndexOf(CLIENT, anchor - 1);
    }
    if (ip === undefined || anchor < messageStart) return undefined;
    const fields: Fields = {};
    authUser = undefined;
    const kind = classify(t.slice(messageStart, anchor), fields);
    if (kind === undefined) return undefined;

    const tailStart = anchor + CLIENT.length;
    let method: string | undefined;
    let path: string | undefined;
    const request = quoted(t, ', request: "', tailStart);
    if (request !== undefined) {
      splitRequest(request, 0, request.length, 'none');
      method = requestParts.method;
      path = requestParts.path;
    }
    const serverAt = t.indexOf(SERVER, tailStart);
    if (serverAt >= 0) {
      let end = t.indexOf(', ', serverAt + SERVER.length);
      if (end < 0) end = t.length;
      const server = t.slice(serverAt + SERVER.length, end);
      if (server !== '') fields['server'] = server;
    }
    return makeEvent(
      at,
      line.source,
      service,
      kind,
      ip,
      method,
      path,
      undefined,
      undefined,
      undefined,
      quoted(t, ', referrer: "', tailStart),
      quoted(t, ', host: "', tailStart),
      authUser,
      fields,
    );
  }

  return { format: 'nginx-error', parse: parseNginxError };
}
