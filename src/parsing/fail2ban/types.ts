/**
 * The fail2ban stage's public shapes. A compiled filter is a `Parser` (src/parsing/types.ts): the
 * parsing stage's contract holds (never throws, one event shape, `ip` always a valid address).
 */
import type { Clock } from '../../core/clock.ts';
import type { LogLine, ParsedEvent } from '../../core/events.ts';
import type { Parser } from '../types.ts';
import type { Fail2banDefinition } from './definition.ts';

/** A Parser whose `format` is `fail2ban`. */
export interface Fail2banParser extends Parser {
  readonly format: 'fail2ban';
  /** The event for a line that a failregex matched (and no ignoreregex did); undefined otherwise. Never throws. */
  parse(line: LogLine): ParsedEvent | undefined;
}

export interface Fail2banFilterOptions {
  /**
   * Filter parameters, as in fail2ban's `filter = sshd[mode=aggressive]`: `mode`, `logtype`
   * (`file`, `journal`, `short`, `rfc5424`), `publickey`, `_daemon`, or any `[Init]` value.
   */
  readonly parameters?: Readonly<Record<string, string>>;
  /** Filter name; default: the file name without `.conf`. */
  readonly name?: string;
  /** `ParsedEvent.service`; default: the filter name (`sshd`, `nginx-botsearch`). */
  readonly service?: string;
  /** `ParsedEvent.kind`; default: `fail2ban-match`. */
  readonly kind?: string;
  /**
   * Zone of timestamps that carry no offset: `local` (default, like fail2ban), `UTC`, a fixed offset
   * (`UTC+0200`, `-05:00`, `CET` — fail2ban's `logtimezone` forms) or an IANA name (`Europe/Berlin`).
   */
  readonly timeZone?: string;
  /** fail2ban's `usedns`: `no` makes `<HOST>` match addresses only. Default: the filter's, else `warn`. */
  readonly useDns?: string;
  /** Lines longer than this (in UTF-16 code units) are counted as too long and skipped. Default 16384, as for user regexes elsewhere in parsing. */
  readonly maxLineLength?: number;
  /**
   * Settles the year of year-less dates (syslog) and the day of time-only ones, as in the rest of the
   * parsing stage. Without it, the line's `readAtMs` does.
   */
  readonly clock?: Clock;
}

/** Counters a parser keeps; bad input is counted here, never thrown. */
export interface Fail2banParserStats {
  lines: number;
  /** Lines a failregex matched (events returned). */
  matched: number;
  /** Lines a failregex matched but an ignoreregex dropped. */
  ignored: number;
  /** Lines in which no date was found (they take the previous line's time or the read time). */
  noDate: number;
  tooLong: number;
}

/** What a match carries beyond the event: which regex, and fail2ban's per-connection bookkeeping. */
export interface Fail2banMatch {
  readonly event: ParsedEvent;
  /** Index into the filter's failregex list. */
  readonly failregex: number;
  /** fail2ban's `attempts`: failures gathered for this failure (several lines of one connection). */
  readonly attempts: number;
  /** User names seen on this connection (multi-line filters like sshd). */
  readonly users: readonly string[];
  /** The raw failure id: the address as written in the log, the host name, or `<F-ID>`. */
  readonly id: string;
  /** fail2ban's failure data: every named group that matched, by fail2ban's names (`ip4`, `user`, `mlfid`, …). */
  readonly groups: Readonly<Record<string, string>>;
}

export interface Fail2banLineParser extends Fail2banParser {
  /** Like parse, with the match details. */
  match(line: LogLine): Fail2banMatch | undefined;
  readonly stats: Readonly<Fail2banParserStats>;
}

/** A compiled filter. Its own parse keeps state (last date template, connection cache, line buffer). */
export interface Fail2banFilter extends Fail2banLineParser {
  readonly name: string;
  /** The files read, in the order they were merged. */
  readonly files: readonly string[];
  readonly definition: Fail2banDefinition;
  /** The date templates in use, by fail2ban's names. */
  readonly dateTemplates: readonly string[];
  /** Each failregex as written (tags resolved) and as JavaScript. */
  readonly regexes: readonly {
    readonly role: 'prefregex' | 'failregex' | 'ignoreregex';
    readonly python: string;
    readonly javascript: string;
  }[];
  /** A parser with fresh state for another log stream, sharing the compiled regexes. */
  createParser(): Fail2banLineParser;
}
