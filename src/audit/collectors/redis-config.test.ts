import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildRedisInstance,
  maskDirective,
  parseAclFile,
  parseRedisArgs,
  parseRedisConfig,
  splitRedisArgs,
} from './redis-config.ts';

const FILE = '/etc/redis/redis.conf';

function build(text: string, options: Parameters<typeof buildRedisInstance>[3] = {}) {
  const parsed = parseRedisConfig(text, FILE);
  const built = buildRedisInstance(FILE, [FILE], parsed.directives, options);
  return { instance: built.instance, errors: [...parsed.errors, ...built.errors] };
}

describe('splitRedisArgs (sdssplitargs)', () => {
  it('splits on any run of whitespace', () => {
    assert.deepEqual(splitRedisArgs('  bind\t127.0.0.1   -::1 '), ['bind', '127.0.0.1', '-::1']);
  });

  it('reads double quotes with escapes, including \\xHH', () => {
    assert.deepEqual(splitRedisArgs('requirepass "a b\\"c\\n\\x41"'), ['requirepass', 'a b"c\nA']);
  });

  it("reads single quotes, where only \\' is an escape", () => {
    assert.deepEqual(splitRedisArgs("requirepass 'it\\'s \\n'"), ['requirepass', "it's \\n"]);
  });

  it('keeps an empty quoted argument', () => {
    assert.deepEqual(splitRedisArgs('rename-command CONFIG ""'), ['rename-command', 'CONFIG', '']);
  });

  it('opens a quote in the middle of a word, as Redis does', () => {
    assert.deepEqual(splitRedisArgs('dir /var/"lib redis"'), ['dir', '/var/lib redis']);
  });

  it('refuses an unterminated quote and a closing quote followed by text', () => {
    assert.equal(splitRedisArgs('requirepass "abc'), undefined);
    assert.equal(splitRedisArgs('bind "0.0.0.0"x'), undefined);
    assert.equal(splitRedisArgs("requirepass 'abc"), undefined);
  });
});

