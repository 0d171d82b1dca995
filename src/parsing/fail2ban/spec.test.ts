import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFilterSpec } from './spec.ts';

describe('filter references like jail.conf writes them', () => {
  it('reads a name with parameters, quoted or not', () => {
    assert.deepEqual(parseFilterSpec('sshd'), { name: 'sshd', parameters: {} });
    assert.deepEqual(parseFilterSpec('sshd[mode=aggressive]'), {
      name: 'sshd',
      parameters: { mode: 'aggressive' },
    });
    assert.deepEqual(parseFilterSpec(`x[a=1, b="p, q", c='r']`), {
      name: 'x',
      parameters: { a: '1', b: 'p, q', c: 'r' },
    });
  });

  it('refuses what is not of that form', () => {
    assert.equal(parseFilterSpec('sshd[mode]'), undefined);
    assert.equal(parseFilterSpec('a b'), undefined);
  });
});
