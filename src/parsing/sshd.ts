/**
 * OpenSSH server messages from auth.log or the journal, `sshd`, `sshd-session` (OpenSSH ≥ 9.8) and
 * `sshd-auth` (≥ 10) alike, with any of the headers syslog.ts reads, or bare (a journal MESSAGE).
 *
 * User names are chosen by the attacker and may hold spaces, `from 1.2.3.4` and the like, so every
 * message is anchored on the part sshd writes itself: the address is taken where what follows it is
 * sshd's own text (`port N ssh2`, ` [preauth]`, the end of the line), not at the first `from`.
 *
 * Kinds (see README.md for the table): ssh-auth-ok, ssh-auth-failed, ssh-publickey-failed,
 * ssh-pam-auth-failed, ssh-invalid-user, ssh-user-not-allowed, ssh-max-auth-exceeded,
 * ssh-preauth-closed, ssh-session-closed, ssh-no-identification, ssh-bad-banner, ssh-kex-failed,
 * ssh-connection-closed, ssh-connection, ssh-connection-dropped, ssh-connection-refused.
 */
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { ipAt } from './address.ts';
import { type Fields, serviceEvent } from './event.ts';
import { header, parseSyslogHeader } from './syslog.ts';
import type { TimeContext } from './time.ts';
import type { Parser } from './types.ts';

const PREAUTH = ' [preauth]';
/** How many sshd connections (by pid) the parser remembers the address of, and for how long. */
const MEMORY_ENTRIES = 4096;
const MEMORY_MS = 10 * 60_000;

/** Scratch cells filled by readAddress (read right after the call). */
const found = {
  ip: undefined as string | undefined,
  /** A host name where an address was expected (sshd with UseDNS yes). */
  rhost: undefined as string | undefined,
  port: undefined as string | undefined,
};

function isHostChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 45 || c === 95
  );
}

/**
 * Reads `ADDR[ port N][ sshN]` at s (ADDR an IP or a host name; a trailing `:` of old formats is
 * dropped). Returns the index after it, or -1.
 */
function readAddress(msg: string, s: number, withProtocol: boolean): number {
  let e = s;
  const n = msg.length;
  while (e < n && msg.charCodeAt(e) !== 32) e++;
  let addrEnd = e;
  if (addrEnd > s && msg.charCodeAt(addrEnd - 1) === 58 && ipAt(msg, s, addrEnd) === undefined) addrEnd--;
  if (addrEnd <= s) return -1;
  found.ip = ipAt(msg, s, addrEnd);
  found.rhost = undefined;
  found.port = undefined;
  if (found.ip === undefined) {
    if (addrEnd - s > 253) return -1;
    for (let i = s; i < addrEnd; i++) if (!isHostChar(msg.charCodeAt(i))) return -1;
    found.rhost = msg.slice(s, addrEnd);
  }
  let p = e;
  if (msg.startsWith(' port ', p)) {
    const portStart = p + 6;
    let q = portStart;
    while (q < n && msg.charCodeAt(q) >= 48 && msg.charCodeAt(q) <= 57) q++;
    if (q === portStart || q - portStart > 5) return -1;
    found.port = msg.slice(portStart, q);
    p = q;
  }
  if (withProtocol && msg.startsWith(' ssh', p)) {
    let q = p + 4;
    while (q < n && msg.charCodeAt(q) >= 48 && msg.charCodeAt(q) <= 57) q++;
    if (q === n || msg.charCodeAt(q) === 32 || msg.charCodeAt(q) === 58) p = q;
  }
  return p;
}

function endsMessage(msg: string, p: number): boolean {
  return p === msg.length || (p === msg.length - PREAUTH.length && msg.endsWith(PREAUTH));
}

/**
 * The last ` from ADDR…` in msg (after `min`) that the message's own text closes: the end of the
 * line, ` [preauth]`, or one of `stops`. Returns the index of that ` from `, or -1.
 */
