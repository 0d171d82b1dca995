import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { daysLeft, splitTcpTarget, statusMatches } from './service-checks.ts';

describe('check helpers', () => {
  it('status patterns', () => {
    assert.equal(statusMatches(204, ['2xx']), true);
    assert.equal(statusMatches(302, ['2xx', '30x']), true);
    assert.equal(statusMatches(310, ['30x']), false);
    assert.equal(statusMatches(503, [200, '2xx']), false);
    assert.equal(statusMatches(200, [200]), true);
  });

  it('certificate days left, rounded down', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    assert.equal(daysLeft('Jan 15 12:00:00 2030 GMT', now), 14);
    assert.equal(daysLeft('Dec 31 00:00:00 2029 GMT', now), -1);
    assert.equal(daysLeft('not a date', now), undefined);
  });

  it('tcp targets', () => {
    assert.deepEqual(splitTcpTarget('127.0.0.1:5432'), { host: '127.0.0.1', port: 5432 });
    assert.deepEqual(splitTcpTarget('[::1]:5432'), { host: '::1', port: 5432 });
  });
});
