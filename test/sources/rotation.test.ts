/**
 * Rotation torture: a writer appends 1,000,000 lines across 100+ rotations of every kind while the
 * tail reads; every line must arrive exactly once (count, per-line seen-once bitmap, checksum).
 *
 * Kinds: rename (with the writer still appending to the old file after the rename, as nginx does
 * until it reopens), copytruncate, delete and recreate, truncate after a copy under a date-style
 * name, then symlink retargeting. Before each rotation the tail is allowed to catch up once, then
 * one more batch of 2,000 lines is written that it has not read: those lines must be recovered from
 * the old handle or from the rotated copy. (In production rotations are hours apart; a file that is
 * created, filled and copytruncated before the tail reads a byte of it cannot be told apart from an
 * untouched empty file.) Writes and reads race freely otherwise.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  renameSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createFileTail } from '../../src/sources/file-tail.ts';

const TOTAL = 1_000_000;
const BATCH = 2000;
const ROTATE_EVERY = 3; // batches, plus the unread one → a rotation every 8,000 lines, 124 in all

it('delivers every line exactly once across 124 rotations of five kinds', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'moat-rotate-'));
  const real = (n: number) => path.join(dir, `real-${n}.log`);
  const log = path.join(dir, 'app.log'); // for the symlink kind this is a symlink to real-N.log
  let fd = openSync(log, 'a');
  let realCount = 0;

  const seen = new Uint8Array(TOTAL);
  let received = 0;
  let duplicates = 0;
  let checksum = 0n;
  const tail = createFileTail({
    path: log,
    from: 'start',
    pollMs: 20,
    rotateWaitMs: 200,
    onLines(lines) {
      for (const line of lines) {
        const seq = Number(line.slice(4, 11));
        if (seen[seq]) duplicates++;
        seen[seq] = 1;
        received++;
        checksum += BigInt(seq);
      }
    },
  });
  await tail.start();

  // Four kinds on a regular file, in turn; then the path becomes a symlink that is only ever
  // retargeted (a symlinked log is rotated by pointing it elsewhere, not by renaming the link).
  const kinds = ['rename', 'copytruncate', 'recreate', 'dateext-truncate'] as const;
  const SYMLINK_FROM = 100;
  let rotations = 0;
  let seq = 0;
  for (let batch = 0; seq < TOTAL; batch++) {
    let chunk = '';
    for (let i = 0; i < BATCH && seq < TOTAL; i++, seq++)
      chunk += `seq=${String(seq).padStart(7, '0')} GET /index.html 200\n`;
    writeSync(fd, chunk);
    if (batch % ROTATE_EVERY !== ROTATE_EVERY - 1 || seq >= TOTAL) {
      if (batch % 3 === 0) await sleep(0);
      continue;
    }
    const kind = rotations >= SYMLINK_FROM ? 'symlink' : kinds[rotations % kinds.length]!;
    await tail.poll(); // caught up once…
    let unread = ''; // …then a batch it has not seen, written just before the rotation
    for (let i = 0; i < BATCH && seq < TOTAL; i++, seq++)
      unread += `seq=${String(seq).padStart(7, '0')} unread\n`;
    writeSync(fd, unread);
    switch (kind) {
      case 'rename': {
        renameSync(log, `${log}.1`);
        writeSync(fd, ''); // the writer still holds the old file…
        let late = '';
        for (let i = 0; i < 100 && seq < TOTAL; i++, seq++)
          late += `seq=${String(seq).padStart(7, '0')} late\n`;
        writeSync(fd, late); // …and appends to it before it reopens
        closeSync(fd);
        fd = openSync(log, 'a');
        break;
      }
      case 'copytruncate':
        copyFileSync(log, `${log}.1`);
        truncateSync(log, 0);
        break;
      case 'recreate':
        unlinkSync(log);
        closeSync(fd);
        fd = openSync(log, 'a');
        break;
      case 'dateext-truncate':
        copyFileSync(log, `${log}-2026112${rotations % 10}`);
        truncateSync(log, 0);
        break;
      case 'symlink': {
        closeSync(fd);
        const target = real(realCount++);
        fd = openSync(target, 'a');
        const link = `${log}.tmp-link`;
        symlinkSync(target, link);
        renameSync(link, log); // atomic retarget
        break;
      }
    }
    rotations++;
  }
  closeSync(fd);
  for (let i = 0; i < 1000 && received < TOTAL; i++) await sleep(10);
  await sleep(300); // anything extra (a duplicate) would show up now
  await tail.poll();
  await tail.stop();

  let missing = 0;
  for (let i = 0; i < TOTAL; i++) if (!seen[i]) missing++;
  assert.ok(rotations >= 100, `only ${rotations} rotations`);
  assert.deepEqual({ received, missing, duplicates }, { received: TOTAL, missing: 0, duplicates: 0 });
  assert.equal(checksum, (BigInt(TOTAL) * BigInt(TOTAL - 1)) / 2n);
  // The tail really saw each path: identity changes (rename, recreate, symlink), truncations
  // (copytruncate, dateext), and unread bytes recovered from the rotated copies.
  assert.ok(tail.stats.rotations >= 70, `rotations seen: ${tail.stats.rotations}`);
  assert.ok(tail.stats.truncations >= 45, `truncations seen: ${tail.stats.truncations}`);
  assert.ok(tail.stats.recoveredBytes > 45 * BATCH * 20, `recovered: ${tail.stats.recoveredBytes}`);
});
