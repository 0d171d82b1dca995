import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MoatError } from '../core/errors.ts';
import {
  createIptablesIpsetFirewall,
  IPSET_MAX_TIMEOUT_MS,
  type IptablesIpsetOptions,
  parseIpsetSave,
} from './iptables-ipset.ts';

interface Call {
  readonly argv: string[];
  readonly input?: string;
}

/**
 * A recording runner: `answer` gets each argv and returns stdout, or throws to fail the command
 * (as runCommand does on a non-zero exit).
 */
function recorder(answer: (argv: string[]) => string = () => '') {
  const calls: Call[] = [];
  const runner: NonNullable<IptablesIpsetOptions['runner']> = async (command, args, input) => {
    const argv = [command, ...args];
    calls.push(input === undefined ? { argv } : { argv, input });
    return answer(argv);
  };
  return { calls, runner, argvs: () => calls.map((c) => c.argv) };
}

const fail = (): never => {
  throw new MoatError('MOAT_COMMAND_FAILED', 'exit 1');
};
const drop = (set: string) => ['-m', 'set', '--match-set', set, 'src', '-j', 'DROP'];

describe('iptables-ipset command lines', () => {
  it('init creates both sets with per-entry timeouts, then inserts INPUT and FORWARD rules when no rule and no DOCKER-USER exist', async () => {
    const rec = recorder((argv) => (argv[2] === '-C' || argv[2] === '-S' ? fail() : ''));
    await createIptablesIpsetFirewall({ runner: rec.runner }).init();
    assert.deepEqual(rec.argvs(), [
      [
        'ipset',
        'create',
        'moat4',
        'hash:net',
        'family',
        'inet',
        'timeout',
        '0',
        'maxelem',
        '1048576',
        '-exist',
      ],
      [
        'ipset',
        'create',
        'moat6',
        'hash:net',
        'family',
        'inet6',
        'timeout',
        '0',
        'maxelem',
        '1048576',
        '-exist',
      ],
      ['iptables', '-w', '-C', 'INPUT', ...drop('moat4')],
      ['iptables', '-w', '-I', 'INPUT', '1', ...drop('moat4')],
      ['iptables', '-w', '-S', 'DOCKER-USER'],
      ['iptables', '-w', '-C', 'FORWARD', ...drop('moat4')],
      ['iptables', '-w', '-I', 'FORWARD', '1', ...drop('moat4')],
      ['ip6tables', '-w', '-C', 'INPUT', ...drop('moat6')],
      ['ip6tables', '-w', '-I', 'INPUT', '1', ...drop('moat6')],
      ['ip6tables', '-w', '-S', 'DOCKER-USER'],
      ['ip6tables', '-w', '-C', 'FORWARD', ...drop('moat6')],
      ['ip6tables', '-w', '-I', 'FORWARD', '1', ...drop('moat6')],
    ]);
  });

  it('init uses DOCKER-USER when it exists and inserts nothing when the rules are already there', async () => {
    const rec = recorder();
    await createIptablesIpsetFirewall({ runner: rec.runner, setPrefix: 'ban', maxElements: 5000 }).init();
    const argvs = rec.argvs();
    assert.ok(
      argvs.every((argv) => !argv.includes('-I')),
      JSON.stringify(argvs),
    );
    assert.deepEqual(argvs[0]?.slice(2), [
      'ban4',
      'hash:net',
      'family',
      'inet',
      'timeout',
      '0',
      'maxelem',
      '5000',
      '-exist',
    ]);
    assert.deepEqual(argvs[4], ['iptables', '-w', '-C', 'DOCKER-USER', ...drop('ban4')]);
    assert.ok(!argvs.some((argv) => argv.includes('FORWARD')));
  });

  it('block adds with -exist so a repeat refreshes the timeout, in whole seconds rounded up', async () => {
    const rec = recorder();
    const fw = createIptablesIpsetFirewall({ runner: rec.runner });
    await fw.block('203.0.113.7', 60_000);
    await fw.block('2001:DB8:1:2::5/64', 1);
    await fw.block('198.51.100.9/24');
    assert.deepEqual(rec.argvs(), [
      ['ipset', 'add', '-exist', 'moat4', '203.0.113.7', 'timeout', '60'],
      ['ipset', 'add', '-exist', 'moat6', '2001:db8:1:2::/64', 'timeout', '1'],
      ['ipset', 'add', '-exist', 'moat4', '198.51.100.0/24', 'timeout', '0'],
    ]);
  });

  it('clamps a ttl beyond ipset maximum (about 24.8 days) instead of failing', async () => {
    const rec = recorder();
    await createIptablesIpsetFirewall({ runner: rec.runner }).block('192.0.2.1', 90 * 86_400_000);
    assert.deepEqual(rec.argvs()[0]?.slice(-2), ['timeout', String(IPSET_MAX_TIMEOUT_MS / 1000)]);
  });

  it('blockMany loads the whole batch through one ipset restore', async () => {
    const rec = recorder();
    await createIptablesIpsetFirewall({ runner: rec.runner }).blockMany([
      { target: '192.0.2.20', ttlMs: 1500 },
      { target: '::ffff:192.0.2.21' },
      { target: '2001:db8::1', ttlMs: 60_000 },
    ]);
    assert.deepEqual(rec.calls, [
      {
        argv: ['ipset', 'restore', '-exist'],
        input:
          'add moat4 192.0.2.20 timeout 2\nadd moat4 192.0.2.21 timeout 0\nadd moat6 2001:db8::1 timeout 60\n',
      },
    ]);
  });

  it('refuses a batch with a bad target before running anything', async () => {
    const rec = recorder();
    const fw = createIptablesIpsetFirewall({ runner: rec.runner });
    await assert.rejects(fw.blockMany([{ target: '192.0.2.30' }, { target: 'not-an-ip' }]), {
      code: 'MOAT_USAGE',
    });
    await assert.rejects(fw.blockMany([{ target: '192.0.2.30' }, { target: '0.0.0.0/0' }]), {
      code: 'MOAT_USAGE',
    });
    await fw.blockMany([]);
    assert.deepEqual(rec.calls, []);
  });

  it('never passes text that is not an address to a command (no shell, no injection)', async () => {
    const rec = recorder();
    const fw = createIptablesIpsetFirewall({ runner: rec.runner });
    for (const bad of [
      '192.0.2.1; reboot',
      '$(id)',
      '192.0.2.1 -j ACCEPT',
      '::/0',
      '\u0000',
      'x'.repeat(1_000_000),
    ]) {
      await assert.rejects(fw.block(bad), { code: 'MOAT_USAGE' }, bad.slice(0, 20));
      await assert.rejects(fw.release(bad), { code: 'MOAT_USAGE' });
    }
    assert.deepEqual(rec.calls, []);
  });

  it('release deletes with -exist, so releasing what is not blocked is no error', async () => {
    const rec = recorder();
    await createIptablesIpsetFirewall({ runner: rec.runner }).release('2001:db8::1/128');
    assert.deepEqual(rec.argvs(), [['ipset', 'del', '-exist', 'moat6', '2001:db8::1']]);
  });

  it('refuses a set prefix ipset could not name a set with', () => {
    for (const setPrefix of ['', 'a b', 'x'.repeat(31), 'moat;']) {
      assert.throws(() => createIptablesIpsetFirewall({ setPrefix }), { code: 'MOAT_USAGE' });
    }
  });

  it('runs every command inside the network namespace it is given', async () => {
    const rec = recorder();
    await createIptablesIpsetFirewall({ runner: rec.runner, netns: 'test-ns' }).block('192.0.2.1', 1000);
    assert.deepEqual(rec.argvs(), [
      ['ip', 'netns', 'exec', 'test-ns', 'ipset', 'add', '-exist', 'moat4', '192.0.2.1', 'timeout', '1'],
    ]);
  });

  it('list reads only the sets that exist, and is empty before init', async () => {
    const rec = recorder((argv) =>
      argv[1] === 'list' ? 'other\nmoat4\n' : 'add moat4 192.0.2.1 timeout 30\n',
    );
    assert.deepEqual(await createIptablesIpsetFirewall({ runner: rec.runner }).list(), [
      { target: '192.0.2.1', expiresInMs: 30_000 },
    ]);
    assert.deepEqual(rec.argvs(), [
      ['ipset', 'list', '-n'],
      ['ipset', 'save', 'moat4'],
    ]);
    const none = recorder(() => 'other\n');
    assert.deepEqual(await createIptablesIpsetFirewall({ runner: none.runner }).list(), []);
    assert.equal(none.calls.length, 1);
  });

  it('teardown deletes every copy of its rules from all three chains, then destroys only sets that exist', async () => {
    let copies = 2; // INPUT holds the v4 rule twice; nothing else is there
    const rec = recorder((argv) => {
      if (argv[2] === '-C') return argv[0] === 'iptables' && argv[3] === 'INPUT' && copies > 0 ? '' : fail();
      if (argv[2] === '-D') copies--;
      if (argv[1] === 'list') return 'moat4\n';
      return '';
    });
    await createIptablesIpsetFirewall({ runner: rec.runner }).teardown();
    const changes = rec.argvs().filter((argv) => argv[2] === '-D' || argv[1] === 'destroy');
    assert.deepEqual(changes, [
      ['iptables', '-w', '-D', 'INPUT', ...drop('moat4')],
      ['iptables', '-w', '-D', 'INPUT', ...drop('moat4')],
      ['ipset', 'destroy', 'moat4'],
    ]);
    const checked = rec
      .argvs()
      .filter((argv) => argv[2] === '-C')
      .map((argv) => `${argv[0]} ${argv[3]}`);
    assert.deepEqual(
      new Set(checked),
      new Set([
        'iptables INPUT',
        'iptables FORWARD',
        'iptables DOCKER-USER',
        'ip6tables INPUT',
        'ip6tables FORWARD',
        'ip6tables DOCKER-USER',
      ]),
    );
  });

  it('runs verbs one at a time even when called together', async () => {
    let running = 0;
    let most = 0;
    const runner: NonNullable<IptablesIpsetOptions['runner']> = async () => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running--;
      return '';
    };
    const fw = createIptablesIpsetFirewall({ runner });
    await Promise.all([fw.init(), fw.block('192.0.2.1'), fw.teardown(), fw.release('192.0.2.1')]);
    assert.equal(most, 1);
  });
});

