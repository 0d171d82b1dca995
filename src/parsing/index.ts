/**
 * The parsing stage: `createParser(spec, clock)` is the one place a format name becomes a Parser.
 * Everything is compiled here, once (log_format directives, regexes, the time zone); parse() then
 * only reads the line.
 */
import type { Clock } from '../core/clock.ts';
import { MoatError } from '../core/errors.ts';
import { createNginxCombinedParser } from './nginx-combined.ts';
import { createNginxErrorParser } from './nginx-error.ts';
import { createNginxLogFormatParser } from './nginx-log-format.ts';
import { createRedisParser } from './redis.ts';
import { createRegexParser } from './regex.ts';
import { createSshdParser } from './sshd.ts';
import { timeContext } from './time.ts';
import { PARSER_FORMATS, type Parser, type ParserSpec } from './types.ts';

export type { Parser, ParserFormat, ParserSpec } from './types.ts';
export { PARSER_FORMATS } from './types.ts';

function optionsOf(spec: ParserSpec): { service?: string; kind?: string } {
  const options: { service?: string; kind?: string } = {};
  if (spec.service !== undefined) options.service = spec.service;
  if (spec.kind !== undefined) options.kind = spec.kind;
  return options;
}

/**
 * Builds the parser a source's spec asks for. Throws MOAT_CONFIG_INVALID (naming the key and the fix)
 * for an unknown format, a missing or unusable `logFormat` / `pattern`, or a bad `timeZone`.
 */
export function createParser(spec: ParserSpec, clock: Clock): Parser {
  const ctx = timeContext(spec.timeZone, clock);
  const options = optionsOf(spec);
  switch (spec.format) {
    case 'nginx-combined':
      return createNginxCombinedParser(options);
    case 'nginx-log-format':
      if (spec.logFormat === undefined) {
        throw new MoatError('MOAT_CONFIG_INVALID', 'format nginx-log-format needs logFormat', {
          hint: "Paste the log_format directive from your nginx.conf: logFormat: log_format main '...';",
        });
      }
      return createNginxLogFormatParser(spec.logFormat, ctx, options);
    case 'nginx-error':
      return createNginxErrorParser(ctx, options);
    case 'sshd':
      return createSshdParser(ctx, options);
    case 'redis':
      return createRedisParser(ctx, options);
    case 'regex':
      if (spec.pattern === undefined) {
        throw new MoatError('MOAT_CONFIG_INVALID', 'format regex needs pattern', {
          hint: 'Give a regular expression with named groups: pattern: "^(?<ip>\\\\S+) .*"',
        });
      }
      return createRegexParser(spec.pattern, ctx, options);
    default:
      throw new MoatError(
        'MOAT_CONFIG_INVALID',
        `format "${String((spec as { format: unknown }).format)}" is not known`,
        {
          hint: `Use one of: ${PARSER_FORMATS.join(', ')}.`,
        },
      );
  }
}
