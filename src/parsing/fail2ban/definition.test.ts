import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DefinitionError, resolveDefinition, shellSplit } from './definition.ts';
import { Ini, parseIniFile } from './ini.ts';

const definition = (text: string, parameters: Record<string, string> = {}) =>
  resolveDefinition(new Ini([parseIniFile(text, 'f.conf')]), parameters);

const SSHD_LIKE = `
[DEFAULT]
_daemon = \\S*
__prefix = \\S+ <_daemon>\\[\\d+\\]:
[Definition]
_daemon = sshd
mode = normal
failregex = ^%(__prefix)s Failed for <F-USER>\\S+</F-USER> from <HOST>
            <mdre-<mode>>
mdre-normal =
mdre-aggressive = ^%(__prefix)s Bye from <HOST>
journalmatch = _SYSTEMD_UNIT=sshd.service + _COMM=sshd
datepattern = {^LN-BEG}%%Y-%%m-%%d
`;

describe('filter definitions', () => {
  it('substitutes <tag>s from the definition, nested ones first, and leaves regex tags alone', () => {
    const d = definition(SSHD_LIKE);
    assert.deepEqual(d.failregex, ['^\\S+ sshd\\[\\d+\\]: Failed for <F-USER>\\S+</F-USER> from <HOST>']);
    assert.equal(d.datepattern, '{^LN-BEG}%Y-%m-%d');
    assert.deepEqual(d.journalmatch, [['_SYSTEMD_UNIT=sshd.service', '+', '_COMM=sshd']]);
    assert.equal(d.maxlines, 1);
  });

  it('applies filter parameters the way filter = NAME[mode=aggressive] does', () => {
    const d = definition(SSHD_LIKE, { mode: 'aggressive', _daemon: 'sshd-session' });
    assert.deepEqual(d.failregex, [
      '^\\S+ sshd-session\\[\\d+\\]: Failed for <F-USER>\\S+</F-USER> from <HOST>',
      '^\\S+ sshd-session\\[\\d+\\]: Bye from <HOST>',
    ]);
    assert.equal(d.parameters['mode'], 'aggressive');
  });

  it('takes [Init] values as parameters, with their known/ copies', () => {
    const d = definition('[Init]\nblock = wp-login|xmlrpc\n[Definition]\nfailregex = ^<HOST> GET /(<block>)');
    assert.deepEqual(d.failregex, ['^<HOST> GET /(wp-login|xmlrpc)']);
    const overridden = definition(
      '[Init]\nblock = a\n[Definition]\nfailregex = ^<HOST> <block>|<known/block>',
      {
        block: 'b',
      },
    );
    assert.deepEqual(overridden.failregex, ['^<HOST> b|a']);
  });

  it('refuses a tag that refers to itself, and a maxlines that is not a positive number', () => {
    assert.throws(() => definition('[Definition]\nfailregex = <a>\na = x<a>'), DefinitionError);
    assert.throws(() => definition('[Definition]\nfailregex = <HOST>\nmaxlines = 0'), DefinitionError);
  });

  it('splits journalmatch like a shell', () => {
    assert.deepEqual(shellSplit(`_COMM=a + "MESSAGE=two words" 'x y'`), [
      '_COMM=a',
      '+',
      'MESSAGE=two words',
      'x y',
    ]);
  });
});
