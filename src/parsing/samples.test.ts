/**
 * Walks every annotated sample log in test/fixtures/logs/. Each sample line is preceded by
 * `# expect: {json}` (a subset of the ParsedEvent it must produce) or `# expect: none`.
 * Directives: `# spec: {json}` starts a new parser, `# clock: ISO` sets the injected clock (and the
 * read time of the lines that follow). In an expectation, `at` is an ISO string, `null` means
 * "absent", and `fields` is matched key by key.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import type { ParsedEvent } from '../core/events.ts';
import { parseAddress } from '../core/ip.ts';
import { createParser, type Parser, type ParserSpec } from './index.ts';

export const LOGS_DIR = path.join(import.meta.dirname, '../../test/fixtures/logs');

export interface Sample {
  readonly file: string;
  readonly lineNumber: number;
  readonly text: string;
  readonly expect: Record<string, unknown> | 'none';
  readonly spec: ParserSpec;
  readonly specIndex: number;
  readonly clockMs: number;
}

/** Reads one annotated sample file into its samples, in order. */
export function readSamples(file: string): Sample[] {
  const format = path.basename(file, '.log');
  let spec: ParserSpec = { format: format as ParserSpec['format'], timeZone: 'UTC' };
  let specIndex = 0;
  let clockMs = Date.parse('2024-06-01T00:00:00Z');
  let pending: Sample['expect'] | undefined;
  const samples: Sample[] = [];
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, index) => {
    const lineNumber = index + 1;
    if (line.startsWith('# spec: ')) {
      spec = JSON.parse(line.slice(8)) as ParserSpec;
      specIndex++;
    } else if (line.startsWith('# clock: ')) {
      clockMs = Date.parse(line.slice(9));
      assert.ok(!Number.isNaN(clockMs), `${file}:${lineNumber}: bad clock`);
    } else if (line.startsWith('# expect: ')) {
      assert.equal(pending, undefined, `${file}:${lineNumber}: two expectations in a row`);
      const body = line.slice(10).trim();
      pending = body === 'none' ? 'none' : (JSON.parse(body) as Record<string, unknown>);
    } else if (line.startsWith('#') || line === '') {
      // a comment or a blank line
    } else {
      assert.notEqual(
        pending,
        undefined,
        `${file}:${lineNumber}: a sample line without "# expect:" above it`,
      );
      samples.push({ file, lineNumber, text: line, expect: pending ?? 'none', spec, specIndex, clockMs });
      pending = undefined;
    }
  });
  assert.equal(pending, undefined, `${file}: an expectation with no sample line after it`);
  return samples;
}

export function sampleFiles(): string[] {
  return readdirSync(LOGS_DIR)
    .filter((name) => name.endsWith('.log'))
    .sort()
    .map((name) => path.join(LOGS_DIR, name));
}

const SHAPE = [
  'at',
  'source',
  'service',
  'kind',
  'ip',
  'method',
  'path',
  'status',
  'bytes',
  'userAgent',
  'referer',
  'host',
  'user',
  'fields',
];

/** What every event must satisfy, whatever the format. */
function checkInvariants(event: ParsedEvent, source: string): void {
  assert.deepEqual(Object.keys(event), SHAPE, 'every event has the one shared shape');
  assert.ok(Number.isFinite(event.at), 'at is a number');
  assert.equal(event.source, source);
  assert.ok(event.service.length > 0 && event.kind.length > 0);
  if (event.ip !== undefined) {
    const address = parseAddress(event.ip);
    assert.ok(address, `ip ${event.ip} is an address`);
    assert.ok(!event.ip.toLowerCase().startsWith('::ffff:'), 'IPv4-mapped addresses are unwrapped');
  }
  if (event.fields !== undefined) {
    for (const value of Object.values(event.fields)) assert.equal(typeof value, 'string');
  }
}

function checkExpectation(event: ParsedEvent | undefined, expect: Sample['expect']): void {
  if (expect === 'none') {
    assert.equal(event, undefined, 'the line must not match');
    return;
  }
  assert.ok(event, 'the line must match');
  const actual = event as unknown as Record<string, unknown>;
  for (const [key, want] of Object.entries(expect)) {
    if (key === 'at') {
      assert.equal(new Date(event.at).toISOString(), want, 'at');
    } else if (key === 'fields') {
      if (want === null) {
        assert.equal(event.fields, undefined, 'fields absent');
        continue;
      }
      for (const [name, value] of Object.entries(want as Record<string, unknown>)) {
        assert.equal(event.fields?.[name], value === null ? undefined : value, `fields.${name}`);
      }
    } else {
      assert.deepEqual(actual[key], want === null ? undefined : want, key);
    }
  }
}

for (const file of sampleFiles()) {
  describe(`annotated samples in ${path.basename(file)}`, () => {
    const clock = manualClock();
    const parsers = new Map<number, Parser>();
    for (const sample of readSamples(file)) {
      const preview = sample.text.length > 70 ? `${sample.text.slice(0, 70)}…` : sample.text;
      const want = sample.expect === 'none' ? 'no match' : String(sample.expect['kind'] ?? 'a match');
      it(`line ${sample.lineNumber} gives ${want}: ${preview}`, () => {
        let parser = parsers.get(sample.specIndex);
        if (!parser) {
          parser = createParser(sample.spec, clock);
          parsers.set(sample.specIndex, parser);
        }
        clock.set(sample.clockMs);
        const source = `fixture:${path.basename(file)}`;
        const event = parser.parse({ source, text: sample.text, readAtMs: sample.clockMs });
        if (event) checkInvariants(event, source);
        checkExpectation(event, sample.expect);
      });
    }
  });
}

describe('combined expressed as a log_format', () => {
  const combinedSamples = readSamples(path.join(LOGS_DIR, 'nginx-combined.log'));
  const clock = manualClock(Date.parse('2024-06-01T00:00:00Z'));
  const handWritten = createParser({ format: 'nginx-combined' }, clock);
  const compiled = createParser(
    {
      format: 'nginx-log-format',
      logFormat: `log_format combined '$remote_addr - $remote_user [$time_local] '
                    '"$request" $status $body_bytes_sent '
                    '"$http_referer" "$http_user_agent"';`,
    },
    clock,
  );
  const both = (text: string) => [
    handWritten.parse({ source: 's', text, readAtMs: 0 }),
    compiled.parse({ source: 's', text, readAtMs: 0 }),
  ];

  it('agrees with the hand-written parser on every combined sample', () => {
    assert.ok(combinedSamples.length > 20);
    for (const sample of combinedSamples) {
      const [hand, generic] = both(sample.text);
      assert.deepEqual(generic, hand, `line ${sample.lineNumber}`);
    }
  });

  it('agrees on every truncation of every combined sample', () => {
    for (const sample of combinedSamples) {
      for (let cut = 0; cut < sample.text.length; cut++) {
        const [hand, generic] = both(sample.text.slice(0, cut));
        assert.deepEqual(generic, hand, `line ${sample.lineNumber} cut at ${cut}`);
      }
    }
  });
});
