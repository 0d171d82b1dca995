import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import type { Finding } from '../../core/finding.ts';
import type { SshdFacts, SshdMatchBlock, SshdSetting } from '../collectors/sshd.ts';
import type { Endpoint, Exposure, Reach } from '../types.ts';
import { offeredFirst, sshdCheck } from './sshd.ts';

const CONFIG = '/etc/ssh/sshd_config';

function set(value: string, line?: number, ignored: SshdSetting['ignored'] = []): SshdSetting {
  return line === undefined
    ? { value, origin: 'default', ignored }
    : { value, origin: 'file', file: CONFIG, line, ignored };
}

/** Facts for a keys-only, no-root sshd; override what a test is about. */
function facts(overrides: Partial<SshdFacts> = {}): SshdFacts {
  return {
    source: 'files',
    configFile: CONFIG,
    files: [CONFIG],
    passwordAuthentication: set('no', 10),
    kbdInteractiveAuthentication: set('no', 11),
    permitRootLogin: set('no', 12),
    usePam: set('yes', 13),
    authenticationMethods: set('any'),
    ports: [{ port: 22, origin: 'default' }],
    listenAddresses: [],
    matchBlocks: [],
    ...overrides,
  };
}

function exposure(reach: Reach, seen: Endpoint[] = []): Exposure {
  return {
    assess(endpoint) {
      seen.push(endpoint);
      return { reach, reasons: [`${endpoint.service} on ${endpoint.port}: ${reach}`] };
    },
  };
}

function run(sshd: SshdFacts, reach: Reach = 'internet'): Finding[] {
  return sshdCheck.run({ facts: { sshd }, exposure: exposure(reach), config: parseConfig({}) });
}

function ids(findings: readonly Finding[]): string[] {
  return findings.map((f) => `${f.id}:${f.severity}`);
}

function match(criteria: string[], settings: Record<string, string>): SshdMatchBlock {
  const entries = Object.entries(settings).map(([k, value], i) => [k, { value, file: CONFIG, line: 41 + i }]);
  return { criteria, file: CONFIG, line: 40, settings: Object.fromEntries(entries) };
}

