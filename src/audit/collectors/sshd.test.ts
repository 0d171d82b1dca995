import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createHost, type Host } from '../host.ts';
import { parseSshdT, splitListenAddress, sshdCollector } from './sshd.ts';
import { splitSshdLine } from './sshd-syntax.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-sshd-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.join(root, path.dirname(file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

async function collect(files: Record<string, string>) {
  const root = await tree(files);
  return sshdCollector.collect({ host: createHost({ root }), config: parseConfig({}), composeFiles: [] });
}

describe('splitSshdLine', () => {
  it('splits keyword and arguments on blanks or a single =', () => {
    assert.deepEqual(splitSshdLine('PasswordAuthentication no'), {
      kind: 'directive',
      keyword: 'passwordauthentication',
      args: ['no'],
    });
    assert.deepEqual(splitSshdLine('  Port=2222'), { kind: 'directive', keyword: 'port', args: ['2222'] });
    assert.deepEqual(splitSshdLine('Port = 2222'), { kind: 'directive', keyword: 'port', args: ['2222'] });
  });

  it('ignores comments and blank lines, and stops at a # that starts an argument', () => {
    assert.deepEqual(splitSshdLine('# PasswordAuthentication yes'), { kind: 'blank' });
    assert.deepEqual(splitSshdLine('   '), { kind: 'blank' });
    assert.deepEqual(splitSshdLine('PermitRootLogin no # was yes'), {
      kind: 'directive',
      keyword: 'permitrootlogin',
      args: ['no'],
    });
  });

  it('honours quotes and backslash escapes', () => {
    assert.deepEqual(splitSshdLine('Banner "/etc/my banner"'), {
      kind: 'directive',
      keyword: 'banner',
      args: ['/etc/my banner'],
    });
    assert.deepEqual(splitSshdLine("AuthorizedKeysFile '.ssh/a b' c\\ d"), {
      kind: 'directive',
      keyword: 'authorizedkeysfile',
      args: ['.ssh/a b', 'c d'],
    });
  });

  it('reports an unclosed quote and a keyword without argument', () => {
    assert.equal(splitSshdLine('Banner "/etc/banner').kind, 'error');
    assert.equal(splitSshdLine('PasswordAuthentication').kind, 'error');
  });
});

