import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ini, IniError, parseIniFile } from './ini.ts';

const ini = (...texts: string[]) => new Ini(texts.map((t, k) => parseIniFile(t, `f${k}.conf`)));

describe('fail2ban configuration files', () => {
  it('joins indented continuation lines with newlines, skipping comment lines between them', () => {
    const c = ini(
      '[Definition]\nfailregex = ^a\n    # not part of it\n            ^b\n\n            ^c\nother = x',
    );
    assert.equal(c.get('Definition', 'failregex'), '^a\n^b\n\n^c');
    assert.equal(c.get('Definition', 'other'), 'x');
  });

  it('takes `=` or `:` as the separator and lower-cases keys', () => {
    const c = ini('[Definition]\nMaxLines: 2\nFailRegex = ^x: y$');
    assert.equal(c.get('Definition', 'maxlines'), '2');
    assert.equal(c.get('Definition', 'failregex'), '^x: y$');
  });

  it('drops " ;" inline comments but keeps a ";" inside a value', () => {
    const c = ini('[A]\nx = a;b ; comment\ny = ;all comment');
    assert.equal(c.get('A', 'x'), 'a;b');
    assert.equal(c.get('A', 'y'), '');
  });

  it('interpolates %(name)s from the section, [DEFAULT] and the call’s variables, recursively', () => {
    const c = ini(
      '[DEFAULT]\n_daemon = \\S*\npre = <%(_daemon)s>\n[Definition]\n_daemon = sshd\nre = %(pre)s %%d',
    );
    assert.equal(c.get('Definition', 're'), '<sshd> %d');
    assert.equal(c.get('Definition', 're', { _daemon: 'dropbear' }), '<dropbear> %d');
    assert.equal(c.get('DEFAULT', 'pre'), '<\\S*>');
  });

  it('resolves %(section/name)s and %(__name__)s', () => {
    const c = ini('[lt_file]\np = file-prefix\n[Definition]\nx = %(lt_file/p)s in %(__name__)s');
    assert.equal(c.get('Definition', 'x'), 'file-prefix in Definition');
  });

  it('keeps overridden values of later files reachable as %(known/name)s', () => {
    const c = ini(
      '[Definition]\nfailregex = ^a',
      '[Definition]\nfailregex = %(known/failregex)s\n            ^b',
    );
    assert.equal(c.get('Definition', 'failregex'), '^a\n^b');
  });

  it('lets later files override earlier ones, section by section', () => {
    const c = ini('[DEFAULT]\nd = 1\n[A]\nx = 1\ny = 1', '[DEFAULT]\nd = 2\n[A]\ny = 2');
    assert.equal(c.get('A', 'x'), '1');
    assert.equal(c.get('A', 'y'), '2');
    assert.equal(c.get('A', 'd'), '2');
  });

  it('names the problem for what fail2ban rejects', () => {
    const kinds = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return error instanceof IniError ? error.kind : 'other';
      }
      return 'none';
    };
    assert.equal(
      kinds(() => parseIniFile('x = 1', 'a.conf')),
      'syntax',
    );
    assert.equal(
      kinds(() => parseIniFile('[A]\nx = 1\nx = 2', 'a.conf')),
      'syntax',
    );
    assert.equal(
      kinds(() => parseIniFile('[A]\n[A]', 'a.conf')),
      'syntax',
    );
    assert.equal(
      kinds(() => parseIniFile('[A]\njust words', 'a.conf')),
      'syntax',
    );
    assert.equal(
      kinds(() => ini('[A]\nx = %(missing)s').get('A', 'x')),
      'interpolation',
    );
    assert.equal(
      kinds(() => ini('[A]\nx = 50%').get('A', 'x')),
      'interpolation',
    );
    assert.equal(
      kinds(() => ini('[A]\nx = %(x)s').get('A', 'x')),
      'interpolation',
    );
    assert.equal(
      kinds(() => ini('[A]\nx = 1').get('B', 'x')),
      'no-section',
    );
    assert.equal(
      kinds(() => ini('[A]\nx = 1').get('A', 'y')),
      'no-option',
    );
  });
});
