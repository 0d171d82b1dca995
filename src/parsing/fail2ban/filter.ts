/**
 * A fail2ban filter compiled into a moat parser. Per line it does what fail2ban's Filter.processLine
 * and findFailure do: find and cut out the date, apply the pre-check ignoreregex, prefregex (its
 * `<F-CONTENT>` becomes the text the failregexes see), the failregexes in order, the ignoreregex on a
 * match, and fail2ban's multi-line bookkeeping keyed by `<F-MLFID>` (connection id): `<F-NOFAIL>`
 * lines remember an address without counting a failure, `<F-MLFFORGET>` ends a connection,
 * `<F-MLFGAINED>` (a successful login) cancels pending failures. Regexes compile once; per line the
 * work is the regex executions. Pure: time comes from the line (`readAtMs`) and its own timestamp.
 */
import type { Clock } from '../../core/clock.ts';
import type { LogLine, ParsedEvent } from '../../core/events.ts';
import { parseAddress } from '../../core/ip.ts';
import type { CompiledTemplate } from './dates.ts';
import { compileTemplates, DateDetector, DatePatternError, templatesFor } from './dates.ts';
import type { Fail2banDefinition } from './definition.ts';
import { DefinitionError, resolveDefinition } from './definition.ts';
import { filterError } from './errors.ts';
import type { Ini } from './ini.ts';
import { IniError } from './ini.ts';
import { PythonRegexError, type TranslatedRegex, translatePythonRegex } from './python-regex.ts';
import { FAILURE_ID_GROUPS, globalToLocalFlags, resolveTags } from './tags.ts';
import type { Zone } from './time-zone.ts';
import { zoneFromName } from './time-zone.ts';
import type {
  Fail2banFilter,
  Fail2banFilterOptions,
  Fail2banLineParser,
  Fail2banMatch,
  Fail2banParserStats,
} from './types.ts';

/** Groups fail2ban uses for its own bookkeeping: not reported as fields. */
const INTERNAL = new Set([
  'ip4',
  'ip6',
  'dns',
  'mlfid',
  'nofail',
  'mlfforget',
  'mlfgained',
  'content',
  'user',
]);
const MLFID_CACHE_SIZE = 100;
const MLFID_CACHE_MS = 5 * 60_000;
const LAST_DATE_MS = 60_000;

/** What the regexes run on: the line without its date, built lazily (see LineParser.run). */
interface Subject {
  text: string;
  cutStart: number;
  cutEnd: number;
  buf: string | undefined;
  bufNl: string | undefined;
}

/** Could the subject (text without the cut) contain `literal`? Necessary for a match, so false skips the regex. */
function mayContain(
  subject: Subject,
  literal: string,
  splits: readonly (readonly [string, string])[],
): boolean {
  const text = subject.text;
  if (text.includes(literal)) return true;
  const cutStart = subject.cutStart;
  if (cutStart <= 0 || subject.cutEnd >= text.length) return false;
  // only splits whose halves meet the characters on both sides of the cut
  const before = text.charCodeAt(cutStart - 1);
  const after = text.charCodeAt(subject.cutEnd);
  for (let k = 1; k < literal.length; k++) {
    if (literal.charCodeAt(k - 1) !== before || literal.charCodeAt(k) !== after) continue;
    const [head, tail] = splits[k - 1]!;
    if (text.endsWith(head, cutStart) && text.startsWith(tail, subject.cutEnd)) return true;
  }
  return false;
}

interface CompiledRegex {
  readonly python: string;
  readonly js: TranslatedRegex;
  readonly literal: string | undefined;
  /** The literal cut in two at every point, for a literal that spans the cut-out date. */
  readonly literalSplits: readonly (readonly [string, string])[];
  /** Named groups and the match indices that hold them (the regex is compiled with numbered groups). */
  readonly names: readonly string[];
  readonly indices: readonly (readonly number[])[];
  /** Where prefregex's `<F-CONTENT>` is. */
  readonly content: readonly number[] | undefined;
  /** alt_/tuple_ groups: [group, target] (fail2ban merges them into the target). */
  readonly alt: readonly (readonly [string, string])[];
  readonly tuple: readonly (readonly [string, string])[];
}

