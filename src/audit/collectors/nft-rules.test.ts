import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ALL, evaluateBaseChain, isEmpty, type Packet } from '../firewall.ts';
import { globMatches, includePaths, parseNft } from './nft-rules.ts';

const tcp = (port: number, from: 'public' | 'private' = 'public', family: 4 | 6 = 4): Packet => ({
  family,
  protocol: 'tcp',
  port,
  origPort: port,
  path: 'input',
  from,
});

// A typical hand-written /etc/nftables.conf (Debian layout).
const CONF = `#!/usr/sbin/nft -f

flush ruleset

define ADMIN = 198.51.100.0/24

table inet filter {
	set cdn4 {
		type ipv4_addr
		flags interval
		elements = { 173.245.48.0/20, 103.21.244.0/22,
			     104.16.0.0/13 }
	}

	chain input {
		type filter hook input priority filter; policy drop;

		ct state vmap { invalid : drop, established : accept, related : accept }
		iif "lo" accept
		ip protocol icmp accept
		tcp dport ssh ip saddr $ADMIN accept comment "admins only"
		tcp dport { 80, 443 } ip saddr @cdn4 counter accept
		ip saddr 10.0.0.0/8 tcp dport 6379 accept
		udp dport 51820 accept
		tcp dport 9000-9100 drop
		tcp dport vmap { 8080 : accept, 8081 : drop }
	}

	chain forward {
		type filter hook forward priority filter; policy accept;
	}
}
`;

describe('nftables parsing', () => {
  const parsed = parseNft(CONF, { file: '/etc/nftables.conf' });
  const rs = parsed.rulesets[0]!;

  it('reads tables, base chains, priorities and policies with their lines', () => {
    assert.deepEqual(parsed.errors, []);
    assert.equal(parsed.rulesets.length, 1);
    assert.equal(rs.name, 'nftables table inet filter');
    assert.equal(rs.family, 'both');
    assert.deepEqual(rs.input, ['input']);
    assert.deepEqual(rs.forward, ['forward']);
    assert.equal(rs.chains['input']?.policy, 'drop');
    assert.equal(rs.chains['input']?.policyLine, 16);
    assert.equal(rs.chains['input']?.policyFile, '/etc/nftables.conf');
  });

  it('keeps each rule with its line and text', () => {
    const rule = rs.chains['input']!.rules.find((r) => r.line === 21);
    assert.equal(
      rule?.text,
      'tcp dport ssh ip saddr $ADMIN accept comment "admins only"'.replace('$ADMIN', '198.51.100.0/24'),
    );
    assert.deepEqual(rule?.sources, { values: ['198.51.100.0/24'], negated: false });
    assert.deepEqual(rule?.dports, { values: [{ from: 22, to: 22 }], negated: false });
  });

  it('answers who can reach each port', () => {
    assert.deepEqual(evaluateBaseChain(rs, 'input', tcp(22)).accepted, {
      kind: 'only',
      items: ['198.51.100.0/24'],
    });
    assert.deepEqual(evaluateBaseChain(rs, 'input', tcp(443)).accepted, {
      kind: 'only',
      items: ['173.245.48.0/20', '103.21.244.0/22', '104.16.0.0/13'],
    });
    assert.ok(isEmpty(evaluateBaseChain(rs, 'input', tcp(6379)).accepted));
    assert.deepEqual(evaluateBaseChain(rs, 'input', tcp(6379, 'private')).accepted, {
      kind: 'only',
      items: ['10.0.0.0/8'],
    });
    assert.deepEqual(evaluateBaseChain(rs, 'input', { ...tcp(51820), protocol: 'udp' }).accepted, ALL);
    assert.ok(isEmpty(evaluateBaseChain(rs, 'input', tcp(9050)).accepted));
    assert.deepEqual(evaluateBaseChain(rs, 'input', tcp(8080)).accepted, ALL, 'vmap element with accept');
    assert.ok(isEmpty(evaluateBaseChain(rs, 'input', tcp(8081)).accepted), 'vmap element with drop');
    assert.ok(isEmpty(evaluateBaseChain(rs, 'input', tcp(8082)).accepted), 'not in the vmap: policy');
  });

  it('applies ip-only rules of an inet table to IPv4 only', () => {
    assert.ok(isEmpty(evaluateBaseChain(rs, 'input', tcp(6379, 'private', 6)).accepted));
  });

  it('reads the `add rule` command form and output of `nft list ruleset`', () => {
    const listed = parseNft(`table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		meta l4proto tcp tcp dport 6379 counter packets 12 bytes 720 drop
	}
}
table ip6 extra {
}
add rule ip filter INPUT tcp dport 11211 drop
`);
    assert.deepEqual(listed.errors, []);
    const filter = listed.rulesets.find((r) => r.name === 'nftables table ip filter')!;
    assert.equal(filter.source, 'nft list ruleset');
    assert.equal(filter.family, 4);
    assert.ok(isEmpty(evaluateBaseChain(filter, 'INPUT', tcp(6379)).accepted));
    assert.ok(isEmpty(evaluateBaseChain(filter, 'INPUT', tcp(11211)).accepted));
    assert.deepEqual(evaluateBaseChain(filter, 'INPUT', tcp(80)).accepted, ALL);
  });

  it('follows includes from the map of files read, globs included', () => {
    const includes = new Map([
      ['/etc/nftables.d/10-ssh.nft', 'add rule inet filter input tcp dport 22 accept\n'],
    ]);
    const main =
      'table inet filter {\n chain input { type filter hook input priority 0; policy drop; }\n}\ninclude "/etc/nftables.d/*.nft"\n';
    assert.deepEqual(includePaths(main), ['/etc/nftables.d/*.nft']);
    assert.ok(globMatches('/etc/nftables.d/*.nft', '/etc/nftables.d/10-ssh.nft'));
    assert.ok(!globMatches('/etc/nftables.d/*.nft', '/etc/nftables.d/sub/10-ssh.nft'));
    const withInclude = parseNft(main, { file: '/etc/nftables.conf', includes });
    const rule = withInclude.rulesets[0]!.chains['input']!.rules[0];
    assert.equal(rule?.file, '/etc/nftables.d/10-ssh.nft');
    assert.deepEqual(evaluateBaseChain(withInclude.rulesets[0]!, 'input', tcp(22)).accepted, ALL);
  });

  it('reports syntax errors with a line and keeps going with no tables from the broken text', () => {
    const broken = parseNft('table inet filter {\n chain input {\n  tcp dport 22 accept\n', {
      file: '/etc/nftables.conf',
    });
    assert.equal(broken.errors.length, 1);
    assert.match(broken.errors[0]!.message, /missing "}"/);
    const unknown = parseNft('tabel inet filter {\n}\n');
    assert.equal(unknown.errors[0]?.line, 1);
    assert.match(unknown.errors[0]!.message, /unknown statement "tabel"/);
  });

  it('keeps conditions it does not model, so a drop with them is not counted', () => {
    const odd = parseNft(`table inet f {
  chain input {
    type filter hook input priority 0; policy accept;
    meta skuid 1000 tcp dport 6379 drop
  }
}
`);
    const rule = odd.rulesets[0]!.chains['input']!.rules[0]!;
    assert.deepEqual(rule.unmodelled, ['meta skuid 1000']);
    assert.deepEqual(evaluateBaseChain(odd.rulesets[0]!, 'input', tcp(6379)).accepted, ALL);
  });
});
