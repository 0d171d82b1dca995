import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDurationMs } from './duration.ts';

describe('durations', () => {
  it('formats the largest two units, as ban lengths and scenario windows are shown', () => {
    const cases: [number, string][] = [
      [500, '500ms'],
      [30_000, '30s'],
      [90_000, '1m30s'],
      [300_000, '5m'],
      [14_400_000, '4h'],
      [5_400_000, '1h30m'],
      [604_800_000, '7d'],
      [93_600_000, '1d2h'],
    ];
    for (const [ms, text] of cases) assert.equal(formatDuration(ms), text, String(ms));
  });

  it('reads back what it formats, for whole units', () => {
    for (const text of ['500ms', '30s', '5m', '4h', '7d'])
      assert.equal(formatDuration(parseDurationMs(text)), text);
  });

  it('refuses what is not a duration, naming the setting', () => {
    assert.throws(
      () => parseDurationMs('soon', 'decisions.banTime'),
      /decisions\.banTime: "soon" is not a duration/,
    );
    assert.throws(() => parseDurationMs(-1), /not a duration/);
  });
});
