import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createHost } from '../host.ts';
import { netfilterCollector } from './netfilter.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function tree(files: Record<string, string>, links: Record<string, string> = {}): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-netfilter-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  for (const [link, target] of Object.entries(links)) {
    await mkdir(path.dirname(path.join(root, link)), { recursive: true });
    await symlink(target, path.join(root, link));
  }
  return root;
}

async function collect(root: string) {
  return netfilterCollector.collect({
    host: createHost({ root }),
    config: parseConfig({}),
    composeFiles: [],
  });
}

const NFT = `#!/usr/sbin/nft -f
flush ruleset
table inet filter {
	chain input {
		type filter hook input priority 0; policy drop;
		tcp dport 22 accept
	}
}
include "/etc/nftables.d/*.nft"
`;

describe('netfilter collector (--root)', () => {
  it('says so in skipped when the tree has no ruleset file', async () => {
    const result = await collect(await tree({ 'etc/hostname': 'web1\n' }));
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no \/etc\/nftables\.conf/);
  });

  it('reads /etc/nftables.conf and its includes when nftables.service is enabled', async () => {
    const root = await tree(
      {
        'etc/nftables.conf': NFT,
        'etc/nftables.d/docker.nft': 'add rule inet filter input tcp dport 443 accept\n',
      },
      { 'etc/systemd/system/sysinit.target.wants/nftables.service': '/lib/systemd/system/nftables.service' },
    );
    const result = await collect(root);
    const rules = result.facts?.rulesets[0]?.chains['input']?.rules ?? [];
    assert.deepEqual(
      rules.map((r) => [r.file, r.line]),
      [
        ['/etc/nftables.conf', 6],
        ['/etc/nftables.d/docker.nft', 1],
      ],
    );
    assert.deepEqual(result.findings, []);
  });

  it('does not count /etc/nftables.conf when the tree shows systemd but nftables.service is not enabled', async () => {
    const root = await tree({
      'etc/nftables.conf': NFT,
      'etc/systemd/system/multi-user.target.wants/ssh.service': '',
    });
    const result = await collect(root);
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /nftables\.service is not enabled/);
  });

  it('reads /etc/iptables/rules.v4 and rules.v6 with their families, and Docker DNAT rules', async () => {
    const root = await tree({
      'etc/iptables/rules.v4':
        '*nat\n:DOCKER - [0:0]\n-A DOCKER -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n',
      'etc/iptables/rules.v6': '*filter\n:INPUT DROP [0:0]\nCOMMIT\n',
    });
    const result = await collect(root);
    assert.deepEqual(
      result.facts?.rulesets.map((r) => [r.source, r.family, r.input]),
      [
        ['/etc/iptables/rules.v4', 4, ['INPUT']],
        ['/etc/iptables/rules.v6', 6, ['INPUT']],
      ],
    );
    assert.deepEqual(
      result.facts?.dockerDnat.map((d) => [d.port, d.toPort, d.file, d.line]),
      [[8080, 80, '/etc/iptables/rules.v4', 3]],
    );
  });

  it('turns a ruleset file it cannot parse into an unparsable-file finding and goes on', async () => {
    const root = await tree({
      'etc/nftables.conf': 'table inet filter {\n  chain input {\n',
      'etc/iptables/rules.v4': '*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n',
    });
    const result = await collect(root);
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file]),
      [['unparsable-file', '/etc/nftables.conf']],
    );
    assert.equal(result.facts?.rulesets.length, 1);
  });
});
