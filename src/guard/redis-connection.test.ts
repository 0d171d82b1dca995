import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMoatError } from '../core/errors.ts';
import { parseRedisUrl, redactUrl } from './redis-connection.ts';

describe('Redis URLs', () => {
  it('host, port, TLS, user and password', () => {
    assert.deepEqual(parseRedisUrl('redis://127.0.0.1:6380'), { host: '127.0.0.1', port: 6380, tls: false });
    assert.deepEqual(parseRedisUrl('rediss://guard:s%40cret@cache.internal'), {
      host: 'cache.internal',
      port: 6379,
      tls: true,
      username: 'guard',
      password: 's@cret',
    });
    assert.deepEqual(parseRedisUrl('redis://:pw@[::1]:7000/2'), {
      host: '::1',
      port: 7000,
      tls: false,
      password: 'pw',
    });
  });

  it('a wrong scheme is a config error naming the key', () => {
    assert.throws(
      () => parseRedisUrl('http://127.0.0.1:6379'),
      (error: unknown) =>
        isMoatError(error) && error.code === 'MOAT_CONFIG_INVALID' && /guard\.redis/.test(error.message),
    );
  });

  it('passwords never reach logs', () => {
    assert.equal(redactUrl('redis://guard:hunter2@10.0.0.1:6379'), 'redis://guard:***@10.0.0.1:6379');
    assert.equal(redactUrl('rediss://:hunter2@host'), 'rediss://:***@host');
    assert.equal(redactUrl('redis://10.0.0.1:6379'), 'redis://10.0.0.1:6379');
  });
});