interface Compiled {
  readonly name: string;
  readonly service: string;
  readonly kind: string;
  readonly files: readonly string[];
  readonly definition: Fail2banDefinition;
  readonly prefregex: CompiledRegex | undefined;
  readonly failregex: readonly CompiledRegex[];
  readonly ignoreregex: readonly CompiledRegex[];
  readonly templates: readonly CompiledTemplate[];
  readonly templateNames: readonly string[];
  readonly zone: Zone;
  readonly journal: boolean;
  readonly maxlines: number;
  readonly maxLineLength: number;
  readonly clock: Clock | undefined;
}

/** Named groups like Python's groupdict: undefined for groups that did not take part. */
type Groups = Map<string, string | undefined>;

/** ParsedEvent with every key present (absent ones hold undefined): one hidden class for all events. */
type EventShape = { readonly [K in keyof ParsedEvent]-?: ParsedEvent[K] | undefined };

/** fail2ban's failure record: the groups plus the bookkeeping keys it keeps beside them. */
interface Fail {
  groups: Groups;
  /** Lines counted as failures (fail2ban's `matches`). */
  matches: number;
  /** Lines held back as no-failure (fail2ban's `nofail-matches`). */
  nofailMatches: number;
  users: Set<string> | undefined;
  pending: boolean;
}

function truthy(value: string | undefined): boolean {
  return value !== undefined && value !== '';
}

function complexNames(names: readonly string[]) {
  const alt: [string, string][] = [];
  const tuple: [string, string][] = [];
  for (const name of names) {
    if (name.length <= 4) continue;
    const m = /^(alt_|tuple_)(.*?)(?:_\d+)?$/.exec(name);
    if (!m) continue;
    const target = m[2]!.toLowerCase() === 'id' ? 'fid' : m[2]!.toLowerCase() === 'port' ? 'fport' : m[2]!;
    (m[1] === 'alt_' ? alt : tuple).push([name, target]);
  }
  const byName = (a: readonly [string, string], b: readonly [string, string]) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1;
  return { alt: alt.sort(byName), tuple: tuple.sort(byName) };
}

function compileRegex(
  file: string,
  role: 'prefregex' | 'failregex' | 'ignoreregex',
  index: number,
  text: string,
  useDns: string,
  multiline: boolean,
): CompiledRegex {
  const python = globalToLocalFlags(resolveTags(text, useDns));
  if (python.trim() === '') throw filterError(file, `${role} ${index + 1} is empty`);
  try {
    const js = translatePythonRegex(python, {
      subject: multiline ? 'multiline' : 'buffer',
      indexedGroups: true,
    });
    const literal = js.literal;
    const literalSplits: [string, string][] = [];
    if (literal !== undefined) {
      for (let k = 1; k < literal.length; k++) literalSplits.push([literal.slice(0, k), literal.slice(k)]);
    }
    const names = [...js.groupIndex.keys()].filter((name) => !name.startsWith('$'));
    const indices = names.map((name) => js.groupIndex.get(name)!);
    const content = js.groupIndex.get('content');
    return { python, js, literal, literalSplits, names, indices, content, ...complexNames(js.groupNames) };
  } catch (error) {
    if (error instanceof PythonRegexError) {
      throw filterError(file, `${role} ${index + 1} is not a valid regex (${error.message}): ${text}`);
    }
    throw error;
  }
}

function pick(m: RegExpExecArray, at: readonly number[] | undefined): string | undefined {
  if (!at) return undefined;
  for (let k = 0; k < at.length; k++) {
    const v = m[at[k]!];
    if (v !== undefined) return v;
  }
  return undefined;
}

/** The match's named groups, as Python's groupdict (undefined for groups that did not take part). */
function groupsOf(regex: CompiledRegex, m: RegExpExecArray): Groups {
  const groups: Groups = new Map();
  for (let k = 0; k < regex.names.length; k++) groups.set(regex.names[k]!, pick(m, regex.indices[k]));
  for (const [name, target] of regex.alt) {
    const v = groups.get(name);
    if (truthy(v) && !truthy(groups.get(target))) groups.set(target, v);
  }
  for (const [name, target] of regex.tuple) {
    const v = groups.get(name);
    const t = groups.get(target);
    groups.set(target, t === undefined ? v : `${t},${v ?? ''}`);
  }
  return groups;
}

/** A dotted quad with each octet ≤ 255, written canonically (fail2ban logs may pad: 192.030.0.6). */
function canonicalIPv4(text: string): string | undefined {
  let out = '';
  let octet = -1;
  let parts = 0;
  for (let k = 0; k <= text.length; k++) {
    const c = k < text.length ? text.charCodeAt(k) : 46;
    if (c === 46) {
      if (octet < 0 || octet > 255) return undefined;
      out += parts === 0 ? `${octet}` : `.${octet}`;
      parts++;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = (octet < 0 ? 0 : octet * 10) + (c - 48);
    } else {
      return undefined;
    }
  }
  return parts === 4 ? out : undefined;
}

