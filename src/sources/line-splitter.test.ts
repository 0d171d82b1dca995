import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from './line-splitter.ts';

const b = (text: string) => Buffer.from(text, 'utf8');

describe('LineSplitter', () => {
  it('splits complete lines and keeps the partial one for the next chunk', () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push(b('a\nbb\ncc')), ['a', 'bb']);
    assert.deepEqual(splitter.push(b('c\r\nd')), ['ccc']);
    assert.equal(splitter.pendingBytes, 1);
    assert.deepEqual(splitter.flush(), ['d']);
    assert.deepEqual(splitter.flush(), []);
  });

  it('keeps empty lines', () => {
    assert.deepEqual(new LineSplitter().push(b('\n\nx\n')), ['', '', 'x']);
  });

  it('reassembles a UTF-8 character split across chunks', () => {
    const splitter = new LineSplitter();
    const bytes = b('né\n');
    assert.deepEqual(splitter.push(bytes.subarray(0, 2)), []);
    assert.deepEqual(splitter.push(bytes.subarray(2)), ['né']);
  });

  it('cuts a 1 MB line at the limit, counts it, and goes on with the next line intact', () => {
    const splitter = new LineSplitter(1000);
    const huge = Buffer.alloc(1024 * 1024, 0x41);
    const lines = [
      ...splitter.push(huge.subarray(0, 300_000)),
      ...splitter.push(huge.subarray(300_000)),
      ...splitter.push(b('\nnext\n')),
    ];
    assert.deepEqual(
      lines.map((l) => l.length),
      [1000, 4],
    );
    assert.equal(lines[1], 'next');
    assert.equal(splitter.stats.oversized, 1);
  });

  it('cuts an oversized line that arrives whole in one chunk', () => {
    const splitter = new LineSplitter(10);
    assert.deepEqual(splitter.push(b('0123456789ABCDEF\nok\n')), ['0123456789', 'ok']);
    assert.equal(splitter.stats.oversized, 1);
  });

  it('turns invalid UTF-8, NUL bytes and binary garbage into text without throwing', () => {
    const splitter = new LineSplitter();
    const lines = splitter.push(Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0xc3, 0x28, 0x0a]));
    assert.equal(lines.length, 2);
    assert.equal(lines[0], '\ufffd\ufffd\u0000A');
  });
});
