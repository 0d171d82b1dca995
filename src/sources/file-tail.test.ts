import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Position } from '../storage/types.ts';
import { createFileTail } from './file-tail.ts';

function collect() {
  const lines: string[] = [];
  let position: Position | undefined;
  const problems: string[] = [];
  return {
    lines,
    problems,
    get position() {
      return position;
    },
    /** The callbacks to hand to the tail. */
    handlers: {
      onLines(batch: string[], at: Position | undefined) {
        lines.push(...batch);
        if (at) position = at;
      },
      onProblem(message: string) {
        problems.push(message);
      },
    },
  };
}

const tmp = () => mkdtempSync(path.join(tmpdir(), 'moat-tail-'));

describe('file tail', () => {
  it('starts at the end by default, like tail -f', async () => {
    const file = path.join(tmp(), 'a.log');
    writeFileSync(file, 'old\n');
    const sink = collect();
    const tail = createFileTail({ path: file, ...sink.handlers });
    await tail.start();
    appendFileSync(file, 'new\n');
    await tail.poll();
    await tail.stop();
    assert.deepEqual(sink.lines, ['new']);
  });

  it('resumes from a stored position: a restart neither skips nor re-reads', async () => {
    const file = path.join(tmp(), 'a.log');
    writeFileSync(file, 'one\ntwo\n');
    const first = collect();
    const tail = createFileTail({ path: file, from: 'start', ...first.handlers });
    await tail.start();
    await tail.stop();
    appendFileSync(file, 'three\npart');
    const second = collect();
    const again = createFileTail({ ...second.handlers, path: file, position: first.position! });
    await again.start();
    appendFileSync(file, 'ial\n');
    await again.poll();
    await again.stop();
    assert.deepEqual([...first.lines, ...second.lines], ['one', 'two', 'three', 'partial']);
  });

  it('finishes a file that was rotated away while moat was down, then reads the new one', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a.log');
    writeFileSync(file, 'one\n');
    const first = collect();
    const tail = createFileTail({ path: file, from: 'start', ...first.handlers });
    await tail.start();
    await tail.stop();
    appendFileSync(file, 'two\n');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'three\n');
    const second = collect();
    const again = createFileTail({ ...second.handlers, path: file, position: first.position! });
    await again.start();
    await again.stop();
    assert.deepEqual(second.lines, ['two', 'three']);
  });

  it('waits for a file (and its directory) that does not exist yet', async () => {
    const dir = path.join(tmp(), 'later');
    const file = path.join(dir, 'a.log');
    const sink = collect();
    const tail = createFileTail({ path: file, from: 'start', pollMs: 10, ...sink.handlers });
    await tail.start();
    mkdirSync(dir);
    writeFileSync(file, 'hello\n');
    for (let i = 0; i < 100 && sink.lines.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await tail.stop();
    assert.deepEqual(sink.lines, ['hello']);
  });

  it('reports a path that is a directory, once, and keeps going', async () => {
    const dir = tmp();
    const sink = collect();
    const tail = createFileTail({ path: dir, ...sink.handlers });
    await tail.start();
    await tail.poll();
    await tail.stop();
    assert.equal(sink.problems.length, 1);
    assert.match(sink.problems[0]!, /not a regular file/);
  });

  it('counts a 1 MB line and binary garbage without losing the lines around them', async () => {
    const file = path.join(tmp(), 'a.log');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from('before\n'),
        Buffer.alloc(1024 * 1024, 0x42),
        Buffer.from('\n'),
        Buffer.from([0, 0xff, 0xfe, 10]),
        Buffer.from('after\n'),
      ]),
    );
    const sink = collect();
    const tail = createFileTail({ path: file, from: 'start', readChunkBytes: 64 * 1024, ...sink.handlers });
    await tail.start();
    await tail.stop();
    assert.equal(sink.lines.length, 4);
    assert.equal(sink.lines[0], 'before');
    assert.equal(sink.lines[1]!.length, 64 * 1024);
    assert.equal(sink.lines[3], 'after');
    assert.equal(tail.stats.oversized, 1);
  });
});