function canonicalAddress(text: string): string | undefined {
  const v4 = canonicalIPv4(text);
  if (v4 !== undefined) return v4;
  return parseAddress(text)?.toString();
}

/** fail2ban's Utils.Cache for connection ids: at most 100 entries, 5 minutes each, oldest evicted first. */
class MlfidCache {
  private readonly entries = new Map<string, { fail: Fail; expiresAt: number }>();

  get(key: string, nowMs: number): Fail | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt > nowMs) return entry.fail;
    this.entries.delete(key);
    return undefined;
  }

  set(key: string, fail: Fail, nowMs: number): void {
    if (this.entries.size >= MLFID_CACHE_SIZE) {
      for (const [k, entry] of this.entries) {
        this.entries.delete(k);
        if (entry.expiresAt > nowMs && this.entries.size < MLFID_CACHE_SIZE) break;
      }
    }
    this.entries.set(key, { fail, expiresAt: nowMs + MLFID_CACHE_MS });
  }

  unset(key: string): void {
    this.entries.delete(key);
  }
}

class LineParser implements Fail2banLineParser {
  readonly format = 'fail2ban' as const;
  readonly stats: Fail2banParserStats = { lines: 0, matched: 0, ignored: 0, noDate: 0, tooLong: 0 };
  private readonly c: Compiled;
  private readonly detector: DateDetector;
  private readonly mlfid = new MlfidCache();
  private readonly subject: Subject = {
    text: '',
    cutStart: -1,
    cutEnd: -1,
    buf: undefined,
    bufNl: undefined,
  };
  private lastDate: number | undefined;
  private lastDateReadAt = 0;
  /** Multi-line buffer (maxlines > 1): the lines' text without their dates. */
  private buffer: string[] = [];

  constructor(compiled: Compiled) {
    this.c = compiled;
    this.detector = new DateDetector(compiled.templates, compiled.zone);
  }

  parse(line: LogLine): ParsedEvent | undefined {
    return this.match(line)?.event;
  }

  match(line: LogLine): Fail2banMatch | undefined {
    this.stats.lines++;
    try {
      return this.process(line);
    } catch {
      // a bug must not stop the pipeline: the line is counted as unmatched
      return undefined;
    }
  }

  private process(line: LogLine): Fail2banMatch | undefined {
    let text = line.text;
    // fail2ban strips the line end (\r\n) before matching
    let end = text.length;
    while (end > 0 && (text.charCodeAt(end - 1) === 10 || text.charCodeAt(end - 1) === 13)) end--;
    if (end !== text.length) text = text.slice(0, end);
    if (text.length > this.c.maxLineLength) {
      this.stats.tooLong++;
      return undefined;
    }
    const nowMs = line.readAtMs;
    let cutStart = -1;
    let cutEnd = -1;
    let at: number | undefined;
    if (!this.c.journal) {
      const found = this.detector.find(text);
      if (found && found.end > found.start) {
        // the year of a year-less date comes from the clock when one is given, else the read time
        at = this.detector.timeOf(found, this.c.clock ? this.c.clock.now() : nowMs);
        if (at !== undefined) {
          cutStart = found.start;
          cutEnd = found.end;
          this.lastDate = at;
          this.lastDateReadAt = nowMs;
        }
      }
      if (at === undefined) {
        this.stats.noDate++;
        at =
          this.lastDate !== undefined && nowMs - this.lastDateReadAt <= LAST_DATE_MS ? this.lastDate : nowMs;
      }
    } else {
      at = nowMs;
    }
    return this.findFailure(line, text, cutStart, cutEnd, at, nowMs);
  }

  /**
   * Runs a regex on the subject unless its required literal rules a match out. The subject is the
   * line with the date cut out (`text` minus `cutStart`…`cutEnd`), built only when a regex runs.
   */
  private run(regex: CompiledRegex, subject: Subject): RegExpExecArray | null {
    if (regex.literal !== undefined && !mayContain(subject, regex.literal, regex.literalSplits)) return null;
    subject.buf ??=
      subject.cutStart >= 0
        ? subject.text.slice(0, subject.cutStart) + subject.text.slice(subject.cutEnd)
        : subject.text;
    if (!regex.js.appendNewline) return regex.js.regex.exec(subject.buf);
    subject.bufNl ??= `${subject.buf}\n`;
    return regex.js.regex.exec(subject.bufNl);
  }

