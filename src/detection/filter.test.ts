import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ParsedEvent } from '../core/events.ts';
import { compileFilter, FilterError, parseNumericRange } from './filter.ts';

const base: ParsedEvent = {
  at: 0,
  source: 'nginx',
  service: 'http',
  kind: 'http-request',
  ip: '203.0.113.7',
  method: 'GET',
  path: '/wp-login.php?x=1',
  status: 404,
  bytes: 1234,
  userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  fields: { zone: 'api', dir: '/var/spool/cron', count: '42' },
};

/** [filter, event changes, expected] — the filter language as a table. */
const cases: [string, unknown, Partial<ParsedEvent>, boolean][] = [
  ['a plain value is equality', { method: 'GET' }, {}, true],
  ['equality is exact', { method: 'get' }, {}, false],
  ['ignoreCase folds case', { method: { equals: 'get', ignoreCase: true } }, {}, true],
  ['4xx is a status range', { status: '4xx' }, {}, true],
  ['5xx does not hold 404', { status: '5xx' }, {}, false],
  ['40x is a narrower range', { status: '40x' }, { status: 409 }, true],
  ['400-403 is an explicit range', { status: '400-403' }, {}, false],
  ['a list is "any of", ranges included', { status: [401, 403, '5xx'] }, { status: 503 }, true],
  [
    'in: with a not: carves out',
    { status: { in: ['4xx'], not: { in: [401, 429] } } },
    { status: 401 },
    false,
  ],
  ['a numeric string equals the number', { status: '404' }, {}, true],
  ['regex searches', { path: { regex: '\\.php\\d?(?:[/?#;]|$)' } }, {}, true],
  ['regex lists are alternatives', { path: { regex: ['^/admin', 'login'] } }, {}, true],
  ['glob matches the whole value', { path: { glob: '/wp-*' } }, { path: '/wp-login.php' }, true],
  ['glob does not match a prefix', { path: { glob: '/wp-*' } }, { path: '/wp-admin/x' }, false],
  ['glob ** crosses folders, dot files included', { path: { glob: '**/.env' } }, { path: '/a/b/.env' }, true],
  ['contains', { userAgent: { contains: 'Googlebot' } }, {}, true],
  ['contains a list', { userAgent: { contains: ['sqlmap', 'bot.html'] } }, {}, true],
  ['contains ignoring case', { userAgent: { contains: 'GOOGLEBOT', ignoreCase: true } }, {}, true],
  ['startsWith', { path: { startsWith: '/wp-' } }, {}, true],
  ['endsWith', { path: { endsWith: '.php' } }, {}, false],
  ['gt on a number', { bytes: { gt: 1000 } }, {}, true],
  ['lte on a number', { bytes: { lte: 1000 } }, {}, false],
  ['gte on a numeric extra field', { 'fields.count': { gte: 42 } }, {}, true],
  ['comparisons on non-numbers are false', { 'fields.zone': { gt: 1 } }, {}, false],
  ['cidr', { ip: { cidr: ['203.0.113.0/24'] } }, {}, true],
  ['not cidr', { ip: { not: { cidr: ['127.0.0.0/8', '::1'] } } }, {}, true],
  ['cidr of IPv6', { ip: { cidr: ['2001:db8::/32'] } }, { ip: '2001:db8::1' }, true],
  ['an extra field', { 'fields.dir': { startsWith: '/var/spool/cron' } }, {}, true],
  ['a missing field fails a condition', { user: 'root' }, {}, false],
  ['…and passes its not:', { user: { not: { equals: 'root' } } }, {}, true],
  ['exists: false holds for a missing field', { user: { exists: false } }, {}, true],
  ['exists: true', { ip: { exists: true } }, {}, true],
  ['keys are ANDed', { method: 'GET', status: 200 }, {}, false],
  ['any: is OR', { any: [{ status: 200 }, { method: 'GET' }] }, {}, true],
  ['all: is AND', { all: [{ status: 404 }, { method: 'POST' }] }, {}, false],
  ['not: negates a filter', { not: { status: '4xx' } }, {}, false],
  [
    'nested any/all/not',
    { any: [{ all: [{ status: 404 }, { not: { method: 'GET' } }] }, { path: { contains: 'login' } }] },
    {},
    true,
  ],
];