function lastFrom(msg: string, min: number, withProtocol: boolean, stops: readonly string[] = []): number {
  for (let f = msg.lastIndexOf(' from '); f >= min; f = f === 0 ? -1 : msg.lastIndexOf(' from ', f - 1)) {
    const p = readAddress(msg, f + 6, withProtocol);
    if (p < 0) continue;
    if (endsMessage(msg, p)) return f;
    for (const stop of stops) if (msg.startsWith(stop, p)) return f;
  }
  return -1;
}

/**
 * `Failed password for [invalid user ]USER from ADDR port N ssh2[: info]`: the first ` from ADDR…`
 * followed by the end, ` [preauth]` or `: ` (the method's info, such as a key fingerprint).
 */
function firstFrom(msg: string, min: number): number {
  for (let f = msg.indexOf(' from ', min); f >= 0; f = msg.indexOf(' from ', f + 1)) {
    const p = readAddress(msg, f + 6, true);
    if (p < 0) continue;
    if (endsMessage(msg, p) || msg.startsWith(': ', p)) return f;
  }
  return -1;
}

/**
 * `[authenticating user X |invalid user X |user X ]ADDR port N` ending exactly at `end`: the connection
 * id sshd writes in its connection-level messages. Sets found.*; returns the user part's qualifier and
 * name through `who`, or false.
 */
const who = { qualifier: '', user: undefined as string | undefined };

function idEndingAt(msg: string, start: number, end: number): boolean {
  const portAt = msg.lastIndexOf(' port ', end);
  if (portAt < start) return false;
  const addrStart = msg.lastIndexOf(' ', portAt - 1) + 1;
  if (addrStart < start) return false;
  const p = readAddress(msg, Math.max(addrStart, start), false);
  if (p !== end) return false;
  who.qualifier = '';
  who.user = undefined;
  if (addrStart > start) {
    const idText = msg.slice(start, addrStart - 1);
    for (const qualifier of ['authenticating user ', 'invalid user ', 'user ']) {
      if (idText.startsWith(qualifier)) {
        who.qualifier = qualifier.slice(0, -1);
        who.user = idText.slice(qualifier.length);
        return true;
      }
    }
    return false;
  }
  return true;
}

/** The first `: ` after start at which a connection id ends. */
function idEndingAtColon(msg: string, start: number): number {
  for (let c = msg.indexOf(': ', start); c >= 0; c = msg.indexOf(': ', c + 1)) {
    if (idEndingAt(msg, start, c)) return c;
  }
  return -1;
}

function withPort(fields: Fields): Fields {
  if (found.port !== undefined) fields['port'] = found.port;
  if (found.rhost !== undefined) fields['rhost'] = found.rhost;
  return fields;
}

/** Prefixes sshd or the platform put in front of the message itself. */
function stripPrefixes(message: string): string {
  let msg = message;
  if (msg.charCodeAt(msg.length - 1) === 32) msg = msg.trimEnd();
  if (msg.startsWith('error: ') || msg.startsWith('fatal: ')) msg = msg.slice(7);
  if (msg.startsWith('[ID ')) {
    const close = msg.indexOf('] ');
    if (close > 0 && close < 40) msg = msg.slice(close + 2);
  }
  return msg;
}

function isProgram(program: string): boolean {
  return program === 'sshd' || program === 'sshd-session' || program === 'sshd-auth';
}