  private findFailure(
    line: LogLine,
    text: string,
    cutStart: number,
    cutEnd: number,
    at: number,
    nowMs: number,
  ): Fail2banMatch | undefined {
    const c = this.c;
    const multi = c.maxlines > 1;
    const subject = this.subject;
    subject.text = text;
    subject.cutStart = cutStart;
    subject.cutEnd = cutEnd;
    subject.buf = undefined;
    subject.bufNl = undefined;
    // multi-line: the rolling buffer as fail2ban keeps it (single-line needs no array)
    let orgLines: string[] = this.buffer;
    if (multi) {
      const content = cutStart >= 0 ? text.slice(0, cutStart) + text.slice(cutEnd) : text;
      this.buffer.push(content);
      if (this.buffer.length > c.maxlines) this.buffer = this.buffer.slice(-c.maxlines);
      orgLines = this.buffer;
      subject.text = orgLines.join('\n');
      subject.cutStart = -1;
    }

    if (c.ignoreregex.length > 0 && c.ignoreregex.length < c.failregex.length - 2) {
      for (const ignore of c.ignoreregex) {
        if (this.run(ignore, subject)) {
          this.stats.ignored++;
          return undefined;
        }
      }
    }

    // prefregex's groups are built only when a failregex matches (most lines match none)
    let preMatch: RegExpExecArray | undefined;
    if (c.prefregex) {
      const m = this.run(c.prefregex, subject);
      if (!m) return undefined;
      preMatch = m;
      const repl = pick(m, c.prefregex.content);
      if (truthy(repl)) {
        if (multi) this.buffer = [repl!];
        subject.text = repl!;
        subject.cutStart = -1;
        subject.buf = undefined;
        subject.bufNl = undefined;
      }
    }

    for (let index = 0; index < c.failregex.length; index++) {
      const regex = c.failregex[index]!;
      const m = this.run(regex, subject);
      if (!m) continue;
      const buf = subject.buf!;
      const matchedIn = regex.js.appendNewline ? subject.bufNl! : buf;
      let groups = groupsOf(regex, m);
      const span = multi ? this.matchedLines(matchedIn, m, orgLines, regex) : undefined;
      if (c.ignoreregex.length > 0) {
        const ignoreSubject: Subject = span
          ? { text: span.matched.join('\n'), cutStart: -1, cutEnd: -1, buf: undefined, bufNl: undefined }
          : subject;
        if (c.ignoreregex.some((ignore) => this.run(ignore, ignoreSubject))) {
          if (span) this.buffer = span.unmatched;
          this.stats.ignored++;
          return undefined;
        }
      }
      if (span) this.buffer = span.unmatched;
      const matchedCount = span ? span.matched.length : 1;
      if (preMatch && c.prefregex) {
        const merged = groupsOf(c.prefregex, preMatch);
        merged.delete('content');
        for (const [k, v] of groups) merged.set(k, v);
        groups = merged;
      }
      const mlfid = groups.get('mlfid');
      let fail: Fail;
      if (mlfid !== undefined) {
        fail = this.mergeFailure(
          mlfid,
          { groups, matches: 0, nofailMatches: 0, users: undefined, pending: false },
          matchedCount,
          nowMs,
        );
        if (truthy(fail.groups.get('nofail'))) return undefined;
      } else {
        fail = { groups, matches: matchedCount, nofailMatches: 0, users: undefined, pending: false };
      }
      const g = fail.groups;
      const fid = g.get('fid');
      const id = g.get('ip4') ?? g.get('ip6') ?? g.get('dns') ?? fid;
      if (id === undefined) {
        // fail2ban logs "no group found" and tries the next failregex
        if (mlfid === undefined) continue;
        // a connection-id line without an address yet: pending until a later line brings one
        fail.pending = true;
        return undefined;
      }
      this.stats.matched++;
      return {
        event: this.event(line, at, fail, id),
        failregex: index,
        attempts: fail.matches,
        users: fail.users ? [...fail.users] : [],
        id,
        groups: definedGroups(g),
      };
    }
    return undefined;
  }

