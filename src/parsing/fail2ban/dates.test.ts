/**
 * fail2ban's date templates, as data: a datepattern (undefined = fail2ban's defaults), a line, the
 * date text found (cut out of the line before the failregexes run) and the time it gives, read on
 * 2025-03-10T12:00:00Z in UTC. The expectations agree with fail2ban 1.0.2's DateDetector.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileTemplates, DateDetector, DatePatternError, templatesFor } from './dates.ts';
import { zoneFromName } from './time-zone.ts';

const NOW = Date.UTC(2025, 2, 10, 12);

// [datepattern, line, date text or null, ISO time or null]
const CASES: [string | undefined, string, string | null, string | null][] = [
  [undefined, 'Mar  9 08:01:02 host sshd[1]: x', 'Mar  9 08:01:02', '2025-03-09T08:01:02.000Z'],
  [undefined, 'Dec 31 23:59:59 host sshd[1]: x', 'Dec 31 23:59:59', '2024-12-31T23:59:59.000Z'],
  [undefined, 'Mar 11 08:00:00 host x', 'Mar 11 08:00:00', '2025-03-11T08:00:00.000Z'],
  [
    undefined,
    '2025-03-09T08:01:02.123+02:00 host x',
    '2025-03-09T08:01:02.123+02:00',
    '2025-03-09T06:01:02.123Z',
  ],
  [undefined, '2025/03/09 08:01:02 [error] 1#1: x', '2025/03/09 08:01:02', '2025-03-09T08:01:02.000Z'],
  [
    undefined,
    '1.2.3.4 - - [09/Mar/2025:08:01:02 -0500] "GET / HTTP/1.1" 404',
    '09/Mar/2025:08:01:02 -0500',
    '2025-03-09T13:01:02.000Z',
  ],
  [undefined, '1741507262 x', '1741507262', '2025-03-09T08:01:02.000Z'],
  [undefined, '[1741507262.500] x', '1741507262.500', '2025-03-09T08:01:02.500Z'],
  [undefined, '[1741507262.5] x', '1741507262', '2025-03-09T08:01:02.000Z'],
  [undefined, 'no date here', null, null],
  [undefined, 'Feb 30 08:00:00 host x', 'Feb 30 08:00:00', null],
  ['{^LN-BEG}', 'x Mar  9 08:01:02 host', null, null],
  ['{^LN-BEG}', 'Mar  9 08:01:02 host', 'Mar  9 08:01:02', '2025-03-09T08:01:02.000Z'],
  [
    '^[^\\[]*\\[({DATE})',
    '1.2.3.4 - - [09/Mar/2025:08:01:02 +0000] "GET /2025-01-01 01:01:01"',
    '09/Mar/2025:08:01:02 +0000',
    '2025-03-09T08:01:02.000Z',
  ],
  ['%d.%m.%Y %H:%M', 'at 09.03.2025 08:01 x', '09.03.2025 08:01', '2025-03-09T08:01:00.000Z'],
  ['{^LN-BEG}%%ExY%%Exm%%Exd', '20250309 x', null, null],
  ['{^LN-BEG}%ExY%Exm%Exd %ExH%ExM%ExS', '20250309 080102 x', '20250309 080102', '2025-03-09T08:01:02.000Z'],
  [
    '%b %d, %Y %I:%M:%S %p',
    'Mar 09, 2025 08:01:02 PM x',
    'Mar 09, 2025 08:01:02 PM',
    '2025-03-09T20:01:02.000Z',
  ],
  ['{^LN-BEG}%H:%M:%S', '08:01:02 x', '08:01:02', '2025-03-10T08:01:02.000Z'],
  ['{^LN-BEG}%H:%M:%S', '13:01:02 x', '13:01:02', '2025-03-09T13:01:02.000Z'],
  ['^\\[{EPOCH}\\]', '[1741507262] x', '[1741507262]', '2025-03-09T08:01:02.000Z'],
  ['LEPOCH', '1741507262123 x', '1741507262123', '2025-03-09T08:01:02.123Z'],
  ['TAI64N', '@4000000067cd4abe00000000 x', '@4000000067cd4abe00000000', '2025-03-09T08:01:02.000Z'],
  ['{NONE}', 'Mar  9 08:01:02 x', null, null],
];

describe('fail2ban dates', () => {
  it('finds and reads dates the way fail2ban’s templates do', () => {
    const problems: string[] = [];
    for (const [pattern, line, text, iso] of CASES) {
      const detector = new DateDetector(compileTemplates(templatesFor(pattern)), zoneFromName('UTC')!);
      const found = detector.find(line);
      const foundText = found && found.end > found.start ? line.slice(found.start, found.end) : null;
      const at = found && foundText !== null ? detector.timeOf(found, NOW) : undefined;
      const gotIso = at === undefined ? null : new Date(at).toISOString();
      if (foundText !== text || gotIso !== iso) {
        problems.push(
          `${pattern ?? 'defaults'} on "${line}": ${foundText} → ${gotIso}, expected ${text} → ${iso}`,
        );
      }
    }
    assert.deepEqual(problems, []);
  });

  it('reads zone-less dates in the zone given: local, fixed offsets and IANA names', () => {
    const templates = compileTemplates(templatesFor('{^LN-BEG}%Y-%m-%d %H:%M:%S'));
    const at = (zone: string, line: string) => {
      const detector = new DateDetector(templates, zoneFromName(zone)!);
      return new Date(detector.timeOf(detector.find(line)!, NOW)!).toISOString();
    };
    assert.equal(at('UTC+0200', '2025-07-01 12:00:00 x'), '2025-07-01T10:00:00.000Z');
    assert.equal(at('CET', '2025-07-01 12:00:00 x'), '2025-07-01T11:00:00.000Z');
    assert.equal(at('Europe/Berlin', '2025-07-01 12:00:00 x'), '2025-07-01T10:00:00.000Z');
    assert.equal(at('Europe/Berlin', '2025-01-01 12:00:00 x'), '2025-01-01T11:00:00.000Z');
    assert.equal(at('America/New_York', '2025-03-09 03:30:00 x'), '2025-03-09T07:30:00.000Z');
    assert.equal(zoneFromName('Mars/Olympus'), undefined);
  });

  it('refuses an unknown directive and a template listed twice', () => {
    assert.throws(() => templatesFor('%Q %H'), DatePatternError);
    assert.throws(() => templatesFor('%H:%M\n%H:%M'), DatePatternError);
  });
});