describe('compileFilter', () => {
  for (const [what, filter, change, expected] of cases) {
    it(`${what} → ${expected}`, () => {
      assert.equal(compileFilter(filter)({ ...base, ...change }), expected);
    });
  }

  it('gives the same answers for repeated and fresh long strings (the result cache changes speed only)', () => {
    const test = compileFilter({ userAgent: { regex: '\\b(?:sqlmap|nikto)\\b', ignoreCase: true } });
    const agents = Array.from({ length: 5000 }, (_, i) =>
      i % 7 === 0
        ? `Mozilla/5.0 (sqlmap/1.${i}) padding padding padding padding`
        : `Mozilla/5.0 (Windows NT 10.0; Win64; x64) build ${i}`,
    );
    for (let round = 0; round < 3; round++) {
      for (const [i, agent] of agents.entries()) {
        const fresh = ` ${agent}`.slice(1); // a different string object with the same text
        assert.equal(test({ ...base, userAgent: fresh }), i % 7 === 0, agent);
      }
    }
  });

  it('never throws on hostile values: 1 MB paths, NUL bytes, lone surrogates, wrong types', () => {
    const test = compileFilter({
      path: { regex: '\\.env', glob: '**' },
      userAgent: { contains: 'x' },
      status: '4xx',
      ip: { cidr: ['10.0.0.0/8'] },
    });
    const hostile: Partial<ParsedEvent>[] = [
      { path: `/${'a'.repeat(1 << 20)}.env` },
      { path: '/\u0000.env' },
      { path: '/\ud800.env', userAgent: '\udfff' },
      { path: 42 as unknown as string, status: '404' as unknown as number },
      { ip: '\u0000' },
      { fields: Object.create(null) },
    ];
    for (const change of hostile) assert.doesNotThrow(() => test({ ...base, ...change }));
  });

  it('does not read inherited properties of fields', () => {
    assert.equal(compileFilter({ 'fields.constructor': { exists: true } })(base), false);
  });
});

describe('filter errors name the key path', () => {
  const errors: [unknown, string, RegExp][] = [
    [{ pth: '/x' }, 'filter.pth', /not an event field/],
    [{ path: { regx: 'x' } }, 'filter.path.regx', /unknown operator "regx"/],
    [{ path: { regex: '(' } }, 'filter.path.regex', /invalid regex/],
    [{ status: 'fourxx' }, 'filter.status', /not a number or a range/],
    [{ status: [] }, 'filter.status', /empty/],
    [{ ip: { cidr: ['10.0.0.0/33'] } }, 'filter.ip.cidr', /not an address or CIDR/],
    [{ any: [] }, 'filter.any', /non-empty list/],
    [{ any: [{ bogus: 1 }] }, 'filter.any.0.bogus', /not an event field/],
    [{ path: { contains: '' } }, 'filter.path.contains', /empty string/],
    [{ bytes: { gt: 'big' } }, 'filter.bytes.gt', /takes a number/],
    [{ path: {} }, 'filter.path', /no operator/],
    [{}, 'filter', /empty filter/],
    [[], 'filter', /mapping/],
  ];
  for (const [filter, path, message] of errors) {
    it(`${JSON.stringify(filter)} fails at ${path}`, () => {
      assert.throws(
        () => compileFilter(filter),
        (error: unknown) =>
          error instanceof FilterError && error.path.join('.') === path && message.test(error.message),
      );
    });
  }
});

describe('parseNumericRange', () => {
  it('reads Nxx, N0x and lo-hi', () => {
    assert.deepEqual(parseNumericRange('4xx'), [400, 499]);
    assert.deepEqual(parseNumericRange('50x'), [500, 509]);
    assert.deepEqual(parseNumericRange('200-299'), [200, 299]);
    assert.equal(parseNumericRange('299-200'), undefined);
    assert.equal(parseNumericRange('xx'), undefined);
  });
});
