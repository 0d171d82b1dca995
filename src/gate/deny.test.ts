import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DenyRuleConfig } from '../config/gate.ts';
import { compileDenyRules } from './deny.ts';
import { normalizeTarget } from './target.ts';

function rule(extra: Partial<DenyRuleConfig>): DenyRuleConfig {
  return { paths: [], methods: [], userAgents: [], action: 404, ...extra };
}

/** Deny-matches a raw request target the way the policy does: normalise first. */
function denies(
  matcher: ReturnType<typeof compileDenyRules>,
  target: string,
  method = 'GET',
  agent?: string,
) {
  const normalized = normalizeTarget(target);
  assert.ok(normalized.ok, `${target} normalises`);
  return matcher(method, normalized.path, agent);
}

describe('deny rules: paths', () => {
  const matcher = compileDenyRules([
    rule({ paths: ['*.php', '/.env', '/.git/**', '/wp-*', 'backup.*'], action: 404 }),
    rule({ paths: ['/admin/*/delete', 're:^/api/v[0-9]+/debug'], action: 403 }),
    rule({ paths: ['**/secret.txt'], action: 'close' }),
  ]);

  const denied: [string, string][] = [
    ['/index.php', 'path *.php'],
    ['/a/b/c.php', 'path *.php'],
    ['/x.PHP', 'path *.php'],
    ['/index.php/extra/info', 'path *.php'],
    ['/.env', 'path /.env'],
    ['/.ENV', 'path /.env'],
    ['/.env/', 'path /.env'],
    ['/.env/x', 'path /.env'],
    ['/.git', 'path /.git/**'],
    ['/.git/config', 'path /.git/**'],
    ['/.git/objects/ab/cdef', 'path /.git/**'],
    ['/wp-login.php', 'path *.php'],
    ['/wp-admin', 'path /wp-*'],
    ['/wp-admin/setup-config', 'path /wp-*'],
    ['/srv/backup.tar.gz', 'path backup.*'],
    ['/admin/7/delete', 'path /admin/*/delete'],
    ['/api/v2/debug/vars', 'path re:^/api/v[0-9]+/debug'],
    ['/secret.txt', 'path **/secret.txt'],
    ['/deep/down/SECRET.TXT', 'path **/secret.txt'],
    // Encoded and dot-segment spellings of the same files.
    ['/%2e%2e/.env', 'path /.env'],
    ['/a/..%2f.env', 'path /.env'],
    ['/.%65nv', 'path /.env'],
    ['/%2E%65%4E%76', 'path /.env'],
    ['/static/../.git/HEAD', 'path /.git/**'],
    ['//.git//config', 'path /.git/**'],
    ['/a\\..\\.env', 'path /.env'],
    ['/..;/.env', 'path /.env'],
    ['/.env;x=1', 'path /.env'],
    ['/shell.php;.jpg', 'path *.php'],
    ['/shell.php%3b.jpg', 'path *.php'],
    ['/x.ph%70', 'path *.php'],
    ['/./wp-admin/', 'path /wp-*'],
    ['http://victim/.env', 'path /.env'],
  ];
  for (const [target, label] of denied) {
    it(`refuses ${target} (${label})`, () => assert.equal(denies(matcher, target)?.rule, label));
  }

  const allowed = [
    '/',
    '/index.html',
    '/php/readme',
    '/phpinfo',
    '/x.php5',
    '/api/.envelope',
    '/environment',
    '/docs/.env.example/x',
    '/a/.git-keep',
    '/github',
    '/blog/wp-stuff',
    '/admin/7/delete-later',
    '/api/debug',
    '/backup',
    '/secret.txt.bak',
    '/%2egitignore',
  ];
  for (const target of allowed) {
    it(`lets ${target} pass`, () => assert.equal(denies(matcher, target), undefined));
  }

  it('answers with the action of the first rule that matches', () => {
    assert.equal(denies(matcher, '/.env')?.action, 404);
    assert.equal(denies(matcher, '/api/v1/debug')?.action, 403);
    assert.equal(denies(matcher, '/api/v1/debug.php')?.action, 404);
    assert.equal(denies(matcher, '/a/secret.txt')?.action, 'close');
  });

  it('skips path rules for the asterisk-form target', () => {
    assert.equal(compileDenyRules([rule({ paths: ['/**'] })])('OPTIONS', '*', undefined), undefined);
    assert.ok(compileDenyRules([rule({ paths: ['/**'] })])('GET', '/anything', undefined));
  });
});

describe('deny rules: methods and user agents', () => {
  const matcher = compileDenyRules([
    rule({ methods: ['TRACE', 'TRACK'], action: 403 }),
    rule({ userAgents: ['sqlmap', 'Nikto', 're:^curl/7\\.1', 're:^$'], action: 'close' }),
  ]);

  it('matches methods exactly', () => {
    assert.deepEqual(matcher('TRACE', '/', 'x'), { rule: 'method TRACE', action: 403 });
    assert.equal(matcher('GET', '/', 'x'), undefined);
  });

  it('matches user agents as case-insensitive substrings or regexes', () => {
    assert.equal(matcher('GET', '/', 'SQLMap/1.7 (https://sqlmap.org)')?.rule, 'user-agent sqlmap');
    assert.equal(matcher('GET', '/', 'Mozilla/5.00 (nikto/2.1.6)')?.rule, 'user-agent nikto');
    assert.equal(matcher('GET', '/', 'curl/7.10')?.rule, 'user-agent re:^curl/7\\.1');
    assert.equal(matcher('GET', '/', 'CURL/7.10')?.action, 'close');
    assert.equal(matcher('GET', '/', 'curl/8.5.0'), undefined);
    assert.equal(matcher('GET', '/', 'Mozilla/5.0'), undefined);
  });

  it('treats a missing User-Agent as empty, so re:^$ refuses it', () => {
    assert.equal(matcher('GET', '/', undefined)?.rule, 'user-agent re:^$');
  });
});

describe('deny rules: configuration errors name the key', () => {
  it('refuses a broken regex', () => {
    assert.throws(
      () => compileDenyRules([rule({ paths: ['/ok'] }), rule({ paths: ['*.php', 're:(unclosed'] })]),
      (error: Error & { code?: string }) =>
        error.code === 'MOAT_CONFIG_INVALID' && error.message.includes('gate.deny[1].paths[1]'),
    );
    assert.throws(
      () => compileDenyRules([rule({ userAgents: ['re:['] })]),
      /gate\.deny\[0\]\.userAgents\[0\]/,
    );
  });

  it('refuses an empty rule and a pattern that names no path', () => {
    assert.throws(() => compileDenyRules([rule({})]), /gate\.deny\[0\]: the rule lists no path/);
    assert.throws(() => compileDenyRules([rule({ paths: ['/'] })]), /gate\.deny\[0\]\.paths\[0\]/);
  });

  it('with no rules, matches nothing', () => {
    assert.equal(compileDenyRules([])('TRACE', '/.env', 'sqlmap'), undefined);
  });
});
