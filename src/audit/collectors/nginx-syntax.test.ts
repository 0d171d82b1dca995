import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type NginxDirective, parseNginx } from './nginx-syntax.ts';

/** name + args + line, recursively, for compact assertions. */
function shape(directives: readonly NginxDirective[]): unknown[] {
  return directives.map((d) =>
    d.block ? [d.name, d.args, d.line, shape(d.block)] : [d.name, d.args, d.line],
  );
}

describe('parseNginx', () => {
  it('builds a block tree with the line of each directive', () => {
    const parsed = parseNginx(
      'http {\n  server {\n    listen 80;\n    location / { proxy_pass http://app; }\n  }\n}\n',
      '/etc/nginx/nginx.conf',
    );
    assert.equal(parsed.error, undefined);
    assert.deepEqual(shape(parsed.directives), [
      [
        'http',
        [],
        1,
        [
          [
            'server',
            [],
            2,
            [
              ['listen', ['80'], 3],
              ['location', ['/'], 4, [['proxy_pass', ['http://app'], 4]]],
            ],
          ],
        ],
      ],
    ]);
    assert.equal(parsed.directives[0]?.file, '/etc/nginx/nginx.conf');
  });

  it('skips comments, but keeps # inside a word', () => {
    const parsed = parseNginx('# a comment { ;\nadd_header X-Frag a#b; # trailing\n', 'f');
    assert.deepEqual(shape(parsed.directives), [['add_header', ['X-Frag', 'a#b'], 2]]);
  });

  it('reads quoted strings with escapes and newlines, and keeps regex backslashes', () => {
    const parsed = parseNginx(
      'add_header X "a \\"q\\" ;{}";\nlocation ~* \\.php$ { return 444; }\nlog_format main \'$remote_addr\n  "$request"\';\nx y;',
      'f',
    );
    assert.equal(parsed.error, undefined);
    assert.deepEqual(shape(parsed.directives), [
      ['add_header', ['X', 'a "q" ;{}'], 1],
      ['location', ['~*', '\\.php$'], 2, [['return', ['444'], 2]]],
      ['log_format', ['main', '$remote_addr\n  "$request"'], 3],
      ['x', ['y'], 5],
    ]);
  });

  it('treats a braced $ variable as part of a word and } inside a word as a letter', () => {
    const braced = ['$', '{host}'].join(''); // nginx's own variable syntax, not a JS template
    const parsed = parseNginx(`set $a ${braced}x;\nreturn 200 a}b;\n`, 'f');
    assert.deepEqual(shape(parsed.directives), [
      ['set', ['$a', `${braced}x`], 1],
      ['return', ['200', 'a}b'], 2],
    ]);
  });

  it('keeps parentheses of if conditions as words', () => {
    const parsed = parseNginx('if ($http_upgrade = "websocket") { return 403; }', 'f');
    assert.deepEqual(shape(parsed.directives), [
      ['if', ['($http_upgrade', '=', 'websocket', ')'], 1, [['return', ['403'], 1]]],
    ]);
  });

  it('skips the Lua inside *_by_lua_block', () => {
    const parsed = parseNginx(
      'location / {\n  content_by_lua_block {\n    local t = { a = "}" } -- }\n    ngx.say(t.a)\n  }\n  proxy_pass http://x;\n}\n',
      'f',
    );
    assert.equal(parsed.error, undefined);
    assert.deepEqual(shape(parsed.directives), [
      [
        'location',
        ['/'],
        1,
        [
          ['content_by_lua_block', [], 2, []],
          ['proxy_pass', ['http://x'], 6],
        ],
      ],
    ]);
  });

  it('reports a block that is never closed at the line that opened it', () => {
    const parsed = parseNginx('http {\n  server {\n    listen 80;\n}\n', 'f');
    assert.deepEqual(parsed.error, {
      line: 1,
      message: 'the "http" block opened here is never closed (unexpected end of file, expecting "}")',
    });
  });

  it('reports a stray closing brace', () => {
    assert.equal(parseNginx('events {}\n}\n', 'f').error?.line, 2);
  });

  it('reports a missing semicolon before } and at the end of the file', () => {
    assert.match(parseNginx('server {\n  listen 80\n}\n', 'f').error?.message ?? '', /missing ";"/);
    assert.equal(parseNginx('worker_processes auto', 'f').error?.line, 1);
  });

  it('reports an unclosed quote and text glued to a closing quote', () => {
    assert.match(parseNginx('add_header X "abc;\n', 'f').error?.message ?? '', /expecting closing "/);
    assert.match(parseNginx('add_header X "abc"def;\n', 'f').error?.message ?? '', /unexpected "d"/);
  });

  it('reports ; or { with no directive name', () => {
    assert.match(parseNginx(';', 'f').error?.message ?? '', /unexpected ";"/);
    assert.match(parseNginx('{ }', 'f').error?.message ?? '', /unexpected "\{"/);
  });
});
