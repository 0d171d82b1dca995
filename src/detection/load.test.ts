import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isMoatError } from '../core/errors.ts';
import {
  BUILTIN_SCENARIO_DIR,
  BUILTIN_SCENARIO_FILES,
  loadBuiltinScenarios,
  loadScenarioFiles,
  parseLeakRate,
  parseScenarioText,
  validateScenarios,
} from './load.ts';

const readText = (path: string) => readFileSync(path, 'utf8');

const LEAKY = `name: test-leaky
type: leaky
kinds: [http-request]
capacity: 5
leak: 1/10s
`;

function load(text: string, overrides = {}) {
  return validateScenarios(parseScenarioText(text, 'test.yaml'), overrides);
}

function fails(text: string, message: RegExp, code = 'MOAT_CONFIG_INVALID', overrides = {}) {
  assert.throws(
    () => load(text, overrides),
    (error: unknown) => isMoatError(error) && error.code === code && message.test(error.message),
    `expected ${message}`,
  );
}

describe('the built-in scenarios', () => {
  const builtins = loadBuiltinScenarios(readText);

  it('all load, with unique names, and cover every class the watch issue lists', () => {
    const names = builtins.map((s) => s.name);
    assert.equal(new Set(names).size, names.length);
    for (const name of [
      'http-probing',
      'http-sensitive-files',
      'http-php-probe',
      'http-bad-user-agent',
      'http-flood',
      'http-slow-scan',
      'ssh-bruteforce',
      'ssh-invalid-user',
      'nginx-limit-req',
      'redis-hijack',
      'redis-rdb-to-cron-ssh',
    ]) {
      assert.ok(names.includes(name), name);
    }
  });

  it('ssh-invalid-user has a smaller bucket than ssh-bruteforce', () => {
    const byName = new Map(builtins.map((s) => [s.name, s]));
    assert.ok(
      (byName.get('ssh-invalid-user')?.capacity ?? 99) < (byName.get('ssh-bruteforce')?.capacity ?? 0),
    );
  });

  it('can be tuned and disabled by overrides', () => {
    const tuned = loadBuiltinScenarios(readText, {
      'http-php-probe': { enabled: false },
      'http-flood': { capacity: 800, leak: '20/s' },
    });
    assert.equal(
      tuned.find((s) => s.name === 'http-php-probe'),
      undefined,
    );
    const flood = tuned.find((s) => s.name === 'http-flood');
    assert.deepEqual([flood?.capacity, flood?.leakSpeedMs], [800, 50]);
  });

  it('are listed in BUILTIN_SCENARIO_FILES, every file of the folder', () => {
    assert.deepEqual(
      [...BUILTIN_SCENARIO_FILES].sort(),
      readdirSync(BUILTIN_SCENARIO_DIR)
        .filter((f) => f.endsWith('.yaml'))
        .sort(),
    );
  });

  it('report a file that cannot be read', () => {
    assert.throws(
      () => loadScenarioFiles(['/nonexistent/x.yaml'], readText),
      (error: unknown) =>
        isMoatError(error) &&
        error.code === 'MOAT_CONFIG_NOT_FOUND' &&
        /\/nonexistent\/x\.yaml: ENOENT/.test(error.message),
    );
  });

  it('are frozen', () => {
    assert.ok(Object.isFrozen(builtins[0]));
  });
});

describe('scenario files', () => {
  it('normalise leak forms to integer milliseconds per event', () => {
    assert.equal(load(LEAKY)[0]?.leakSpeedMs, 10_000);
    assert.equal(load(LEAKY.replace('leak: 1/10s', 'leakSpeed: 2m'))[0]?.leakSpeedMs, 120_000);
    assert.equal(load(LEAKY.replace('leak: 1/10s', 'leakSpeedMs: 250'))[0]?.leakSpeedMs, 250);
    assert.equal(load(LEAKY.replace('leak: 1/10s', 'leak: 3/s'))[0]?.leakSpeedMs, 333);
  });

  it('default groupBy to ip, action to ban, and the reason to the description', () => {
    const [def] = load(`${LEAKY}description: Something bad\n`);
    assert.deepEqual([def?.groupBy, def?.action, def?.reason], [['ip'], 'ban', 'Something bad']);
  });

  it('hold several scenarios as YAML documents', () => {
    assert.equal(load(`${LEAKY}---\n${LEAKY.replace('test-leaky', 'test-two')}`).length, 2);
  });

  it('read ban and cooldown durations', () => {
    const [def] = load(`${LEAKY}ban: 2h\ncooldown: 30m\n`);
    assert.deepEqual([def?.banMs, def?.cooldownMs], [7_200_000, 1_800_000]);
  });
});