describe('parseIpsetSave', () => {
  const save = [
    'create moat4 hash:net family inet hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x1',
    'add moat4 203.0.113.7 timeout 59',
    'add moat4 198.51.100.0/24 timeout 0',
    'add moat4 192.0.2.1',
    'add other 192.0.2.99 timeout 10',
    'create moat6 hash:net family inet6 hashsize 1024 maxelem 1048576 timeout 0 bucketsize 12 initval 0x2',
    'add moat6 2001:db8:1:2::/64 timeout 3600',
    'add moat6 2001:0db8::0001 timeout 0',
    'add moat4 not-an-address timeout 5',
    'add moat4',
    '\u0000\uFFFD garbage',
    '',
  ].join('\n');

  it('reads entries of the named sets, normalised, with remaining timeouts; skips the rest', () => {
    assert.deepEqual(parseIpsetSave(save, ['moat4', 'moat6']), [
      { target: '203.0.113.7', expiresInMs: 59_000 },
      { target: '198.51.100.0/24' },
      { target: '192.0.2.1' },
      { target: '2001:db8:1:2::/64', expiresInMs: 3_600_000 },
      { target: '2001:db8::1' },
    ]);
  });

  it('returns nothing for empty or unrelated output', () => {
    assert.deepEqual(parseIpsetSave('', ['moat4']), []);
    assert.deepEqual(parseIpsetSave(save, ['moat9']), []);
  });
});