describe('sshd collector', () => {
  it('is skipped when there is no sshd_config', async () => {
    const result = await collect({ 'etc/hostname': 'x\n' });
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no \/etc\/ssh\/sshd_config/);
  });

  it('applies OpenSSH defaults when a keyword is absent', async () => {
    const { facts } = await collect({ 'etc/ssh/sshd_config': '# empty\nX11Forwarding no\n' });
    assert.ok(facts);
    assert.equal(facts.passwordAuthentication.value, 'yes');
    assert.equal(facts.passwordAuthentication.origin, 'default');
    assert.equal(facts.permitRootLogin.value, 'prohibit-password');
    assert.equal(facts.usePam.value, 'no');
    assert.equal(facts.authenticationMethods.value, 'any');
    assert.deepEqual(facts.ports, [{ port: 22, origin: 'default' }]);
    assert.deepEqual(facts.listenAddresses, []);
  });

  it('takes the first value per keyword, with included files read where Include stands', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config':
        'Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\nPermitRootLogin no\n',
      'etc/ssh/sshd_config.d/50-cloud-init.conf': 'PasswordAuthentication yes\n',
      'etc/ssh/sshd_config.d/10-a.conf': 'PermitRootLogin without-password\n',
      'etc/ssh/sshd_config.d/notes.txt': 'PermitRootLogin yes\n',
    });
    assert.ok(facts);
    assert.deepEqual(facts.files, [
      '/etc/ssh/sshd_config',
      '/etc/ssh/sshd_config.d/10-a.conf',
      '/etc/ssh/sshd_config.d/50-cloud-init.conf',
    ]);
    assert.equal(facts.passwordAuthentication.value, 'yes');
    assert.equal(facts.passwordAuthentication.file, '/etc/ssh/sshd_config.d/50-cloud-init.conf');
    assert.equal(facts.passwordAuthentication.line, 1);
    assert.deepEqual(facts.passwordAuthentication.ignored, [
      { value: 'no', file: '/etc/ssh/sshd_config', line: 2 },
    ]);
    assert.equal(facts.permitRootLogin.value, 'prohibit-password');
  });

  it('resolves relative Include paths under /etc/ssh', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config': 'Include extra/*.conf\n',
      'etc/ssh/extra/a.conf': 'UsePAM yes\n',
    });
    assert.equal(facts?.usePam.value, 'yes');
    assert.equal(facts?.usePam.file, '/etc/ssh/extra/a.conf');
  });

  it('reads ChallengeResponseAuthentication as KbdInteractiveAuthentication', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config': 'ChallengeResponseAuthentication no\nKbdInteractiveAuthentication yes\n',
    });
    assert.equal(facts?.kbdInteractiveAuthentication.value, 'no');
    assert.equal(facts?.kbdInteractiveAuthentication.line, 1);
  });

  it('adds up Port and ListenAddress lines', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config': 'Port 22\nPort 2222\nListenAddress 10.8.0.1\nListenAddress [::1]:2200\n',
    });
    assert.deepEqual(
      facts?.ports.map((p) => p.port),
      [22, 2222],
    );
    assert.deepEqual(facts?.listenAddresses, [
      { address: '10.8.0.1', origin: 'file', file: '/etc/ssh/sshd_config', line: 3 },
      { address: '::1', port: 2200, origin: 'file', file: '/etc/ssh/sshd_config', line: 4 },
    ]);
  });

  it('records Match blocks apart, without changing the global settings', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config': [
        'PasswordAuthentication no',
        'Match Address 10.0.0.0/8',
        '  PasswordAuthentication yes',
        '  PermitRootLogin yes',
        'Match User backup',
        '  ForceCommand /bin/backup',
      ].join('\n'),
    });
    assert.equal(facts?.passwordAuthentication.value, 'no');
    assert.equal(facts?.permitRootLogin.origin, 'default');
    assert.deepEqual(facts?.matchBlocks, [
      {
        criteria: ['Address', '10.0.0.0/8'],
        file: '/etc/ssh/sshd_config',
        line: 2,
        settings: {
          passwordauthentication: { value: 'yes', file: '/etc/ssh/sshd_config', line: 3 },
          permitrootlogin: { value: 'yes', file: '/etc/ssh/sshd_config', line: 4 },
        },
      },
      { criteria: ['User', 'backup'], file: '/etc/ssh/sshd_config', line: 5, settings: {} },
    ]);
  });

  it('ends a Match block at the end of the included file', async () => {
    const { facts } = await collect({
      'etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication no\n',
      'etc/ssh/sshd_config.d/match.conf': 'Match User deploy\n  PasswordAuthentication yes\n',
    });
    assert.equal(facts?.passwordAuthentication.value, 'no');
    assert.equal(facts?.passwordAuthentication.line, 2);
    assert.equal(facts?.matchBlocks[0]?.settings['passwordauthentication']?.value, 'yes');
  });

  it('reports bad lines as unparsable-file findings with file and line, and reads on', async () => {
    const result = await collect({
      'etc/ssh/sshd_config':
        'Banner "/etc/issue\nPasswordAuthentication maybe\nPort 99999\nPermitRootLogin no\n',
    });
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file, f.evidence[0]?.line]),
      [
        ['unparsable-file', '/etc/ssh/sshd_config', 1],
        ['unparsable-file', '/etc/ssh/sshd_config', 2],
        ['unparsable-file', '/etc/ssh/sshd_config', 3],
      ],
    );
    assert.equal(result.facts?.permitRootLogin.value, 'no');
    assert.equal(result.facts?.passwordAuthentication.origin, 'default');
  });

  it('stops an Include loop with a finding', async () => {
    const result = await collect({ 'etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config\nUsePAM yes\n' });
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
    assert.equal(result.facts?.usePam.value, 'yes');
  });

  it('follows a symlinked drop-in inside the --root tree', async () => {
    const root = await tree({
      'etc/ssh/sshd_config': 'Include /etc/ssh/sshd_config.d/*.conf\n',
      'etc/ssh/available/keys-only.conf': 'PasswordAuthentication no\n',
    });
    await mkdir(path.join(root, 'etc/ssh/sshd_config.d'));
    await symlink('/etc/ssh/available/keys-only.conf', path.join(root, 'etc/ssh/sshd_config.d/keys.conf'));
    const { facts } = await sshdCollector.collect({
      host: createHost({ root }),
      config: parseConfig({}),
      composeFiles: [],
    });
    assert.equal(facts?.passwordAuthentication.value, 'no');
    assert.equal(facts?.passwordAuthentication.file, '/etc/ssh/sshd_config.d/keys.conf');
  });
});

describe('sshd -T on the live host', () => {
  const liveHost = (
    files: Record<string, string>,
    output: { code: number; stdout: string; stderr: string },
  ): Host => ({
    root: '/',
    live: true,
    problems: [],
    readText: async (p) => files[p],
    readHead: async () => undefined,
    list: async () => undefined,
    isFile: async (p) => p in files,
    isDirectory: async () => false,
    readLink: async () => undefined,
    run: async (command) => (command === 'sshd' ? output : undefined),
  });

  it('parses the effective settings it prints', () => {
    const parsed = parseSshdT(
      'port 22\nport 2222\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\npermitrootlogin without-password\nusepam yes\n',
    );
    assert.deepEqual(parsed.ports, [22, 2222]);
    assert.deepEqual(parsed.listen, [
      { address: '::', port: 22 },
      { address: '0.0.0.0', port: 22 },
    ]);
    assert.equal(parsed.flags.get('permitrootlogin'), 'prohibit-password');
    assert.equal(parsed.flags.get('usepam'), 'yes');
  });

  it('lets sshd -T win and keeps the file line where they agree', async () => {
    const host = liveHost(
      { '/etc/ssh/sshd_config': 'PermitRootLogin no\nPasswordAuthentication no\n' },
      { code: 0, stdout: 'permitrootlogin no\npasswordauthentication yes\nport 22\n', stderr: '' },
    );
    const { facts } = await sshdCollector.collect({ host, config: parseConfig({}), composeFiles: [] });
    assert.equal(facts?.source, 'sshd -T');
    assert.equal(facts?.permitRootLogin.origin, 'file');
    assert.equal(facts?.permitRootLogin.line, 1);
    assert.equal(facts?.passwordAuthentication.value, 'yes');
    assert.equal(facts?.passwordAuthentication.origin, 'sshd -T');
  });

  it('falls back to the files when sshd -T fails, and says so', async () => {
    const host = liveHost(
      { '/etc/ssh/sshd_config': 'PasswordAuthentication no\n' },
      { code: 255, stdout: '', stderr: 'sshd: no hostkeys available -- exiting.\n' },
    );
    const result = await sshdCollector.collect({ host, config: parseConfig({}), composeFiles: [] });
    assert.equal(result.facts?.source, 'files');
    assert.equal(result.facts?.passwordAuthentication.value, 'no');
    assert.match(result.skipped?.[0]?.reason ?? '', /sshd -T failed \(exit 255: sshd: no hostkeys available/);
  });
});

describe('splitListenAddress', () => {
  it('separates an optional port from IPv4, bracketed IPv6 and bare addresses', () => {
    assert.deepEqual(splitListenAddress('0.0.0.0'), { address: '0.0.0.0' });
    assert.deepEqual(splitListenAddress('10.0.0.1:2222'), { address: '10.0.0.1', port: 2222 });
    assert.deepEqual(splitListenAddress('[::]:22'), { address: '::', port: 22 });
    assert.deepEqual(splitListenAddress('::'), { address: '::' });
  });
});
