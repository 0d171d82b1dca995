/**
 * The Redis server log: `12345:M 01 May 2024 12:00:00.123 # message` (Redis ≥ 3; role X sentinel,
 * C child, S replica, M master), the older `[12345] 01 May 12:00:00.123 * message`, either behind a
 * syslog/journal header, or a bare message (`syslog-enabled yes` writes no Redis header).
 *
 * Kinds: redis-replicaof, redis-master-mode, redis-security-attack, redis-rdb-write-failed,
 * redis-master-connect, redis-master-sync-error, redis-master-sync-ok, redis-module-loaded,
 * redis-connection. The parser remembers the master of the last `Connecting to MASTER` so the
 * follow-up lines that do not name it ("MASTER <-> REPLICA sync started") still carry it.
 */
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { splitHostPort } from './address.ts';
import { type Fields, serviceEvent } from './event.ts';
import { header, parseSyslogHeader } from './syslog.ts';
import { cursor, redisTimeAt, type TimeContext } from './time.ts';
import type { Parser } from './types.ts';

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The timestamp read by redisHeader (a scratch cell, read right after the call). */
const scratch = { at: Number.NaN };

/** Where the message starts after a Redis header at `start`, or -1; sets scratch.at. */
function redisHeader(ctx: TimeContext, text: string, start: number): number {
  let p = start;
  if (isDigit(text.charCodeAt(p))) {
    // pid:R
    while (isDigit(text.charCodeAt(p))) p++;
    if (text.charCodeAt(p) !== 58 || text.charCodeAt(p + 2) !== 32) return -1;
    const role = text.charCodeAt(p + 1);
    if (role !== 77 && role !== 83 && role !== 67 && role !== 88) return -1; // M S C X
    p += 3;
  } else if (text.charCodeAt(p) === 91) {
    // [pid]
    p++;
    const digits = p;
    while (isDigit(text.charCodeAt(p))) p++;
    if (p === digits || text.charCodeAt(p) !== 93 || text.charCodeAt(p + 1) !== 32) return -1;
    p += 2;
  } else {
    return -1;
  }
  scratch.at = redisTimeAt(ctx, text, p);
  if (Number.isNaN(scratch.at)) return -1;
  p = cursor.end;
  // " L " with L one of . - * #
  const level = text.charCodeAt(p + 1);
  if (text.charCodeAt(p) !== 32 || text.charCodeAt(p + 2) !== 32) return -1;
  if (level !== 46 && level !== 45 && level !== 42 && level !== 35) return -1;
  return p + 3;
}

/** `key=value` from a CLIENT LIST style record (values hold no spaces). */
function clientField(info: string, key: string): string | undefined {
  const probe = `${key}=`;
  let at = 0;
  if (!info.startsWith(probe)) {
    const i = info.indexOf(` ${probe}`);
    if (i < 0) return undefined;
    at = i + 1;
  }
  const start = at + probe.length;
  const end = info.indexOf(' ', start);
  return info.slice(start, end < 0 ? info.length : end);
}

/** `host:port` of a master as Redis prints it (`%s:%d`, so IPv6 without brackets). */
function splitMaster(text: string): { host: string; port: string } | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0 || colon === text.length - 1) return undefined;
  for (let i = colon + 1; i < text.length; i++) if (!isDigit(text.charCodeAt(i))) return undefined;
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