describe('parseRedisConfig', () => {
  it('skips comments and blank lines, lower-cases names and keeps 1-based line numbers', () => {
    const { directives, errors } = parseRedisConfig(
      '# comment\n\n  PORT 6380\n   # indented comment\nbind 0.0.0.0\n',
      FILE,
    );
    assert.deepEqual(errors, []);
    assert.deepEqual(
      directives.map((d) => [d.name, d.args, d.line]),
      [
        ['port', ['6380'], 3],
        ['bind', ['0.0.0.0'], 5],
      ],
    );
  });

  it('reports unbalanced quotes with the line, and goes on', () => {
    const { directives, errors } = parseRedisConfig(
      'port 6379\nrequirepass "oops\nprotected-mode no\n',
      FILE,
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [2],
    );
    assert.deepEqual(
      directives.map((d) => d.name),
      ['port', 'protected-mode'],
    );
  });

  it('never keeps a password in the text meant for evidence', () => {
    const { directives } = parseRedisConfig(
      `requirepass "s3cret pass"\nmasterauth hunter2\nuser app on >pw1 #${'a'.repeat(64)} ~* +@all\n`,
      FILE,
    );
    const texts = directives.map((d) => d.text).join('\n');
    assert.doesNotMatch(texts, /s3cret|hunter2|pw1|aaaa/);
    assert.match(texts, /requirepass \*{8}/);
    assert.match(texts, /user app on >\*{8} #… ~\* \+@all/);
  });

  it('masks the new name of a renamed command but shows a disabled one', () => {
    assert.equal(
      maskDirective('rename-command', ['CONFIG', 'b840fc02d5']),
      'rename-command CONFIG <renamed>',
    );
    assert.equal(maskDirective('rename-command', ['CONFIG', '']), 'rename-command CONFIG ""');
  });
});

describe('buildRedisInstance', () => {
  it('gives Redis defaults when the file sets nothing', () => {
    const { instance, errors } = build('');
    assert.deepEqual(errors, []);
    assert.equal(instance.port.value, 6379);
    assert.equal(instance.port.line, undefined);
    assert.equal(instance.bind, undefined);
    assert.equal(instance.protectedMode.value, true);
    assert.equal(instance.defaultUser.enabled, true);
    assert.equal(instance.defaultUser.nopass, true);
    assert.equal(instance.dir.value, './');
    assert.equal(instance.enableDebugCommand.value, 'no');
  });

  it('lets the last of a repeated single-valued directive win', () => {
    const { instance } = build('port 6379\nprotected-mode yes\nport 6380\nprotected-mode no\n');
    assert.equal(instance.port.value, 6380);
    assert.equal(instance.port.line, 3);
    assert.equal(instance.protectedMode.value, false);
    assert.equal(instance.protectedMode.line, 4);
  });

  it('reads several bind addresses, dropping the "-" (optional) prefix and mapping * and ::*', () => {
    const { instance } = build('bind 127.0.0.1 -::1\nbind * -::* 10.0.0.5\n');
    assert.deepEqual(instance.bind?.value, ['*', '-::*', '10.0.0.5']);
    assert.deepEqual(instance.bind?.addresses, ['0.0.0.0', '::', '10.0.0.5']);
    assert.equal(instance.bind?.line, 2);
  });

  it('treats requirepass "" as no password', () => {
    const { instance } = build('requirepass ""\n');
    assert.equal(instance.requirepass?.value, false);
    assert.equal(instance.defaultUser.nopass, true);
  });

  it('gives the default user a password with requirepass', () => {
    const { instance } = build('requirepass "correct horse"\n');
    assert.equal(instance.defaultUser.nopass, false);
    assert.equal(instance.defaultUser.passwordCount, 1);
    assert.equal(instance.defaultUser.line, 1);
  });

  it('lets a "user default" line replace requirepass, wherever it stands', () => {
    const { instance } = build('user default on nopass ~* &* +@all\nrequirepass secret\n');
    assert.equal(instance.defaultUser.nopass, true);
    assert.equal(instance.defaultUser.line, 1);
    assert.equal(instance.requirepassIgnored, true);
  });

  it('starts a user line from reset: "user default on" alone has no password and no commands', () => {
    const { instance } = build('user default on\n');
    assert.equal(instance.defaultUser.enabled, true);
    assert.equal(instance.defaultUser.nopass, false);
    assert.equal(instance.defaultUser.commands.config, false);
  });

  it('follows ACL command rules in order: categories, single commands, reset, selectors', () => {
    const { instance, errors } = build(
      [
        'user a on nopass +@all -config -@dangerous +replicaof',
        'user b on >x allcommands reset on nopass +get',
        'user c on >x -@all (~job:* +module|list)',
        'user d on >x nocommands +@admin -debug',
      ].join('\n'),
    );
    assert.deepEqual(errors, []);
    const byName = Object.fromEntries(instance.users.map((u) => [u.name, u.commands]));
    assert.deepEqual(byName['a'], {
      config: false,
      replicaof: true,
      slaveof: false,
      module: false,
      debug: false,
    });
    assert.deepEqual(byName['b'], {
      config: false,
      replicaof: false,
      slaveof: false,
      module: false,
      debug: false,
    });
    assert.deepEqual(byName['c'], {
      config: false,
      replicaof: false,
      slaveof: false,
      module: true,
      debug: false,
    });
    assert.deepEqual(byName['d'], {
      config: true,
      replicaof: true,
      slaveof: true,
      module: true,
      debug: false,
    });
    assert.equal(instance.users.find((u) => u.name === 'a')?.decidedBy.config, '-@dangerous');
  });

  it('counts passwords added and removed, by clear text or SHA-256', () => {
    const hash = '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8'; // sha256("password")
    const { instance } = build(`user a on >password >other <password\nuser b on #${hash} <password\n`);
    assert.equal(instance.users.find((u) => u.name === 'a')?.passwordCount, 1);
    assert.equal(instance.users.find((u) => u.name === 'b')?.passwordCount, 0);
  });

  it('refuses an unknown ACL rule or category, a bad hash and an unclosed selector', () => {
    const { errors } = build(
      'user a on +@nosuchcategory\nuser b on frobnicate\nuser c on #abc\nuser d on (+get ~x\n',
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [1, 2, 3, 4],
    );
    assert.match(errors[1]?.detail ?? '', /unknown ACL rule "frobnicate"/);
  });

  it('refuses invalid values the way Redis does and keeps the default', () => {
    const { instance, errors } = build('protected-mode maybe\nport 70000\nenable-debug-command sometimes\n');
    assert.deepEqual(
      errors.map((e) => e.line),
      [1, 2, 3],
    );
    assert.equal(instance.protectedMode.value, true);
    assert.equal(instance.port.value, 6379);
  });

  it('records renames, refusing a second rename of the same command', () => {
    const { instance, errors } = build(
      'rename-command CONFIG ""\nrename-command DEBUG x1\nrename-command config y\n',
    );
    assert.deepEqual(
      instance.renames.map((r) => [r.command, r.disabled, r.line]),
      [
        ['config', true, 1],
        ['debug', false, 2],
      ],
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [3],
    );
  });

  it('reads enable-*-command as yes, no or local', () => {
    const { instance } = build(
      'enable-debug-command local\nenable-module-command YES\nenable-protected-configs no\n',
    );
    assert.equal(instance.enableDebugCommand.value, 'local');
    assert.equal(instance.enableModuleCommand.value, 'yes');
    assert.equal(instance.enableProtectedConfigs.value, 'no');
  });

  it('judges the Redis version from directives only one side knows', () => {
    assert.equal(build('hash-max-ziplist-entries 512\n').instance.versionHint?.atLeast7, false);
    assert.equal(build('hash-max-listpack-entries 512\n').instance.versionHint?.atLeast7, true);
    assert.equal(
      build('hash-max-ziplist-entries 512\nappenddirname x\n').instance.versionHint?.atLeast7,
      true,
    );
    assert.equal(build('port 6379\n').instance.versionHint, undefined);
  });

  it('uses the aclfile instead of requirepass and inline users', () => {
    const acl = {
      file: '/etc/redis/users.acl',
      text: 'user default off\nuser app on >pw ~* +@all -@dangerous\n',
    };
    const { instance, errors } = build('requirepass secret\naclfile /etc/redis/users.acl\n', { acl });
    assert.deepEqual(errors, []);
    assert.equal(instance.defaultUser.enabled, false);
    assert.equal(instance.defaultUser.file, '/etc/redis/users.acl');
    assert.equal(instance.defaultUser.line, 1);
    assert.equal(instance.requirepassIgnored, true);
    assert.deepEqual(
      instance.users.map((u) => u.name),
      ['app'],
    );
  });

  it('gives the default user "on nopass" when the aclfile does not name it, even with requirepass', () => {
    const acl = { file: '/etc/redis/users.acl', text: 'user app on >pw +@all\n' };
    const { instance } = build('requirepass secret\naclfile /etc/redis/users.acl\n', { acl });
    assert.equal(instance.defaultUser.enabled, true);
    assert.equal(instance.defaultUser.nopass, true);
    assert.equal(instance.defaultUser.line, undefined);
  });

  it('refuses user lines together with an aclfile', () => {
    const { errors } = build('aclfile /etc/redis/users.acl\nuser app on >pw +@all\n', {
      acl: { file: '/etc/redis/users.acl', text: '' },
    });
    assert.deepEqual(
      errors.map((e) => e.line),
      [2],
    );
  });

  it('can take another protected-mode default (the official Docker image runs with it off)', () => {
    assert.equal(build('', { protectedModeDefault: false }).instance.protectedMode.value, false);
  });

  it('applies command-line arguments after the file', () => {
    const parsed = parseRedisConfig('protected-mode yes\nport 6379\n', FILE);
    const args = parseRedisArgs(['--protected-mode', 'no', '--port', '6380', '--save', ''], {
      file: '/etc/systemd/system/redis.service',
      line: 7,
    });
    const { instance } = buildRedisInstance(FILE, [FILE], [...parsed.directives, ...args]);
    assert.equal(instance.protectedMode.value, false);
    assert.equal(instance.protectedMode.file, '/etc/systemd/system/redis.service');
    assert.equal(instance.port.value, 6380);
  });
});

describe('parseAclFile', () => {
  it('skips blank lines and refuses comments, which Redis does not allow there', () => {
    const { users, errors } = parseAclFile(
      '\nuser default off\n  \n# admins\nuser admin on >pw +@all\n',
      '/x.acl',
    );
    assert.deepEqual(
      users.map((u) => [u.name, u.line]),
      [
        ['default', 2],
        ['admin', 5],
      ],
    );
    assert.deepEqual(
      errors.map((e) => e.line),
      [4],
    );
  });
});
