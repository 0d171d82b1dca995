/**
 * Any log, through a user's regular expression with named groups. Groups named after ParsedEvent
 * fields fill them; a few aliases are understood; every other group goes to `fields`:
 *
 *   ip (also addr, client, remote_addr, host_ip)   user        method    path (also uri, url)
 *   status    bytes    userAgent (also ua, user_agent, agent)    referer (also referrer)    host
 *   time → `at` (ISO 8601, nginx, syslog, Redis or epoch forms; else the line's read time)
 *   kind → the event's kind (else spec.kind, else `match`)
 *
 * An `ip` group that holds something other than an address (a host name) leaves `ip` unset and is
 * kept as `fields.rhost`.
 */

import { MoatError } from '../core/errors.ts';
import type { LogLine, ParsedEvent } from '../core/events.ts';
import { ipOf } from './address.ts';
import { type Fields, makeEvent } from './event.ts';
import { parseTimestamp, type TimeContext } from './time.ts';
import type { Parser } from './types.ts';

/** Lines longer than this are not run through a user's pattern (a backtracking regex on 1 MB can hang). */
export const REGEX_MAX_LINE = 16_384;

const ALIASES: Readonly<Record<string, string>> = {
  ip: 'ip',
  addr: 'ip',
  client: 'ip',
  remote_addr: 'ip',
  host_ip: 'ip',
  user: 'user',
  method: 'method',
  path: 'path',
  uri: 'path',
  url: 'path',
  status: 'status',
  bytes: 'bytes',
  userAgent: 'userAgent',
  ua: 'userAgent',
  user_agent: 'userAgent',
  agent: 'userAgent',
  referer: 'referer',
  referrer: 'referer',
  host: 'host',
  time: 'time',
  kind: 'kind',
};

export function compilePattern(pattern: string): RegExp {
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    throw new MoatError(
      'MOAT_CONFIG_INVALID',
      `pattern: not a valid regular expression: ${(error as Error).message}`,
      {
        hint: 'Write a JavaScript regular expression with named groups, e.g. ^(?<ip>\\S+) .* "(?<path>[^"]*)"$',
      },
    );
  }
  if (!/\(\?<[A-Za-z_]\w*>/.test(pattern)) {
    throw new MoatError('MOAT_CONFIG_INVALID', 'pattern: has no named group', {
      hint: 'Name what you capture: (?<ip>…) for the address, (?<user>…), (?<path>…), (?<time>…).',
    });
  }
  return regex;
}

function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

export function createRegexParser(
  pattern: string,
  ctx: TimeContext,
  options: { service?: string; kind?: string } = {},
): Parser {
  const regex = compilePattern(pattern);
  const service = options.service ?? 'custom';
  const defaultKind = options.kind ?? 'match';

  function parseRegex(line: LogLine): ParsedEvent | undefined {
    const text = line.text;
    if (text.length > REGEX_MAX_LINE) return undefined;
    const match = regex.exec(text);
    if (match === null) return undefined;
    const groups = match.groups ?? {};
    const typed: Record<string, string | undefined> = {};
    let fields: Fields | undefined;
    for (const [name, value] of Object.entries(groups)) {
      if (value === undefined) continue;
      const target = ALIASES[name];
      if (target === undefined) {
        fields ??= {};
        fields[name] = value;
      } else {
        typed[target] = value;
      }
    }
    let ip: string | undefined;
    if (typed['ip'] !== undefined) {
      ip = ipOf(typed['ip']);
      if (ip === undefined && typed['ip'] !== '') {
        fields ??= {};
        fields['rhost'] = typed['ip'];
      }
    }
    let at = line.readAtMs;
    if (typed['time'] !== undefined) {
      const parsed = parseTimestamp(ctx, typed['time']);
      if (!Number.isNaN(parsed)) at = parsed;
    }
    return makeEvent(
      at,
      line.source,
      service,
      typed['kind'] || defaultKind,
      ip,
      typed['method'],
      typed['path'],
      toNumber(typed['status']),
      toNumber(typed['bytes']),
      typed['userAgent'],
      typed['referer'],
      typed['host'],
      typed['user'],
      fields,
    );
  }

  return { format: 'regex', parse: parseRegex };
}