describe('sshd check', () => {
  it('declares every rule it emits', () => {
    const declared = new Set(sshdCheck.rules.map((r) => r.id));
    const all = [
      ...run(
        facts({
          passwordAuthentication: set('yes', 3),
          kbdInteractiveAuthentication: set('yes', 4),
          permitRootLogin: set('yes', 5),
        }),
      ),
      ...run(facts({ permitRootLogin: set('prohibit-password') })),
    ];
    assert.ok(all.length >= 4);
    for (const finding of all) assert.ok(declared.has(finding.id), finding.id);
  });

  it('finds nothing above the open port on a keys-only, no-root sshd', () => {
    assert.deepEqual(ids(run(facts())), ['sshd-open-to-internet:medium']);
    assert.deepEqual(ids(run(facts(), 'private')), []);
  });

  describe('sshd-password-auth', () => {
    it('is high when passwords are on (the OpenSSH default) and SSH reaches the internet', () => {
      const [finding] = run(facts({ passwordAuthentication: set('yes') }));
      assert.equal(finding?.id, 'sshd-password-auth');
      assert.equal(finding?.severity, 'high');
      assert.deepEqual(finding?.evidence[0], {
        file: CONFIG,
        detail: "PasswordAuthentication is not set, so OpenSSH's default applies: yes",
      });
    });

    it('names the line that wins and the later lines sshd ignores', () => {
      const [finding] = run(
        facts({
          passwordAuthentication: {
            value: 'yes',
            origin: 'file',
            file: '/etc/ssh/sshd_config.d/50-cloud-init.conf',
            line: 1,
            ignored: [{ value: 'no', file: CONFIG, line: 58 }],
          },
        }),
      );
      assert.deepEqual(finding?.evidence.slice(0, 2), [
        { file: '/etc/ssh/sshd_config.d/50-cloud-init.conf', line: 1, detail: 'PasswordAuthentication yes' },
        {
          file: CONFIG,
          line: 58,
          detail:
            'PasswordAuthentication no is ignored: sshd uses the first value it reads (/etc/ssh/sshd_config.d/50-cloud-init.conf:1)',
        },
      ]);
    });

    it('follows the reach of the SSH port', () => {
      assert.deepEqual(ids(run(facts({ passwordAuthentication: set('yes', 3) }), 'private')), [
        'sshd-password-auth:medium',
      ]);
      assert.deepEqual(ids(run(facts({ passwordAuthentication: set('yes', 3) }), 'local')), [
        'sshd-password-auth:low',
      ]);
    });

    it('is not raised when AuthenticationMethods requires a key first', () => {
      for (const methods of ['publickey', 'publickey,password', 'publickey,keyboard-interactive:pam']) {
        const found = run(
          facts({
            passwordAuthentication: set('yes', 3),
            kbdInteractiveAuthentication: set('yes', 4),
            authenticationMethods: set(methods, 5),
          }),
          'private',
        );
        assert.deepEqual(ids(found), [], methods);
      }
    });

    it('is raised when password may come first in one of the method lists', () => {
      assert.equal(offeredFirst('publickey password', 'password'), true);
      assert.equal(offeredFirst('any', 'password'), true);
      assert.equal(offeredFirst('publickey,password', 'password'), false);
    });

    it('flags a Match block that turns passwords on, by who it matches', () => {
      const forUser = run(
        facts({ matchBlocks: [match(['User', 'deploy'], { passwordauthentication: 'yes' })] }),
      );
      assert.deepEqual(ids(forUser).slice(0, 1), ['sshd-password-auth:medium']);
      assert.deepEqual(forUser[0]?.evidence[0], { file: CONFIG, line: 40, detail: 'Match User deploy' });
      assert.match(forUser[0]?.title ?? '', /Match User deploy/);

      const fromLan = run(
        facts({
          matchBlocks: [match(['Address', '10.0.0.0/8,192.168.0.0/16'], { passwordauthentication: 'yes' })],
        }),
      );
      assert.deepEqual(ids(fromLan).slice(0, 1), ['sshd-password-auth:low']);

      const forAll = run(facts({ matchBlocks: [match(['all'], { passwordauthentication: 'yes' })] }));
      assert.deepEqual(ids(forAll).slice(0, 1), ['sshd-password-auth:high']);

      const harmless = run(
        facts({ matchBlocks: [match(['User', 'backup'], { passwordauthentication: 'no' })] }),
        'private',
      );
      assert.deepEqual(ids(harmless), []);
    });
  });

  describe('sshd-kbd-interactive-auth', () => {
    it('is high when keyboard-interactive goes to PAM', () => {
      const found = run(facts({ kbdInteractiveAuthentication: set('yes') }));
      assert.deepEqual(ids(found).slice(0, 1), ['sshd-kbd-interactive-auth:high']);
      assert.ok(found[0]?.evidence.some((e) => e.detail === 'UsePAM yes'));
    });

    it('is not raised without PAM, or when it is off', () => {
      assert.deepEqual(
        ids(run(facts({ kbdInteractiveAuthentication: set('yes'), usePam: set('no') }), 'private')),
        [],
      );
      assert.deepEqual(ids(run(facts({ kbdInteractiveAuthentication: set('no', 4) }), 'private')), []);
    });
  });

  describe('sshd-root-login', () => {
    it('is high for PermitRootLogin yes with passwords on', () => {
      const found = run(facts({ permitRootLogin: set('yes', 31), passwordAuthentication: set('yes', 40) }));
      const root = found.find((f) => f.id === 'sshd-root-login');
      assert.equal(root?.severity, 'high');
      assert.deepEqual(root?.evidence[0], { file: CONFIG, line: 31, detail: 'PermitRootLogin yes' });
    });

    it('is low for PermitRootLogin yes with keys only, info for prohibit-password', () => {
      assert.deepEqual(ids(run(facts({ permitRootLogin: set('yes', 31) }), 'private')), [
        'sshd-root-login:low',
      ]);
      assert.deepEqual(ids(run(facts({ permitRootLogin: set('prohibit-password') }), 'private')), [
        'sshd-root-login:info',
      ]);
    });

    it('is not raised for no or forced-commands-only', () => {
      assert.deepEqual(ids(run(facts({ permitRootLogin: set('forced-commands-only', 31) }), 'private')), []);
      assert.deepEqual(ids(run(facts({ permitRootLogin: set('no', 31) }), 'private')), []);
    });

    it('flags a Match block that lets root in', () => {
      const found = run(
        facts({ matchBlocks: [match(['Address', '203.0.113.0/24'], { permitrootlogin: 'yes' })] }),
      );
      assert.deepEqual(ids(found).slice(0, 1), ['sshd-root-login:medium']);
    });
  });

  describe('sshd-open-to-internet', () => {
    it('asks exposure about every port with the ListenAddress binds that apply to it', () => {
      const seen: Endpoint[] = [];
      sshdCheck.run({
        facts: {
          sshd: facts({
            ports: [{ port: 22, origin: 'file', file: CONFIG, line: 5 }],
            listenAddresses: [
              { address: '10.8.0.1', origin: 'file', file: CONFIG, line: 6 },
              { address: '127.0.0.1', port: 2222, origin: 'file', file: CONFIG, line: 7 },
            ],
          }),
        },
        exposure: exposure('private', seen),
        config: parseConfig({}),
      });
      assert.deepEqual(seen, [
        { service: 'ssh', port: 22, protocol: 'tcp', binds: ['10.8.0.1'] },
        { service: 'ssh', port: 2222, protocol: 'tcp', binds: ['10.8.0.1', '127.0.0.1'] },
      ]);
    });

    it('is medium when the port reaches the internet, with the Port line and the reasons', () => {
      const [finding] = run(facts({ ports: [{ port: 2222, origin: 'file', file: CONFIG, line: 5 }] }));
      assert.equal(finding?.id, 'sshd-open-to-internet');
      assert.equal(finding?.severity, 'medium');
      assert.equal(finding?.title, 'SSH port 2222 is reachable from the whole internet');
      assert.deepEqual(finding?.evidence, [
        { file: CONFIG, line: 5, detail: 'Port 2222' },
        { detail: 'ssh on 2222: internet' },
      ]);
    });

    it('is not raised when only private networks or the host reach it', () => {
      assert.deepEqual(ids(run(facts(), 'private')), []);
      assert.deepEqual(ids(run(facts(), 'local')), []);
    });
  });
});