  /** Which buffer lines a multi-line match covers (and what stays for the next lines). */
  private matchedLines(
    subject: string,
    m: RegExpExecArray,
    orgLines: readonly string[],
    regex: CompiledRegex,
  ) {
    const startAt = m.index;
    const endAt = m.index + m[0].length;
    const lineStart = subject.lastIndexOf('\n', startAt) + 1;
    const nl = subject.indexOf('\n', Math.max(endAt - 1, 0));
    const lineEnd = nl < 0 ? subject.length : nl + 1;
    const count = (to: number) => {
      let n = 0;
      for (let k = subject.indexOf('\n'); k >= 0 && k < to; k = subject.indexOf('\n', k + 1)) n++;
      return n;
    };
    const first = count(lineStart);
    const last = count(lineEnd);
    const matched = orgLines.slice(first, last);
    const unmatched = orgLines.slice(0, first);
    const skipped: string[] = [];
    regex.names.forEach((name, k) => {
      const value = pick(m, regex.indices[k]);
      if (/^skiplines\d+$/.test(name) && value) skipped.push(...value.split('\n').filter(Boolean));
    });
    let from = 0;
    for (const s of skipped) {
      const k = matched.indexOf(s, from);
      if (k >= 0) {
        unmatched.push(...matched.splice(k, 1));
        from = k;
      }
    }
    unmatched.push(...orgLines.slice(last));
    return { matched, unmatched };
  }

  /** fail2ban's Filter._mergeFailure, with line counts in place of the matched lines. */
  private mergeFailure(mlfid: string, current: Fail, matchedCount: number, nowMs: number): Fail {
    let fail = current;
    const cached = this.mlfid.get(mlfid, nowMs);
    let users: Set<string> | undefined;
    let flags = 0;
    if (truthy(fail.groups.get('mlfgained'))) {
      flags |= 8 | 1;
      if (!truthy(fail.groups.get('nofail'))) fail.groups.set('nofail', fail.groups.get('mlfgained'));
    } else if (truthy(fail.groups.get('nofail'))) {
      flags |= 1;
    }
    if (truthy(fail.groups.get('mlfforget'))) flags |= 2;
    fail.groups.delete('mlfforget');
    if (cached) {
      users = updateUsers(cached, fail.groups.get('user'));
      if (truthy(cached.groups.get('nofail'))) flags |= 4;
      cached.groups.delete('nofail');
      if (truthy(cached.groups.get('mlfgained'))) flags |= 4;
      cached.groups.delete('mlfgained');
      if (flags & 8) cached.pending = false;
      if ((flags & 4) === 0 && !cached.pending) cached.matches = 0;
      for (const [k, v] of fail.groups) if (v !== undefined) cached.groups.set(k, v);
      fail = cached;
      if (flags & 2) this.mlfid.unset(mlfid);
    } else if (!(flags & 2)) {
      users = updateUsers(fail, fail.groups.get('user'));
      this.mlfid.set(mlfid, fail, nowMs);
    }
    const wasPending = fail.pending;
    fail.pending = false;
    if (wasPending || (users && users.size > 1)) {
      fail.groups.delete('nofail');
      fail.groups.delete('mlfgained');
      flags &= ~(8 | 1);
    }
    if ((flags & 1) === 0) {
      let count = fail.nofailMatches + fail.matches;
      fail.nofailMatches = 0;
      if ((flags & 8) === 0) count += matchedCount;
      fail.matches = count;
    } else if ((flags & 3) === 1) {
      fail.nofailMatches += matchedCount;
    }
    return fail;
  }

  private event(line: LogLine, at: number, fail: Fail, id: string): ParsedEvent {
    const g = fail.groups;
    const ip4 = g.get('ip4');
    const ip6 = g.get('ip6');
    const fid = g.get('fid');
    const dns = g.get('dns');
    let ip: string | undefined;
    if (ip4 !== undefined) ip = canonicalIPv4(ip4);
    else if (ip6 !== undefined) ip = canonicalAddress(ip6);
    else if (dns === undefined && fid !== undefined) ip = canonicalAddress(fid);
    let fields: Record<string, string> | undefined;
    for (const [k, v] of g) {
      if (v === undefined || INTERNAL.has(k) || k.startsWith('$') || k.startsWith('_')) continue;
      (fields ??= {})[k] = v;
    }
    // a host name (or an address that is not one) where an address was expected: never resolved
    if (ip === undefined && fid === undefined) (fields ??= {})['rhost'] = id;
    // the parsing stage's one event shape: every key present, in this order
    const event: EventShape = {
      at,
      source: line.source,
      service: this.c.service,
      kind: this.c.kind,
      ip,
      method: undefined,
      path: undefined,
      status: undefined,
      bytes: undefined,
      userAgent: undefined,
      referer: undefined,
      host: undefined,
      user: g.get('user'),
      fields,
    };
    return event as ParsedEvent;
  }
}

