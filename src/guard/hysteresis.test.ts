import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createStreak, createThreshold } from './hysteresis.ts';

describe('hysteresis', () => {
  it('a streak goes down after N failures in a row and up after M passes, once each', () => {
    const streak = createStreak(2, 2);
    const results = [true, false, true, false, false, false, true, false, true, true, true].map((ok) =>
      streak.update(ok),
    );
    assert.deepEqual(results, [
      undefined,
      undefined,
      undefined,
      undefined,
      'down',
      undefined,
      undefined,
      undefined,
      undefined,
      'up',
      undefined,
    ]);
  });

  it('a threshold alerts at alertAbove and recovers only below recoverBelow', () => {
    const threshold = createThreshold(95, 80);
    const values = [50, 96, 99, 90, 85, 79, 96].map((v) => threshold.update(v));
    assert.deepEqual(values, [undefined, 'down', undefined, undefined, undefined, 'up', 'down']);
  });
});