export function createSshdParser(ctx: TimeContext, options: { service?: string } = {}): Parser {
  const service = options.service ?? 'ssh';

  function event(
    at: number,
    source: string,
    kind: string,
    user: string | undefined,
    fields: Fields,
  ): ParsedEvent {
    return serviceEvent(at, source, service, kind, found.ip, user, withPort(fields));
  }

  /** Classifies one sshd message (prefixes already stripped). */
  function message(msg: string, at: number, source: string): ParsedEvent | undefined {
    const c = msg.charCodeAt(0);

    if (c === 70 /* F */ && msg.startsWith('Failed ')) {
      // Failed <method> for [invalid user ]USER from ADDR[ port N][ sshN][: info]
      const forAt = msg.indexOf(' for ', 7);
      if (forAt < 0) return undefined;
      const method = msg.slice(7, forAt);
      if (method.includes(' ')) return undefined;
      let userStart = forAt + 5;
      const invalid = msg.startsWith('invalid user ', userStart);
      if (invalid) userStart += 13;
      const f = firstFrom(msg, userStart - 1);
      if (f < 0) return undefined;
      const user = msg.slice(userStart, f);
      const fields: Fields = { method };
      if (invalid) fields['invalidUser'] = 'true';
      // A valid user offering several keys logs one failure per key: not an attack by itself.
      const kind = method === 'publickey' && !invalid ? 'ssh-publickey-failed' : 'ssh-auth-failed';
      return event(at, source, kind, user, fields);
    }
    if (c === 65 /* A */ && msg.startsWith('Accepted ')) {
      const forAt = msg.indexOf(' for ', 9);
      if (forAt < 0) return undefined;
      const method = msg.slice(9, forAt);
      const f = firstFrom(msg, forAt + 4);
      if (f < 0 || method.includes(' ')) return undefined;
      return event(at, source, 'ssh-auth-ok', msg.slice(forAt + 5, f), { method });
    }
    if (c === 73 /* I */ && msg.startsWith('Invalid user ')) {
      const f = lastFrom(msg, 12, false);
      if (f < 0) return undefined;
      return event(at, source, 'ssh-invalid-user', msg.slice(13, f), {});
    }
    if (c === 85 /* U */ && msg.startsWith('User ')) {
      // User USER from ADDR not allowed because <reason>
      const because = msg.lastIndexOf(' not allowed because ');
      if (because < 0) return undefined;
      const f = msg.lastIndexOf(' from ', because);
      if (f < 4 || readAddress(msg, f + 6, false) !== because) return undefined;
      return event(at, source, 'ssh-user-not-allowed', msg.slice(5, f), {
        reason: msg.slice(because + 21),
      });
    }
    if (c === 82 /* R */) {
      if (msg.startsWith('ROOT LOGIN REFUSED FROM ')) {
        const p = readAddress(msg, 24, false);
        if (p < 0 || !endsMessage(msg, p)) return undefined;
        return event(at, source, 'ssh-user-not-allowed', 'root', { reason: 'PermitRootLogin' });
      }
      if (msg.startsWith('Received disconnect from ')) {
        // Received disconnect from ADDR port N:11: reason [preauth]   (older: from ADDR: 11: reason)
        const p = readAddress(msg, 25, false);
        if (p < 0) return undefined;
        let reasonStart: number;
        if (found.port !== undefined && msg.charCodeAt(p) === 58) reasonStart = p + 1;
        else if (found.port === undefined && msg.charCodeAt(p - 1) === 58) reasonStart = p;
        else return undefined;
        const reason = msg
          .slice(reasonStart)
          .replace(/^ ?\d+: ?/, '')
          .replace(/ \[preauth\]$/, '');
        const kind = msg.endsWith(PREAUTH) ? 'ssh-preauth-closed' : 'ssh-connection-closed';
        return event(at, source, kind, undefined, { reason });
      }
    }
    if (c === 67 /* C */) {
      for (const lead of ['Connection closed by ', 'Connection reset by ']) {
        if (msg.startsWith(lead)) return closed(msg, lead.length, at, source);
      }
      if (msg.startsWith('Connection from ')) {
        // Connection from ADDR port N on ADDR port 22[ rdomain "…"]   (LogLevel VERBOSE; older: no " on …")
        const p = readAddress(msg, 16, false);
        if (p < 0 || (p !== msg.length && !msg.startsWith(' on ', p))) return undefined;
        return event(at, source, 'ssh-connection', undefined, {});
      }
    }
    if (c === 68 /* D */) {
      if (msg.startsWith('Disconnected from ')) return closed(msg, 18, at, source);
      if (msg.startsWith('Did not receive identification string from ')) {
        const p = readAddress(msg, 43, false);
        if (p < 0 || !endsMessage(msg, p)) return undefined;
        return event(at, source, 'ssh-no-identification', undefined, {});
      }
      if (msg.startsWith('Disconnecting ') && !msg.startsWith('Disconnecting: ')) {
        // Disconnecting [authenticating |invalid ]user USER ADDR port N: <reason> [preauth]
        const tooMany = msg.lastIndexOf(': Too many authentication failures');
        const end = tooMany > 0 && idEndingAt(msg, 14, tooMany) ? tooMany : idEndingAtColon(msg, 14);
        if (end < 0) return undefined;
        const reason = msg.slice(end + 2).replace(/ \[preauth\]$/, '');
        const fields: Fields = { reason };
        if (who.qualifier === 'invalid user') fields['invalidUser'] = 'true';
        const kind = end === tooMany ? 'ssh-max-auth-exceeded' : 'ssh-preauth-closed';
        return event(at, source, kind, who.user, fields);
      }
    }
    if (c === 84 /* T */ && msg.startsWith('Timeout before authentication for ')) {
      return closed(msg, 34, at, source, true);
    }
    if (c === 109 /* m */ && msg.startsWith('maximum authentication attempts exceeded for ')) {
      let userStart = 45;
      const invalid = msg.startsWith('invalid user ', userStart);
      if (invalid) userStart += 13;
      const f = lastFrom(msg, userStart - 1, true);
      if (f < 0) return undefined;
      return event(
        at,
        source,
        'ssh-max-auth-exceeded',
        msg.slice(userStart, f),
        invalid ? { invalidUser: 'true' } : {},
      );
    }
    if (c === 80 /* P */) {
      if (msg.startsWith('PAM: ')) {
        // PAM: Authentication failure for USER from HOST[ via ADDR]   (OpenPAM / older Linux-PAM)
        // PAM: User not known to the underlying authentication module for illegal user USER from HOST
        const forAt = msg.indexOf(' for ', 5);
        if (forAt < 0) return undefined;
        const f = lastFrom(msg, forAt, false, [' via ']);
        if (f < 0) return undefined;
        let userStart = forAt + 5;
        const illegal = msg.startsWith('illegal user ', userStart);
        if (illegal) userStart += 13;
        const what = msg.slice(5, forAt).toLowerCase();
        if (illegal || what.startsWith('user not known')) {
          return event(at, source, 'ssh-invalid-user', msg.slice(userStart, f), {});
        }
        if (!what.startsWith('authentication failure') && !what.startsWith('authentication error'))
          return undefined;
        return event(at, source, 'ssh-auth-failed', msg.slice(userStart, f), { method: 'pam' });
      }
      if (msg.startsWith('PAM ') && msg.includes(' more authentication failure'))
        return pamUnix(msg, at, source);
      if (msg.startsWith('Protocol major versions differ for ')) {
        const p = readAddress(msg, 35, false);
        if (p < 0 || !msg.startsWith(':', p)) return undefined;
        return event(at, source, 'ssh-bad-banner', undefined, { reason: msg.slice(p + 1).trim() });
      }
    }
    if (c === 112 /* p */ && msg.startsWith('pam_unix(sshd:auth): authentication failure;')) {
      return pamUnix(msg, at, source);
    }
    if (c === 66 /* B */ && msg.startsWith('Bad protocol version identification ')) {
      const f = lastFrom(msg, 35, false);
      if (f < 0) return undefined;
      return event(at, source, 'ssh-bad-banner', undefined, {
        reason: 'bad protocol version identification',
      });
    }
    if (c === 98 /* b */ && msg.startsWith('banner exchange: Connection from ')) {
      const p = readAddress(msg, 33, false);
      if (p < 0 || !msg.startsWith(': ', p)) return undefined;
      return event(at, source, 'ssh-bad-banner', undefined, {
        reason: msg.slice(p + 2).replace(/ \[preauth\]$/, ''),
      });
    }
    if (c === 85 /* U */ && msg.startsWith('Unable to negotiate with ')) {
      const p = readAddress(msg, 25, false);
      if (p < 0 || !msg.startsWith(': ', p)) return undefined;
      return event(at, source, 'ssh-kex-failed', undefined, {
        reason: msg.slice(p + 2).replace(/ \[preauth\]$/, ''),
      });
    }
    if (c === 115 /* s */ && msg.startsWith('ssh_dispatch_run_fatal: Connection from ')) {
      const end = idEndingAtColon(msg, 40);
      if (end < 0) return undefined;
      return event(at, source, 'ssh-kex-failed', who.user, {
        reason: msg.slice(end + 2).replace(/ \[preauth\]$/, ''),
      });
    }
    if (c === 100 /* d */ && msg.startsWith('drop connection #')) {
      // drop connection #3 from [ADDR]:PORT on [ADDR]:22 past MaxStartups | penalty: <why>
      const open = msg.indexOf(' from [');
      const close = open < 0 ? -1 : msg.indexOf(']:', open);
      if (close < 0) return undefined;
      found.ip = ipAt(msg, open + 7, close);
      found.rhost = undefined;
      let q = close + 2;
      while (q < msg.length && msg.charCodeAt(q) >= 48 && msg.charCodeAt(q) <= 57) q++;
      found.port = msg.slice(close + 2, q);
      if (found.ip === undefined) return undefined;
      const on = msg.indexOf(' on [', q);
      const after = on < 0 ? -1 : msg.indexOf(' ', msg.indexOf(']:', on));
      return event(at, source, 'ssh-connection-dropped', undefined, {
        reason: after < 0 ? '' : msg.slice(after + 1),
      });
    }
    if (c === 114 /* r */ && msg.startsWith('refused connect from ')) {
      // tcp_wrappers: refused connect from NAME (ADDR)
      if (!msg.endsWith(')')) return undefined;
      const open = msg.lastIndexOf(' (');
      if (open < 0) return undefined;
      found.ip = ipAt(msg, open + 2, msg.length - 1);
      found.rhost = undefined;
      found.port = undefined;
      if (found.ip === undefined) return undefined;
      return event(at, source, 'ssh-connection-refused', undefined, {});
    }
    return undefined;
  }

  /** `Connection closed by <id>`, `Disconnected from <id>`, … with an optional ` [preauth]`. */
  function closed(
    msg: string,
    idStart: number,
    at: number,
    source: string,
    beforeAuth = false,
  ): ParsedEvent | undefined {
    const tagged = msg.endsWith(PREAUTH);
    const preauth = tagged || beforeAuth;
    const end = tagged ? msg.length - PREAUTH.length : msg.length;
    if (!idEndingAt(msg, idStart, end)) {
      // Older form without a port: "Connection closed by 192.0.2.1 [preauth]".
      const p = readAddress(msg, idStart, false);
      if (p !== end) return undefined;
      who.qualifier = '';
      who.user = undefined;
    }
    const fields: Fields = {};
    if (who.qualifier === 'invalid user') fields['invalidUser'] = 'true';
    // "user X": an authenticated session ended. [preauth], "authenticating user X", "invalid user X":
    // it ended before authentication. A bare address is either (a scanner at key exchange on a modern
    // sshd, any close on an old one).
    const kind =
      who.qualifier === 'user'
        ? 'ssh-session-closed'
        : preauth || who.qualifier !== ''
          ? 'ssh-preauth-closed'
          : 'ssh-connection-closed';
    return event(at, source, kind, who.user, fields);
  }

  /** pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=ADDR  user=USER */
  function pamUnix(msg: string, at: number, source: string): ParsedEvent | undefined {
    // The last rhost= (ruser= before it is the client's to choose; user= after it is a local account name).
    const r = msg.lastIndexOf(' rhost=');
    if (r < 0) return undefined;
    let e = r + 7;
    while (e < msg.length && msg.charCodeAt(e) !== 32) e++;
    if (e === r + 7) return undefined;
    if (readAddress(msg.slice(0, e), r + 7, false) !== e) return undefined;
    const u = msg.indexOf(' user=', e);
    const user = u < 0 ? undefined : msg.slice(u + 6).trim();
    return event(at, source, 'ssh-pam-auth-failed', user, { method: 'pam' });
  }

  /**
   * Lines that name no address but belong to a connection an earlier line of the same sshd process
   * named: the address comes from a small per-pid memory (fed by every line with an address, cleared
   * when the connection closes, entries older than ten minutes ignored).
   */
  const connections = new Map<string, { ip: string; port: string | undefined; at: number }>();

  function remember(pid: string, event: ParsedEvent): void {
    if (event.ip === undefined) return;
    connections.delete(pid);
    if (event.kind.endsWith('-closed')) return;
    connections.set(pid, { ip: event.ip, port: event.fields?.['port'], at: event.at });
    if (connections.size > MEMORY_ENTRIES) {
      const oldest = connections.keys().next();
      if (!oldest.done) connections.delete(oldest.value);
    }
  }

  function addressless(msg: string, pid: string, at: number, source: string): ParsedEvent | undefined {
    let kind: string | undefined;
    let user: string | undefined;
    let reason = msg.endsWith(PREAUTH) ? msg.slice(0, -PREAUTH.length) : msg;
    if (msg.startsWith('Disconnecting: Too many authentication failures')) {
      kind = 'ssh-max-auth-exceeded';
      const forAt = reason.indexOf(' for ', 47);
      if (forAt >= 0) user = reason.slice(forAt + 5);
      reason = 'Too many authentication failures';
    } else if (msg.startsWith('kex_exchange_identification: ')) {
      kind = 'ssh-bad-banner';
      reason = reason.slice(29);
    } else if (
      msg.startsWith('Unable to negotiate a key exchange method') ||
      msg.startsWith('no matching ')
    ) {
      kind = 'ssh-kex-failed';
    } else if (msg.startsWith('Read from socket failed: ') && msg.endsWith(PREAUTH)) {
      kind = 'ssh-preauth-closed';
      reason = reason.slice(25);
    }
    if (kind === undefined) return undefined;
    const known = connections.get(pid);
    if (known === undefined || Math.abs(at - known.at) > MEMORY_MS) return undefined;
    const fields: Fields = { reason };
    if (known.port !== undefined) fields['port'] = known.port;
    return serviceEvent(at, source, service, kind, known.ip, user, fields);
  }

  function parseSshd(line: LogLine): ParsedEvent | undefined {
    const text = line.text;
    if (text.length > 16_384) return undefined; // sshd caps its own lines far below this
    let at: number;
    let msg: string;
    let pid = '';
    if (parseSyslogHeader(ctx, text)) {
      if (!isProgram(header.program)) return undefined;
      at = Number.isNaN(header.at) ? line.readAtMs : header.at;
      msg = text.slice(header.messageStart);
      pid = header.pid;
    } else {
      // A bare message (journal MESSAGE field), possibly after a timestamp.
      at = Number.isNaN(header.at) ? line.readAtMs : header.at;
      msg = text.slice(header.afterTime);
    }
    msg = stripPrefixes(msg);
    const event = message(msg, at, line.source);
    if (pid === '') return event;
    if (event !== undefined) {
      remember(pid, event);
      return event;
    }
    const inferred = addressless(msg, pid, at, line.source);
    if (inferred?.kind.endsWith('-closed')) connections.delete(pid);
    return inferred;
  }

  return { format: 'sshd', parse: parseSshd };
}
