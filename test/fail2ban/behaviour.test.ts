/**
 * moat's own fail2ban filters and annotated logs (test/fail2ban/fixtures): includes, `.local` and
 * `.d/` overrides, `%(known/…)s`, filter modes, tags, addresses, dates, connection ids and multi-line
 * failures. Each log line is preceded by `# expect: {json}` (a subset of the event, `at` as ISO,
 * `null` = absent) or `# expect: none`; `# filter: NAME[params]` starts a fresh parser and
 * `# now: ISO` sets the read time of the lines that follow. The expectations were checked against
 * fail2ban-regex (see the logs' comments where the daemon and fail2ban-regex count differently).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ParsedEvent } from '../../src/core/events.ts';
import { loadFail2banFilter, parseFilterSpec } from '../../src/parsing/fail2ban/index.ts';
import type { Fail2banFilter } from '../../src/parsing/fail2ban/types.ts';
import { fsReader } from '../../src/daemon/fs-reader.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

function check(event: ParsedEvent, expected: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, want] of Object.entries(expected)) {
    const got = (event as unknown as Record<string, unknown>)[key];
    if (key === 'at') {
      if (new Date(event.at).toISOString() !== new Date(String(want)).toISOString()) {
        problems.push(`at is ${new Date(event.at).toISOString()}, expected ${String(want)}`);
      }
    } else if (key === 'fields' && want !== null) {
      for (const [name, value] of Object.entries(want as Record<string, string>)) {
        if (event.fields?.[name] !== value) {
          problems.push(
            `fields.${name} is ${JSON.stringify(event.fields?.[name])}, expected ${JSON.stringify(value)}`,
          );
        }
      }
    } else if ((got ?? null) !== want) {
      problems.push(`${key} is ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    }
  }
  return problems;
}

describe("moat's fail2ban filters on annotated logs", () => {
  for (const file of readdirSync(join(FIXTURES, 'logs')).filter((f) => f.endsWith('.log'))) {
    it(`parses ${file} as annotated`, async () => {
      const lines = readFileSync(join(FIXTURES, 'logs', file), 'utf8').split('\n');
      let filter: Fail2banFilter | undefined;
      let now = 0;
      const failures: string[] = [];
      let checked = 0;
      for (let n = 0; n < lines.length; n++) {
        const line = lines[n]!;
        const directive = /^# (filter|now|expect): (.*)$/.exec(line);
        if (!directive) continue;
        const [, kind, value] = directive as unknown as [string, string, string];
        if (kind === 'filter') {
          const spec = parseFilterSpec(value)!;
          filter = await loadFail2banFilter(
            join(FIXTURES, 'filter.d', `${spec.name}.conf`),
            { parameters: spec.parameters, timeZone: 'UTC' },
            fsReader,
          );
        } else if (kind === 'now') {
          now = Date.parse(value);
        } else {
          assert.ok(filter, `${file}:${n + 1}: # expect before any # filter`);
          const text = lines[++n]!.replace(/\n$/, '');
          const event = filter.parse({ source: file, text, readAtMs: now });
          checked++;
          if (value === 'none') {
            if (event) failures.push(`${file}:${n + 1}: matched (ip ${event.ip}), expected none\n  ${text}`);
          } else if (!event) {
            failures.push(`${file}:${n + 1}: not matched, expected ${value}\n  ${text}`);
          } else {
            const problems = check(event, JSON.parse(value) as Record<string, unknown>);
            if (problems.length > 0) failures.push(`${file}:${n + 1}: ${problems.join('; ')}\n  ${text}`);
          }
        }
      }
      assert.ok(checked > 0, `${file} has no # expect lines`);
      assert.deepEqual(failures, []);
    });
  }

  it('gives every event the parsing stage’s one shape, absent fields included', async () => {
    const filter = await loadFail2banFilter(
      join(FIXTURES, 'filter.d', 'moat-test.conf'),
      { timeZone: 'UTC' },
      fsReader,
    );
    const event = filter.parse({
      source: 'auth',
      text: 'Jan 10 12:00:01 web1 myapp[42]: Login failed for alice from 203.0.113.7',
      readAtMs: Date.UTC(2025, 0, 10, 13),
    });
    assert.deepEqual(Object.keys(event!), [
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
    ]);
  });

  it('reads a filter with its includes, .d/ files and .local in fail2ban’s order', async () => {
    const filter = await loadFail2banFilter(join(FIXTURES, 'filter.d', 'moat-test.conf'), {}, fsReader);
    assert.deepEqual(
      filter.files.map((f) => f.slice(FIXTURES.length + 1)),
      [
        'filter.d/common.conf',
        'filter.d/moat-test.conf',
        'filter.d/moat-test.d/10-token.conf',
        'filter.d/moat-test.local',
      ],
    );
    assert.equal(filter.definition.failregex.length, 2);
    assert.equal(filter.definition.ignoreregex.length, 2);
    assert.deepEqual(filter.definition.journalmatch, [['_SYSTEMD_UNIT=myapp.service', '+', '_COMM=myapp']]);
  });
});
