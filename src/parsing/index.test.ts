import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { isMoatError } from '../core/errors.ts';
import type { ParsedEvent } from '../core/events.ts';
import { createParser, PARSER_FORMATS, type Parser, type ParserSpec } from './index.ts';

const clock = manualClock(Date.parse('2024-06-01T00:00:00Z'));

const SPECS: readonly ParserSpec[] = [
  { format: 'nginx-combined' },
  { format: 'nginx-log-format', logFormat: 'combined' },
  {
    format: 'nginx-log-format',
    logFormat: `log_format j escape=json '{"t":"$time_iso8601","ip":"$remote_addr","r":"$request","s":$status}'`,
  },
  { format: 'nginx-error' },
  { format: 'sshd' },
  { format: 'redis' },
  { format: 'regex', pattern: '^(?<ip>\\S+) (?<user>\\S+) (?<time>\\S+)' },
];

/** One good line per spec above, to mutate. */
const GOOD = [
  '203.0.113.7 - bob [01/May/2024:12:00:00 +0200] "GET /a\\x22b?c HTTP/1.1" 404 153 "https://r/" "Mozilla/5.0"',
  '::ffff:203.0.113.7 - - [01/May/2024:12:00:00 +0000] "POST /x HTTP/1.1" 200 1 "-" "-"',
  '{"t":"2024-05-01T12:00:00+00:00","ip":"203.0.113.7","r":"GET /\\"x HTTP/1.1","s":200}',
  '2024/05/01 12:00:00 [error] 1#1: *2 limiting requests, excess: 5.120 by zone "one", client: 203.0.113.7, server: example.com, request: "GET / HTTP/1.1", host: "example.com"',
  'May  1 12:00:00 web1 sshd[31602]: Failed password for invalid user admin from 2001:db8::7 port 50273 ssh2',
  "1:S 01 May 2024 12:00:00.123 * REPLICAOF 198.51.100.66:24798 enabled (user request from 'id=5 addr=[2001:db8::7]:51234 laddr=192.0.2.5:6379 fd=8 name= user=default')",
  '203.0.113.7 alice 2024-05-01T12:00:00Z',
];