describe('invalid scenarios: one fixture per rule, each naming file, line, scenario and key', () => {
  const cases: [string, string, RegExp][] = [
    [
      'an unknown key',
      `${LEAKY}capacty: 5\n`,
      /test\.yaml:6: scenario test-leaky: capacty: unknown key; did you mean capacity\?/,
    ],
    ['a bad name', LEAKY.replace('test-leaky', 'Test Leaky'), /name: use lowercase letters/],
    ['a missing type', LEAKY.replace('type: leaky\n', ''), /type: /],
    ['a wrong type', LEAKY.replace('type: leaky', 'type: bucket'), /type: /],
    ['no kinds', LEAKY.replace('kinds: [http-request]\n', ''), /kinds: /],
    [
      'a leaky scenario without capacity',
      LEAKY.replace('capacity: 5\n', ''),
      /capacity: a leaky scenario needs capacity/,
    ],
    [
      'a leaky scenario without a leak',
      LEAKY.replace('leak: 1/10s\n', ''),
      /leak: a leaky scenario needs exactly one of/,
    ],
    ['two leak forms', `${LEAKY}leakSpeed: 10s\n`, /several were given/],
    ['a malformed rate', LEAKY.replace('1/10s', 'fast'), /"fast" is not a rate/],
    ['a zero capacity', LEAKY.replace('capacity: 5', 'capacity: 0'), /capacity: /],
    ['a bad duration', `${LEAKY}ban: forever\n`, /ban: "forever" is not a duration/],
    [
      'a trigger with a capacity',
      LEAKY.replace('type: leaky', 'type: trigger'),
      /capacity is for leaky scenarios/,
    ],
    ['an unknown groupBy field', `${LEAKY}groupBy: client\n`, /groupBy: "client" is not an event field/],
    ['an unknown distinct field', `${LEAKY}distinct: url\n`, /distinct: "url" is not an event field/],
    [
      'a filter on an unknown field',
      `${LEAKY}filter:\n  url: /x\n`,
      /test\.yaml:7: scenario test-leaky: filter\.url: "url" is not an event field/,
    ],
    ['an invalid regex', `${LEAKY}filter:\n  path: { regex: '(' }\n`, /filter\.path\.regex: invalid regex/],
    ['a bad reason placeholder', `${LEAKY}reason: 'from {client}'\n`, /reason: \{client\}/],
    ['an unknown action', `${LEAKY}action: drop\n`, /action: /],
    ['a mapping that is a list', '- name: x\n', /holds mappings/],
  ];
  for (const [rule, text, message] of cases) {
    it(`rejects ${rule}`, () => fails(text, message));
  }

  it('rejects YAML syntax errors with line and column', () => {
    fails('name: [unclosed\n', /test\.yaml:\d+:\d+: /, 'MOAT_CONFIG_SYNTAX');
  });

  it('rejects duplicate names across files', () => {
    const raws = [...parseScenarioText(LEAKY, 'a.yaml'), ...parseScenarioText(LEAKY, 'b.yaml')];
    assert.throws(() => validateScenarios(raws), /b\.yaml: scenario "test-leaky" is also defined in a\.yaml/);
  });

  it('rejects an override for a scenario that does not exist, listing the known ones', () => {
    fails(
      LEAKY,
      /override for "php-probe": no scenario has that name; known: test-leaky/,
      'MOAT_CONFIG_INVALID',
      { 'php-probe': { enabled: false } },
    );
  });

  it('says when a problem comes from an override', () => {
    fails(LEAKY, /capacity: .*\(from the config override\)/, 'MOAT_CONFIG_INVALID', {
      'test-leaky': { capacity: -1 },
    });
  });

  it('lists every problem at once', () => {
    assert.throws(
      () => load(`${LEAKY.replace('capacity: 5\n', '')}distinct: url\nban: never\n`),
      (error: unknown) => isMoatError(error) && (error.message.match(/\n {2}- /g) ?? []).length === 3,
    );
  });
});

describe('parseLeakRate', () => {
  const rates: [string, number | undefined][] = [
    ['10/s', 100],
    ['1/12m', 720_000],
    ['30/6h', 720_000],
    ['2/min', 30_000],
    ['1 / 30s', 30_000],
    ['0.5/s', 2000],
    ['0/s', undefined],
    ['10', undefined],
    ['10/fortnight', undefined],
  ];
  for (const [text, ms] of rates) it(`${text} → ${ms}`, () => assert.equal(parseLeakRate(text), ms));
});
