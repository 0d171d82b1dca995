import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeTarget } from './target.ts';

describe('normalizeTarget', () => {
  const same: [string, string, string][] = [
    // raw target, path, query
    ['/', '/', ''],
    ['/api/users?id=1&x=%2e', '/api/users', 'id=1&x=%2e'],
    ['/static/app.min.js', '/static/app.min.js', ''],
    ['/a/b/', '/a/b/', ''],
    ['/.well-known/acme-challenge/x', '/.well-known/acme-challenge/x', ''],
    ['/..foo/...', '/..foo/...', ''],
    // dot segments, never above the root
    ['/a/./b/../c', '/a/c', ''],
    ['/../../etc/passwd', '/etc/passwd', ''],
    ['/a/..', '/', ''],
    ['/a/b/..', '/a/', ''],
    ['/a/.', '/a/', ''],
    // empty segments
    ['//a///b//', '/a/b/', ''],
    ['//', '/', ''],
    // percent-decoding, once
    ['/%2e%2e/.env', '/.env', ''],
    ['/a/..%2f.env', '/.env', ''],
    ['/.%65nv', '/.env', ''],
    ['/%2E%2E/%2e%67it/config', '/.git/config', ''],
    ['/caf%C3%A9', '/café', ''],
    ['/100%25', '/100%', ''],
    ['/a%20b', '/a b', ''],
    // backslashes
    ['/a\\..\\.env', '/.env', ''],
    ['/a%5c..%5c.env', '/.env', ''],
    // ;parameters
    ['/a;jsessionid=1/b', '/a/b', ''],
    ['/..;/.env', '/.env', ''],
    ['/admin;/', '/admin/', ''],
    ['/x.php%3bx.jpg', '/x.php', ''],
    // absolute-form and asterisk-form
    ['http://example.com/a/../b?q=1', '/b', 'q=1'],
    ['HTTPS://user@example.com:8443', '/', ''],
    ['http://example.com?x', '/', 'x'],
    ['*', '*', ''],
  ];
  for (const [raw, path, query] of same) {
    it(`${JSON.stringify(raw)} → ${path}${query === '' ? '' : `?${query}`}`, () => {
      assert.deepEqual(normalizeTarget(raw), { ok: true, path, query });
    });
  }

  const refused: [string, RegExp][] = [
    ['/%zz', /percent-encoding/],
    ['/%4', /percent-encoding/],
    ['/%', /percent-encoding/],
    ['/a%00.php', /control/],
    ['/a%0d%0aSet-Cookie:x', /control/],
    ['/%c0%ae%c0%ae/.env', /UTF-8/],
    ['/%e0%80%ae', /UTF-8/],
    ['/%ff', /UTF-8/],
    ['/%ed%a0%80', /UTF-8/],
    ['/%252e%252e/.env', /double-encoded/],
    ['/%25%32%65', /double-encoded/],
    ['/a%252fb', /double-encoded/],
    ['/a#frag', /fragment/],
    ['example.com:443', /neither/],
    ['ftp://example.com/', /neither/],
    ['', /neither/],
  ];
  for (const [raw, error] of refused) {
    it(`refuses ${JSON.stringify(raw)}`, () => {
      const result = normalizeTarget(raw);
      assert.equal(result.ok, false);
      assert.match(result.ok ? '' : result.error, error);
    });
  }

  it('reads raw non-ASCII bytes as Node hands them over (latin1) and decodes them as UTF-8', () => {
    const latin1 = Buffer.from('/café', 'utf8').toString('latin1');
    assert.deepEqual(normalizeTarget(latin1), { ok: true, path: '/café', query: '' });
    assert.equal(normalizeTarget(Buffer.from([0x2f, 0xc0, 0xae]).toString('latin1')).ok, false);
  });

  it('survives any input without throwing', () => {
    let state = 1;
    const alphabet = '/%.;\\?#aZ09\u0000\u00ff\u0100é2eEfF:';
    for (let n = 0; n < 20_000; n++) {
      let text = '';
      const length = n % 40;
      for (let i = 0; i < length; i++) {
        state = (Math.imul(state, 1103515245) + 12345) >>> 0;
        text += alphabet[state % alphabet.length];
      }
      const result = normalizeTarget(text);
      if (result.ok && result.path !== '*') {
        assert.ok(result.path.startsWith('/'), text);
        assert.ok(!/\/\.{1,2}(\/|$)|\/\/|\\|;/.test(result.path), `${text} → ${result.path}`);
      }
    }
  });
});