/** A seeded generator (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parseSafely(parser: Parser, text: string): ParsedEvent | undefined {
  try {
    return parser.parse({ source: 'fuzz', text, readAtMs: 0 });
  } catch (error) {
    assert.fail(`${parser.format} threw on ${JSON.stringify(text.slice(0, 200))}: ${String(error)}`);
  }
}

describe('createParser', () => {
  it('builds a parser for every format it lists', () => {
    const built = new Set(SPECS.map((spec) => createParser(spec, clock).format));
    assert.deepEqual([...built].sort(), [...PARSER_FORMATS].sort());
  });

  it('refuses an unusable spec with MOAT_CONFIG_INVALID and a hint', () => {
    const bad: Array<[ParserSpec, string]> = [
      [{ format: 'apache' as ParserSpec['format'] }, 'apache'],
      [{ format: 'nginx-log-format' }, 'logFormat'],
      [{ format: 'nginx-log-format', logFormat: '$a$b' }, 'followed directly by'],
      [{ format: 'regex' }, 'pattern'],
      [{ format: 'regex', pattern: '(?<ip>' }, 'not a valid regular expression'],
      [{ format: 'regex', pattern: '^\\S+$' }, 'no named group'],
      [{ format: 'sshd', timeZone: 'Mars/Olympus' }, 'Mars/Olympus'],
    ];
    for (const [spec, fragment] of bad) {
      assert.throws(
        () => createParser(spec, clock),
        (error: unknown) =>
          isMoatError(error) &&
          error.code === 'MOAT_CONFIG_INVALID' &&
          error.message.includes(fragment) &&
          error.hint.length > 0,
        JSON.stringify(spec),
      );
    }
  });

  it('lets the spec name the service, and the kind for access logs and regex', () => {
    const access = createParser({ format: 'nginx-combined', service: 'api', kind: 'api-request' }, clock);
    const event = access.parse({ source: 's', text: GOOD[0] ?? '', readAtMs: 0 });
    assert.equal(event?.service, 'api');
    assert.equal(event?.kind, 'api-request');
    const ssh = createParser({ format: 'sshd', service: 'bastion', kind: 'ignored' }, clock);
    const failed = ssh.parse({ source: 's', text: GOOD[4] ?? '', readAtMs: 0 });
    assert.equal(failed?.service, 'bastion');
    assert.equal(failed?.kind, 'ssh-auth-failed');
  });
});

describe('bad input is never fatal', () => {
  const parsers = SPECS.map((spec) => createParser(spec, clock));

  it('parses the good line of every format (so the mutations below start from a match)', () => {
    parsers.forEach((parser, i) => {
      assert.ok(parseSafely(parser, GOOD[i] ?? ''), parser.format);
    });
  });

  it('survives every truncation and every one-character corruption of a good line', () => {
    const junk = ['"', ' ', '\\', '[', ']', ':', '\u0000', '\ufffd', '-', '9', '\n'];
    parsers.forEach((parser, i) => {
      const good = GOOD[i] ?? '';
      for (let cut = 0; cut <= good.length; cut++) parseSafely(parser, good.slice(0, cut));
      for (let cut = 0; cut <= good.length; cut++) parseSafely(parser, good.slice(cut));
      for (let at = 0; at < good.length; at++) {
        for (const c of junk) parseSafely(parser, good.slice(0, at) + c + good.slice(at + 1));
      }
    });
  });

  it('survives binary garbage, NUL bytes and invalid UTF-8', () => {
    const random = prng(7);
    const garbage: string[] = [
      '',
      '\u0000'.repeat(1000),
      Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1]).toString('utf8'),
    ];
    for (let n = 0; n < 500; n++) {
      const bytes = Buffer.alloc(Math.floor(random() * 300));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      garbage.push(bytes.toString('utf8'), bytes.toString('latin1'));
    }
    for (const parser of parsers) {
      for (const text of garbage) {
        const event = parseSafely(parser, text);
        // A user's loose regex may match garbage; what it extracts must still be sound.
        if (parser.format === 'regex') assert.equal(event?.ip, undefined);
        else assert.equal(event, undefined, parser.format);
      }
    }
  });

  it('handles 1 MB lines in linear time', () => {
    const mb = 1 << 20;
    const lines = [
      'A'.repeat(mb),
      ' '.repeat(mb),
      '"'.repeat(mb),
      ` - - [${'['.repeat(mb)}`,
      `203.0.113.7 - - [01/May/2024:12:00:00 +0000] "GET /${'a'.repeat(mb)} HTTP/1.1" 200 1 "-" "-"`,
      `203.0.113.7 - ${' ['.repeat(mb / 2)}`,
      `May  1 12:00:00 web1 sshd[1]: Failed password for ${' from '.repeat(mb / 6)}`,
      `2024/05/01 12:00:00 [error] 1#1: *2 ${', client: '.repeat(mb / 10)}`,
      `1:M 01 May 2024 12:00:00.123 # Possible SECURITY ATTACK detected. ${'Connection from '.repeat(mb / 16)}`,
    ];
    for (const parser of parsers) {
      for (const text of lines) {
        const start = performance.now();
        parseSafely(parser, text);
        const ms = performance.now() - start;
        // Linear parsing takes milliseconds; anything quadratic in a 1 MB line (≈ 10^12 steps) takes
        // minutes. The bound sits far from both, so a loaded test machine cannot make it flaky.
        assert.ok(ms < 2000, `${parser.format} took ${ms.toFixed(0)} ms on a 1 MB line`);
      }
    }
  });

  it('still parses a huge but well-formed access line', () => {
    const parser = createParser({ format: 'nginx-combined' }, clock);
    const path = `/${'a'.repeat(1 << 20)}`;
    const event = parser.parse({
      source: 's',
      text: `203.0.113.7 - - [01/May/2024:12:00:00 +0000] "GET ${path} HTTP/1.1" 414 0 "-" "-"`,
      readAtMs: 0,
    });
    assert.equal(event?.path, path);
    assert.equal(event?.status, 414);
  });
});
