/**
 * The parsing stage's contract: one Parser per configured source, LogLine in, ParsedEvent or
 * undefined out. Parsers are pure (no IO, no Date.now(): time comes from the line, else from
 * `line.readAtMs`, and the injected Clock only settles the year of year-less timestamps).
 */
import type { LogLine, ParsedEvent } from '../core/events.ts';

export type ParserFormat = 'nginx-combined' | 'nginx-error' | 'sshd' | 'redis' | 'regex' | 'nginx-log-format';

export const PARSER_FORMATS: readonly ParserFormat[] = [
  'nginx-combined',
  'nginx-error',
  'sshd',
  'redis',
  'regex',
  'nginx-log-format',
];

export interface ParserSpec {
  readonly format: ParserFormat;
  /**
   * For `nginx-log-format`: the pasted `log_format` directive (`log_format main '…' '…';`), or just its
   * quoted strings, or the bare format text, or the name `combined`.
   */
  readonly logFormat?: string;
  /** For `regex`: a JavaScript regular expression with named groups (`(?<ip>…)`, `(?<user>…)`, `(?<time>…)`, …). */
  readonly pattern?: string;
  /** Overrides the event's `service` (defaults: `http`, `ssh`, `redis`, `custom` for regex). */
  readonly service?: string;
  /** Overrides the event's `kind` for `regex` (default `match`) and the nginx access formats (default `http-request`). */
  readonly kind?: string;
  /**
   * How to read timestamps that carry no zone (syslog, nginx error log, Redis log, zone-less ISO):
   * `local` (the default: the machine's zone, which is what those daemons write), `UTC`, or a fixed
   * offset like `+02:00`.
   */
  readonly timeZone?: string;
}

/**
 * Turns one raw line into one typed event. Contract:
 * - returns undefined for a line it does not recognise (the caller counts those), never throws, whatever
 *   the line holds (1 MB, binary garbage, NUL bytes, U+FFFD from invalid UTF-8);
 * - `at` is the line's own timestamp when it has one, else `line.readAtMs`;
 * - `ip` is a valid address, IPv4-mapped IPv6 unwrapped; a non-address where one was expected (a host
 *   name logged by sshd with UseDNS) goes to `fields.rhost` instead;
 * - every event has the same object shape: absent fields are own properties holding `undefined`
 *   (one hidden class keeps the detection stage's property reads monomorphic);
 * - a parser may keep a little bounded state between lines of its own source (Redis remembers the
 *   master it is connecting to), so use one parser per source.
 */
export interface Parser {
  readonly format: string;
  parse(line: LogLine): ParsedEvent | undefined;
}

/**
 * A Parser that can also read a line in place, inside a larger text (`text.slice(start, end)` is the
 * line): no substring per line, and V8 reads the characters of a flat text faster than those of a
 * slice. The character at `end` must be the line's `\n` or `\r`, or `end` the text's length.
 */
export interface RangeParser extends Parser {
  parseRange(
    text: string,
    start: number,
    end: number,
    source: string,
    readAtMs: number,
  ): ParsedEvent | undefined;
}
