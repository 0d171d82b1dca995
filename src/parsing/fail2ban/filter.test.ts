import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manualClock } from '../../core/clock.ts';
import { isMoatError } from '../../core/errors.ts';
import { describeFilter } from './describe.ts';
import { compileFail2banFilter } from './filter.ts';
import { Ini, parseIniFile } from './ini.ts';
import type { Fail2banFilterOptions } from './types.ts';

const compile = (text: string, options: Fail2banFilterOptions = {}) =>
  compileFail2banFilter(new Ini([parseIniFile(text, '/filters/demo.conf')]), { timeZone: 'UTC', ...options });

const DEMO = `
[Definition]
failregex = ^\\s*\\S+ demo\\[\\d+\\]: auth failed for <F-USER>\\S+</F-USER> from <HOST>$
datepattern = {^LN-BEG}
`;
const READ = Date.UTC(2025, 0, 10, 12);
const line = (text: string, readAtMs = READ) => ({ source: 'demo', text, readAtMs });

describe('compiled fail2ban filters', () => {
  it('names the event after the filter unless told otherwise', () => {
    const text = 'Jan 10 11:00:00 web demo[1]: auth failed for root from 192.0.2.1';
    const plain = compile(DEMO).parse(line(text))!;
    assert.equal(plain.service, 'demo');
    assert.equal(plain.kind, 'fail2ban-match');
    const named = compile(DEMO, { service: 'ssh', kind: 'ssh-auth-failed' }).parse(line(text))!;
    assert.equal(named.service, 'ssh');
    assert.equal(named.kind, 'ssh-auth-failed');
  });

  it('never throws on bad input, and counts what it skips', () => {
    const filter = compile(DEMO);
    const garbage = [
      '',
      '\u0000'.repeat(100),
      'Jan 10 11:00:00 web demo[1]: auth failed for r\u0000oot from 192.0.2.1',
      'Jan 10 11:00:00 web demo[1]: auth failed for \ufffd\ufffd from 192.0.2.2',
      String.fromCharCode(...Array.from({ length: 4096 }, (_, k) => (k * 7919) % 65536)),
      `Jan 10 11:00:00 web demo[1]: auth failed for ${'x'.repeat(1_000_000)} from 192.0.2.3`,
      '\ud800 lone surrogate',
    ];
    const started = performance.now();
    const events = garbage.map((t) => filter.parse(line(t)));
    assert.ok(performance.now() - started < 2000, 'bad input is handled quickly');
    assert.equal(events[3]?.ip, '192.0.2.2');
    assert.equal(events[3]?.user, '\ufffd\ufffd');
    assert.equal(events[5], undefined);
    assert.equal(filter.stats.tooLong, 1);
    assert.equal(filter.stats.lines, garbage.length);
  });

  it('keeps each parser’s state apart', () => {
    const conn = `
[Definition]
prefregex = ^\\s*<F-MLFID>c\\[\\d+\\]:</F-MLFID> <F-CONTENT>.+</F-CONTENT>$
failregex = ^<F-NOFAIL>open from</F-NOFAIL> <HOST>$
            ^failed$
datepattern = {^LN-BEG}`;
    const filter = compile(conn);
    const a = filter.createParser();
    const b = filter.createParser();
    a.parse(line('Jan 10 11:00:00 c[1]: open from 192.0.2.9'));
    assert.equal(b.parse(line('Jan 10 11:00:01 c[1]: failed')), undefined);
    assert.equal(a.parse(line('Jan 10 11:00:01 c[1]: failed'))?.ip, '192.0.2.9');
  });

  it('takes the time from the journal (the read time) with logtype=journal', () => {
    const filter = compile(DEMO, { parameters: { logtype: 'journal' } });
    const event = filter.parse(line('web demo[1]: auth failed for root from 192.0.2.1', READ));
    assert.equal(event?.at, READ);
    assert.deepEqual(filter.dateTemplates, []);
  });

  it('settles the year of year-less dates with the clock when given one', () => {
    const clock = manualClock(Date.UTC(2030, 5, 1));
    const event = compile(DEMO, { clock }).parse(
      line('Jan 10 11:00:00 web demo[1]: auth failed for a from 192.0.2.1'),
    );
    assert.equal(new Date(event!.at).toISOString(), '2030-01-10T11:00:00.000Z');
  });

  it('refuses, with MOAT_FAIL2BAN_FILTER naming the problem, what fail2ban would refuse', () => {
    const refused = (text: string, pattern: RegExp, options: Fail2banFilterOptions = {}) =>
      assert.throws(
        () => compile(text, options),
        (e: unknown) => isMoatError(e) && e.code === 'MOAT_FAIL2BAN_FILTER' && pattern.test(e.message),
      );
    refused('[Definition]\nfailregex =', /no failregex/);
    refused('[Definition]\nfailregex = ^(<HOST>', /failregex 1 is not a valid regex/);
    refused('[Definition]\nfailregex = ^login failed$', /no <HOST>/);
    refused('[Definition]\nfailregex = <HOST>\ndatepattern = %Q', /datepattern/);
    refused('[Definition]\nfailregex = <HOST>\nmaxlines = many', /maxlines/);
    refused('[Definition]\nfailregex = %(nothing)s', /nothing/);
    refused('[Definition]\nfailregex = <HOST>', /time zone/, { timeZone: 'Nowhere/Else' });
  });

  it('describes what it imported', () => {
    const text = describeFilter(compile(DEMO), { javascript: true });
    assert.match(text, /^fail2ban filter demo$/m);
    assert.match(text, /failregex: \^\\s\*\\S\+ demo/);
    assert.match(text, /as JavaScript: \//);
    assert.match(text, /date templates \(17\)/);
  });
});
