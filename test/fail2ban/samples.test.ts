/**
 * fail2ban's own annotated samples, run through moat's fail2ban compatibility. The samples and filters
 * are read at test time from Debian's fail2ban package (never copied here): each `# failJSON: {...}`
 * line says whether the next log line must match and with which host (and user, users, attempts,
 * time). `# filterOptions:` lines switch filter parameters such as `mode=aggressive`, and a failJSON
 * `constraint` limits a sample to some of them — the rules of fail2ban's samplestestcase.py.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadFail2banFilter } from '../../src/parsing/fail2ban/index.ts';
import { zoneFromName } from '../../src/parsing/fail2ban/time-zone.ts';
import type { Fail2banLineParser } from '../../src/parsing/fail2ban/types.ts';
import { fsReader } from '../../src/daemon/fs-reader.ts';

const SAMPLES = '/usr/lib/python3/dist-packages/fail2ban/tests/files/logs';
const FILTERS = '/etc/fail2ban/filter.d';
/** samplestestcase's clock: Sun Aug 14 12:00:00 CEST 2005, in its zone CET-01CEST-02 (EU rules). */
const TEST_NOW_MS = 1_124_013_600_000;
const TEST_ZONE = 'Europe/Berlin';
const FILTER_NAMES = [
  'nginx-bad-request',
  'nginx-botsearch',
  'nginx-http-auth',
  'nginx-limit-req',
  'nginx-forbidden',
  'sshd',
];

type Json = Record<string, unknown>;

interface Outcome {
  total: number;
  passed: number;
  failures: string[];
}

