/**
 * The in-place path (LineSplitter.pushRanges → parseRange) must give exactly what the per-line path
 * (push → parse) gives, on the annotated samples and on hostile input cut into awkward chunks.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { LineSplitter } from '../sources/line-splitter.ts';
import { createNginxCombinedParser } from './nginx-combined.ts';

const samples = readFileSync(
  path.join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'logs', 'nginx-combined.log'),
);
const hostile = Buffer.concat([
  Buffer.from('203.0.113.7 - - [10/Oct/2024:13:55:36 +0000] "GET /a\\x22b HTTP/1.1" 404 12 "-" "x"\r\n'),
  Buffer.from([0xff, 0xfe, 0x00, 0x0a]),
  Buffer.from(
    `198.51.100.1 - - [10/Oct/2024:13:55:37 +0000] "GET /${'A'.repeat(70_000)} HTTP/1.1" 200 1 "-" "y"\n`,
  ),
  Buffer.from('2001:db8::1 - - [10/Oct/2024:13:55:38 +0000] "\\x16\\x03\\x01" 400 0 "-" "-"\n'),
  Buffer.from(
    '::ffff:192.0.2.4 - bob [10/Oct/2024:13:55:39 +0000] "POST /login HTTP/2.0" 401 5 "https://é.example/" "z"',
  ),
]);

for (const [name, input] of [
  ['the annotated samples', samples],
  ['hostile lines', hostile],
] as const) {
  it(`parses ${name} the same in place as line by line, whatever the chunking`, () => {
    for (const chunkBytes of [1, 7, 4096, 1 << 20]) {
      const byLine = createNginxCombinedParser();
      const inPlace = createNginxCombinedParser();
      const lines = new LineSplitter(65_536);
      const ranges = new LineSplitter(65_536);
      const expected: unknown[] = [];
      const actual: unknown[] = [];
      for (let at = 0; at < input.length; at += chunkBytes) {
        const chunk = input.subarray(at, at + chunkBytes);
        for (const text of lines.push(chunk)) expected.push(byLine.parse({ source: 's', text, readAtMs: 0 }));
        ranges.pushRanges(chunk, (text, bounds, count) => {
          for (let i = 0; i < count; i++) {
            actual.push(inPlace.parseRange(text, bounds[2 * i]!, bounds[2 * i + 1]!, 's', 0));
          }
        });
      }
      for (const text of lines.flush()) expected.push(byLine.parse({ source: 's', text, readAtMs: 0 }));
      for (const text of ranges.flush()) actual.push(inPlace.parseRange(text, 0, text.length, 's', 0));
      assert.ok(
        expected.some((e) => e !== undefined),
        'some lines must parse',
      );
      assert.deepEqual(actual, expected, `chunks of ${chunkBytes} bytes`);
    }
  });
}