export function createRedisParser(ctx: TimeContext, options: { service?: string } = {}): Parser {
  const service = options.service ?? 'redis';
  let masterHost: string | undefined;
  let masterPort: string | undefined;

  function masterFields(extra: Fields = {}): Fields {
    if (masterHost !== undefined) extra['masterHost'] = masterHost;
    if (masterPort !== undefined) extra['masterPort'] = masterPort;
    return extra;
  }

  /** An event attributed to the client described by a `user request from '<client info>'` suffix. */
  function byClient(at: number, source: string, kind: string, msg: string, fields: Fields): ParsedEvent {
    const open = msg.indexOf("(user request from '");
    let ip: string | undefined;
    let user: string | undefined;
    if (open >= 0) {
      const infoEnd = msg.lastIndexOf("')");
      const info = msg.slice(open + 20, infoEnd > open ? infoEnd : msg.length);
      const addr = clientField(info, 'addr');
      if (addr !== undefined) {
        const split = splitHostPort(addr);
        if (split) {
          ip = split.ip;
          fields['clientPort'] = split.port;
        } else {
          fields['clientAddr'] = addr; // a unix socket
        }
      }
      user = clientField(info, 'user');
      const name = clientField(info, 'name');
      if (name) fields['clientName'] = name;
      const id = clientField(info, 'id');
      if (id !== undefined) fields['clientId'] = id;
    }
    return serviceEvent(at, source, service, kind, ip, user, fields);
  }

  function message(msg: string, at: number, source: string): ParsedEvent | undefined {
    const c = msg.charCodeAt(0);
    if ((c === 82 && msg.startsWith('REPLICAOF ')) || (c === 83 && msg.startsWith('SLAVE OF '))) {
      // REPLICAOF 1.2.3.4:24798 enabled (user request from 'id=5 addr=203.0.113.7:51234 …')
      const start = c === 82 ? 10 : 9;
      const space = msg.indexOf(' ', start);
      if (space < 0 || !msg.startsWith(' enabled (user request', space)) return undefined;
      const master = splitMaster(msg.slice(start, space));
      if (!master) return undefined;
      masterHost = master.host;
      masterPort = master.port;
      return byClient(at, source, 'redis-replicaof', msg, masterFields());
    }
    if (c === 77 /* M */) {
      if (msg.startsWith('MASTER MODE enabled (user request')) {
        masterHost = undefined;
        masterPort = undefined;
        return byClient(at, source, 'redis-master-mode', msg, {});
      }
      if (msg.startsWith('MASTER <-> REPLICA sync') || msg.startsWith('MASTER <-> SLAVE sync')) {
        const rest = msg.slice(msg.indexOf(' sync') + 5);
        if (rest === ' started') {
          return serviceEvent(
            at,
            source,
            service,
            'redis-master-connect',
            undefined,
            undefined,
            masterFields({ stage: 'sync-started' }),
          );
        }
        if (rest.startsWith(': Finished with success')) {
          return serviceEvent(
            at,
            source,
            service,
            'redis-master-sync-ok',
            undefined,
            undefined,
            masterFields(),
          );
        }
        return undefined;
      }
      if (msg.startsWith("Module '")) {
        // Module 'system' loaded from /tmp/exp.so
        const close = msg.indexOf("' loaded from ", 8);
        if (close < 0) return undefined;
        return serviceEvent(at, source, service, 'redis-module-loaded', undefined, undefined, {
          module: msg.slice(8, close),
          path: msg.slice(close + 14),
        });
      }
      return undefined;
    }
    if (c === 67 /* C */ && msg.startsWith('Connecting to MASTER ')) {
      const master = splitMaster(msg.slice(21));
      if (!master) return undefined;
      masterHost = master.host;
      masterPort = master.port;
      return serviceEvent(
        at,
        source,
        service,
        'redis-master-connect',
        undefined,
        undefined,
        masterFields({ stage: 'connecting' }),
      );
    }
    if (c === 69 /* E */) {
      if (msg.startsWith('Error condition on socket for SYNC: ')) {
        return serviceEvent(
          at,
          source,
          service,
          'redis-master-sync-error',
          undefined,
          undefined,
          masterFields({ error: msg.slice(36) }),
        );
      }
      if (msg.startsWith('Error moving temp DB file ')) {
        // Error moving temp DB file temp-1.rdb on the final destination root (in server root dir /var/spool/cron): Permission denied
        const on = msg.indexOf(' on the final destination ', 26);
        const dirAt = msg.lastIndexOf(' (in server root dir ');
        const close = msg.lastIndexOf('): ');
        if (on < 0 || dirAt < on || close < dirAt) return undefined;
        return rdbFailed(
          at,
          source,
          msg.slice(on + 26, dirAt),
          msg.slice(dirAt + 21, close),
          msg.slice(close + 3),
        );
      }
      return undefined;
    }
    if (c === 70 /* F */ && msg.startsWith('Failed opening ')) {
      // Failed opening the [temp ]RDB file F (in server root dir D) for saving: E   (Redis ≥ 3)
      // Failed opening .rdb for saving: E                                          (older)
      const rest = msg.slice(15);
      let fileStart = -1;
      if (rest.startsWith('the RDB file ')) fileStart = 13;
      else if (rest.startsWith('the temp RDB file ')) fileStart = 18;
      if (fileStart < 0) {
        const saving = rest.indexOf(' for saving: ');
        if (saving < 0) return undefined;
        return serviceEvent(at, source, service, 'redis-rdb-write-failed', undefined, undefined, {
          file: rest.slice(0, saving),
          error: rest.slice(saving + 13),
        });
      }
      const dirAt = rest.lastIndexOf(' (in server root dir ');
      const close = rest.lastIndexOf(') for saving: ');
      if (dirAt < fileStart || close < dirAt) return undefined;
      return rdbFailed(
        at,
        source,
        rest.slice(fileStart, dirAt),
        rest.slice(dirAt + 21, close),
        rest.slice(close + 14),
      );
    }
    if (c === 80 /* P */ && msg.startsWith('Possible SECURITY ATTACK detected.')) {
      // Redis ≥ 7.2 names the connection: "… Connection from 203.0.113.7:51234 aborted."
      let ip: string | undefined;
      const fields: Fields = {};
      const from = msg.lastIndexOf('Connection from ');
      if (from >= 0 && msg.endsWith(' aborted.')) {
        const split = splitHostPort(msg.slice(from + 16, msg.length - 9));
        if (split) {
          ip = split.ip;
          fields['clientPort'] = split.port;
        }
      }
      return serviceEvent(at, source, service, 'redis-security-attack', ip, undefined, fields);
    }
    if (c === 65 /* A */ && msg.startsWith('Accepted ')) {
      // Accepted 203.0.113.7:51234   (loglevel verbose)
      const split = splitHostPort(msg.slice(9));
      if (!split) return undefined;
      return serviceEvent(at, source, service, 'redis-connection', split.ip, undefined, {
        clientPort: split.port,
      });
    }
    return undefined;
  }

  function rdbFailed(at: number, source: string, file: string, dir: string, error: string): ParsedEvent {
    return serviceEvent(at, source, service, 'redis-rdb-write-failed', undefined, undefined, {
      dir,
      file,
      error,
    });
  }

  function parseRedis(line: LogLine): ParsedEvent | undefined {
    const text = line.text;
    if (text.length > 65_536) return undefined;
    let start = redisHeader(ctx, text, 0);
    if (start >= 0) return message(text.slice(start), scratch.at, line.source);
    // Behind a syslog / journal header: the message is a Redis line itself, or a bare message.
    if (parseSyslogHeader(ctx, text)) {
      if (!header.program.startsWith('redis')) return undefined;
      const at = Number.isNaN(header.at) ? line.readAtMs : header.at;
      const messageStart = header.messageStart;
      start = redisHeader(ctx, text, messageStart);
      if (start >= 0) return message(text.slice(start), scratch.at, line.source);
      return message(text.slice(messageStart), at, line.source);
    }
    return message(
      text.slice(header.afterTime),
      Number.isNaN(header.at) ? line.readAtMs : header.at,
      line.source,
    );
  }

  return { format: 'redis', parse: parseRedis };
}
