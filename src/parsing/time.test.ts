import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../core/clock.ts';
import { isMoatError } from '../core/errors.ts';
import { nginxTimeLocalAt, parseTimestamp, syslogTimeAt, timeContext } from './time.ts';

const iso = (ms: number) => new Date(ms).toISOString();

describe('timestamps', () => {
  it('reads $time_local with its own offset', () => {
    assert.equal(iso(nginxTimeLocalAt('01/May/2024:12:00:00 +0000', 0)), '2024-05-01T12:00:00.000Z');
    assert.equal(iso(nginxTimeLocalAt('01/May/2024:12:00:00 +0200', 0)), '2024-05-01T10:00:00.000Z');
    assert.equal(iso(nginxTimeLocalAt('31/Dec/2023:23:59:59 -0130', 0)), '2024-01-01T01:29:59.000Z');
    assert.equal(iso(nginxTimeLocalAt('x 29/Feb/2024:00:00:00 +0000', 2)), '2024-02-29T00:00:00.000Z');
  });

  it('rejects a $time_local that is not one', () => {
    for (const text of [
      '01/Mai/2024:12:00:00 +0000',
      '01/May/2024 12:00:00 +0000',
      '01/May/2024:25:00:00 +0000',
      '1/May/2024:12:00:00 +0000',
      '01/May/2024:12:00:00 0000',
      '01/May/2024:12:00:00',
    ]) {
      assert.ok(Number.isNaN(nginxTimeLocalAt(text, 0)), text);
    }
  });

  it('puts a year-less syslog date in the current year, or the year before when it would be ahead', () => {
    const clock = manualClock(Date.parse('2025-01-01T00:30:00Z'));
    const ctx = timeContext('UTC', clock);
    assert.equal(iso(syslogTimeAt(ctx, 'Dec 31 23:59:58', 0)), '2024-12-31T23:59:58.000Z');
    assert.equal(iso(syslogTimeAt(ctx, 'Jan  1 00:00:03', 0)), '2025-01-01T00:00:03.000Z');
    // A few hours ahead (a clock skew, a zone mix-up) stays in this year.
    assert.equal(iso(syslogTimeAt(ctx, 'Jan  1 05:00:00', 0)), '2025-01-01T05:00:00.000Z');
    clock.set(Date.parse('2025-07-01T00:00:00Z'));
    assert.equal(iso(syslogTimeAt(ctx, 'Jun 30 10:00:00', 0)), '2025-06-30T10:00:00.000Z');
    assert.equal(iso(syslogTimeAt(ctx, 'Aug  2 10:00:00', 0)), '2024-08-02T10:00:00.000Z');
  });

  it('reads zone-less times in the configured zone', () => {
    const clock = manualClock(Date.parse('2024-06-01T00:00:00Z'));
    assert.equal(
      iso(parseTimestamp(timeContext('+02:00', clock), '2024/05/01 12:00:00')),
      '2024-05-01T10:00:00.000Z',
    );
    assert.equal(
      iso(parseTimestamp(timeContext('-0530', clock), '2024-05-01T12:00:00')),
      '2024-05-01T17:30:00.000Z',
    );
    assert.equal(
      iso(parseTimestamp(timeContext('UTC', clock), '01 May 2024 12:00:00.123')),
      '2024-05-01T12:00:00.123Z',
    );
    // An explicit offset in the text wins over the configured zone.
    assert.equal(
      iso(parseTimestamp(timeContext('+02:00', clock), '2024-05-01T12:00:00Z')),
      '2024-05-01T12:00:00.000Z',
    );
  });

  it('reads every form a (?<time>…) group may hold, and nothing else', () => {
    const ctx = timeContext('UTC', manualClock(Date.parse('2024-06-01T00:00:00Z')));
    const cases: Record<string, string> = {
      '2024-05-01T12:00:00Z': '2024-05-01T12:00:00.000Z',
      '2024-05-01 12:00:00.5+01:00': '2024-05-01T11:00:00.500Z',
      '2024-05-01T12:00:00.123456789+0000': '2024-05-01T12:00:00.123Z',
      '01/May/2024:12:00:00 +0000': '2024-05-01T12:00:00.000Z',
      '2024/05/01 12:00:00': '2024-05-01T12:00:00.000Z',
      'May  1 12:00:00': '2024-05-01T12:00:00.000Z',
      'May 1 12:00:00': '2024-05-01T12:00:00.000Z',
      '01 May 2024 12:00:00.123': '2024-05-01T12:00:00.123Z',
      '1714564800': '2024-05-01T12:00:00.000Z',
      '1714564800.123': '2024-05-01T12:00:00.123Z',
      '1714564800123': '2024-05-01T12:00:00.123Z',
    };
    for (const [text, want] of Object.entries(cases))
      assert.equal(iso(parseTimestamp(ctx, text)), want, text);
    for (const text of [
      '',
      'yesterday',
      '2024-05-01',
      '2024-13-01T00:00:00Z',
      'May 1 12:00:00 extra',
      '12',
      '2024-05-01T12:00:00Zjunk',
    ]) {
      assert.ok(Number.isNaN(parseTimestamp(ctx, text)), text);
    }
  });

  it('refuses a time zone it cannot read, naming the fix', () => {
    for (const zone of ['Europe/Paris', '+2', '+25:00', 'GMT+1']) {
      assert.throws(
        () => timeContext(zone, manualClock()),
        (error: unknown) =>
          isMoatError(error) && error.code === 'MOAT_CONFIG_INVALID' && error.message.includes(zone),
      );
    }
  });
});