/** The few Python expressions fail2ban's samples use as constraints. */
function evaluate(expr: string, name: string, opts: Json): boolean {
  const m = /^\s*(name|opts\.get\('([^']+)'\))\s*(==|!=)\s*'([^']*)'\s*$/.exec(expr);
  if (!m) throw new Error(`constraint not understood by this test: ${expr}`);
  const left = m[1] === 'name' ? name : ((opts[m[2]!] as string | undefined) ?? null);
  return m[3] === '==' ? left === m[4] : left !== m[4];
}

function canonical(host: string): string {
  if (/^\d+(\.\d+){3}$/.test(host)) return host.split('.').map(Number).join('.');
  return host.toLowerCase();
}

async function runSamples(name: string): Promise<Outcome> {
  const outcome: Outcome = { total: 0, passed: 0, failures: [] };
  const zone = zoneFromName(TEST_ZONE)!;
  const parsers = new Map<string, Fail2banLineParser>();
  const parserFor = async (opts: Json): Promise<Fail2banLineParser> => {
    const parameters = Object.fromEntries(
      Object.entries(opts)
        .filter(([k]) => !k.startsWith('test.'))
        .map(([k, v]) => [k, String(v)]),
    );
    const key = JSON.stringify(Object.entries(parameters).sort());
    let parser = parsers.get(key);
    if (!parser) {
      parser = await loadFail2banFilter(
        join(FILTERS, `${name}.conf`),
        { parameters, timeZone: TEST_ZONE },
        fsReader,
      );
      parsers.set(key, parser);
    }
    return parser;
  };

  const files = [name];
  let commonOpts: Json = {};
  let tests: { opts: Json; parser: Fail2banLineParser }[] = [];
  for (let f = 0; f < files.length; f++) {
    const file = files[f]!;
    const lines = readFileSync(join(SAMPLES, file), 'utf8').split('\n');
    let ignoreBlock = false;
    for (let n = 0; n < lines.length; n++) {
      let line = lines[n]!.replace(/[\r\n]+$/, '');
      let faildata: Json = {};
      const annotation = /^#+ ?(failJSON|(?:file|filter)Options|addFILE):(.+)$/.exec(line);
      if (annotation) {
        const value = JSON.parse(annotation[2]!) as unknown;
        if (annotation[1] === 'fileOptions') {
          commonOpts = value as Json;
          continue;
        }
        if (annotation[1] === 'filterOptions') {
          tests = [];
          ignoreBlock = false;
          for (const each of Array.isArray(value) ? (value as Json[]) : [value as Json]) {
            const opts = { ...commonOpts, ...each };
            if (typeof opts['test.condition'] === 'string')
              ignoreBlock = !evaluate(opts['test.condition'], name, opts);
            if (!ignoreBlock) tests.push({ opts, parser: await parserFor(opts) });
          }
          continue;
        }
        if (annotation[1] === 'addFILE') {
          files.push(value as string);
          continue;
        }
        faildata = value as Json;
        n++;
        line = (lines[n] ?? '').replace(/[\r\n]+$/, '');
      } else if (ignoreBlock || line.startsWith('#') || !line.trim()) {
        continue;
      }
      if (ignoreBlock) continue;
      if (tests.length === 0) tests = [{ opts: {}, parser: await parserFor({}) }];
      for (const { opts, parser } of tests) {
        if (typeof faildata['constraint'] === 'string' && !evaluate(faildata['constraint'], name, opts))
          continue;
        outcome.total++;
        const where = `${file}:${n + 1} ${JSON.stringify(opts)}`;
        const problems: string[] = [];
        const result = parser.match({ source: file, text: line, readAtMs: TEST_NOW_MS });
        if (!result) {
          if (faildata['match'] === true) problems.push('not matched, should have');
        } else if (faildata['match'] !== true) {
          problems.push(`matched (host ${result.id}), should not have`);
        } else {
          for (const [key, expected] of Object.entries(faildata)) {
            if (['time', 'match', 'desc', 'constraint'].includes(key)) continue;
            let actual: unknown;
            if (key === 'host') {
              actual = result.id;
              const ip = result.event.ip;
              if (ip !== undefined && canonical(ip) !== canonical(String(expected))) {
                problems.push(`event.ip ${ip} is not ${String(expected)}`);
              }
            } else if (key === 'user') actual = result.event.user ?? null;
            else if (key === 'users') actual = [...result.users].sort();
            else if (key === 'attempts') actual = result.attempts;
            else actual = result.groups[key] ?? null;
            const want = Array.isArray(expected) ? [...expected].sort() : expected;
            if (JSON.stringify(actual) !== JSON.stringify(want)) {
              problems.push(`${key} is ${JSON.stringify(actual)}, expected ${JSON.stringify(want)}`);
            }
          }
          if (typeof faildata['time'] === 'string') {
            const t = /^(\d{4})-(\d\d?)-(\d\d?)T(\d\d?):(\d\d?):(\d\d?)/.exec(faildata['time'])!;
            const expectedMs = zone.toEpochMs(+t[1]!, +t[2]!, +t[3]!, +t[4]!, +t[5]!, +t[6]!);
            const actualS = Math.floor(result.event.at / 1000);
            if (actualS !== expectedMs / 1000) {
              problems.push(
                `time is ${new Date(result.event.at).toISOString()}, expected ${faildata['time']} (${TEST_ZONE})`,
              );
            }
          }
        }
        if (problems.length === 0) outcome.passed++;
        else outcome.failures.push(`${where}: ${problems.join('; ')}\n    ${line}`);
      }
    }
  }
  return outcome;
}

const installed = existsSync(SAMPLES) && existsSync(FILTERS);

describe("fail2ban's annotated samples through moat's fail2ban filters", () => {
  it('finds the fail2ban package that ships the samples and filters', () => {
    assert.ok(
      installed,
      `fail2ban's sample logs (${SAMPLES}) or filters (${FILTERS}) are missing: install the Debian package with \`apt-get install -y fail2ban\` (the samples test reads them from there).`,
    );
  });

  const names = installed
    ? FILTER_NAMES.filter((n) => existsSync(join(SAMPLES, n)) && existsSync(join(FILTERS, `${n}.conf`)))
    : [];
  for (const name of names) {
    it(`matches every ${name} sample as fail2ban does`, async (t) => {
      const outcome = await runSamples(name);
      const rate = outcome.total === 0 ? 0 : (100 * outcome.passed) / outcome.total;
      t.diagnostic(`${name}: ${outcome.passed}/${outcome.total} samples pass (${rate.toFixed(1)} %)`);
      assert.ok(outcome.total > 0, `no samples found for ${name}`);
      assert.deepEqual(
        outcome.failures,
        [],
        `${name}: ${outcome.failures.length} of ${outcome.total} samples differ`,
      );
    });
  }
});