function definedGroups(groups: Groups): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of groups) if (v !== undefined && !k.startsWith('$')) out[k] = v;
  return out;
}

function updateUsers(fail: Fail, user: string | undefined): Set<string> | undefined {
  if (truthy(user)) {
    fail.users ??= new Set();
    fail.users.add(user!);
  }
  return fail.users;
}

/**
 * Compiles merged filter files (see `readFail2banFilterFiles`) into a filter. Pure. Throws a
 * MoatError (MOAT_FAIL2BAN_FILTER) naming the file and the option when fail2ban would reject the filter.
 */
export function compileFail2banFilter(ini: Ini, options: Fail2banFilterOptions = {}): Fail2banFilter {
  const file = ini.main;
  const name = options.name ?? (file.split('/').pop() ?? file).replace(/\.(conf|local)$/, '');
  let definition: Fail2banDefinition;
  try {
    definition = resolveDefinition(ini, options.parameters ?? {});
  } catch (error) {
    if (error instanceof IniError || error instanceof DefinitionError) throw filterError(file, error.message);
    throw error;
  }
  if (definition.failregex.length === 0) {
    throw filterError(
      file,
      'no failregex (after applying the parameters)',
      'A filter needs at least one failregex.',
    );
  }
  const useDns = (options.useDns ?? definition.usedns ?? 'warn').toLowerCase();
  const multi = definition.maxlines > 1;
  const prefregex =
    definition.prefregex !== undefined
      ? compileRegex(file, 'prefregex', 0, definition.prefregex, useDns, multi)
      : undefined;
  const failregex = definition.failregex.map((r, k) => compileRegex(file, 'failregex', k, r, useDns, multi));
  const ignoreregex = definition.ignoreregex.map((r, k) =>
    compileRegex(file, 'ignoreregex', k, r, useDns, multi),
  );
  const prefHasId = prefregex?.js.groupNames.some((g) =>
    (FAILURE_ID_GROUPS as readonly string[]).includes(g),
  );
  failregex.forEach((r, k) => {
    if (!prefHasId && !r.js.groupNames.some((g) => (FAILURE_ID_GROUPS as readonly string[]).includes(g))) {
      throw filterError(
        file,
        `failregex ${k + 1} has no <HOST>, <ADDR>, <F-ID> or other failure id: ${definition.failregex[k]}`,
      );
    }
  });
  const journal = (definition.parameters['logtype'] ?? '').toLowerCase() === 'journal';
  let templates: CompiledTemplate[];
  let templateNames: string[];
  try {
    const specs = templatesFor(definition.datepattern);
    templates = compileTemplates(specs);
    templateNames = specs.map((s) => s.name);
  } catch (error) {
    if (error instanceof DatePatternError || error instanceof PythonRegexError) {
      throw filterError(file, `datepattern: ${error.message}`);
    }
    throw error;
  }
  const zone = zoneFromName(options.timeZone ?? 'local');
  if (!zone) {
    throw filterError(
      file,
      `unknown time zone "${options.timeZone}"`,
      'Use local, UTC, an offset like UTC+0200 or an IANA name like Europe/Berlin.',
    );
  }
  const compiled: Compiled = {
    name,
    service: options.service ?? name,
    kind: options.kind ?? 'fail2ban-match',
    files: ini.files,
    definition,
    prefregex,
    failregex,
    ignoreregex,
    templates,
    templateNames,
    zone,
    journal,
    maxlines: definition.maxlines,
    maxLineLength: options.maxLineLength ?? 16_384,
    clock: options.clock,
  };
  const own = new LineParser(compiled);
  const regexes = [
    ...(prefregex ? [{ role: 'prefregex' as const, r: prefregex }] : []),
    ...failregex.map((r) => ({ role: 'failregex' as const, r })),
    ...ignoreregex.map((r) => ({ role: 'ignoreregex' as const, r })),
  ].map(({ role, r }) => ({ role, python: r.python, javascript: `/${r.js.source}/${r.js.flags}` }));
  return {
    format: 'fail2ban',
    name,
    files: ini.files,
    definition,
    dateTemplates: journal ? [] : templateNames,
    regexes,
    stats: own.stats,
    parse: (line) => own.parse(line),
    match: (line) => own.match(line),
    createParser: () => new LineParser(compiled),
  };
}
