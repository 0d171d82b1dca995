import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseIptables, toChains } from './collectors/iptables-rules.ts';
import {
  ALL,
  describeSources,
  evaluateBaseChain,
  evaluateUserChain,
  type FirewallRuleset,
  intersect,
  isEffectivelyEverywhere,
  isEmpty,
  minus,
  NONE,
  type Packet,
  union,
} from './firewall.ts';

function ruleset(text: string, family: 4 | 6 = 4): FirewallRuleset {
  const parsed = parseIptables(text, { file: '/etc/iptables/rules.v4', family });
  assert.deepEqual(parsed.errors, []);
  return {
    source: '/etc/iptables/rules.v4',
    name: 'iptables',
    family,
    chains: toChains(parsed.chains),
    input: ['INPUT'],
    forward: ['FORWARD'],
  };
}

const tcp = (
  port: number,
  from: 'public' | 'private' = 'public',
  path: 'input' | 'forward' = 'input',
): Packet => ({
  family: 4,
  protocol: 'tcp',
  port,
  origPort: port,
  path,
  from,
});

describe('source sets', () => {
  it('intersects, unites and subtracts lists of ranges', () => {
    const office = { kind: 'only', items: ['203.0.113.0/24'] } as const;
    assert.deepEqual(intersect(ALL, office), office);
    assert.deepEqual(intersect(office, { kind: 'only', items: ['203.0.113.7/32'] }), {
      kind: 'only',
      items: ['203.0.113.7/32'],
    });
    assert.ok(isEmpty(intersect(office, { kind: 'only', items: ['198.51.100.0/24'] })));
    assert.deepEqual(minus(ALL, office), { kind: 'all-except', items: ['203.0.113.0/24'] });
    assert.deepEqual(union(minus(ALL, office), office), ALL);
    assert.ok(isEmpty(minus(office, ALL)));
    assert.deepEqual(union(NONE, office), office);
  });

  it('calls a very wide allowlist the whole internet, a narrow one not', () => {
    assert.ok(isEffectivelyEverywhere(ALL));
    assert.ok(isEffectivelyEverywhere({ kind: 'only', items: ['0.0.0.0/1', '128.0.0.0/1'] }));
    assert.ok(!isEffectivelyEverywhere({ kind: 'only', items: ['173.245.48.0/20'] }));
    assert.equal(describeSources({ kind: 'only', items: ['a', 'b', 'c', 'd', 'e'] }, 2), 'a, b and 3 more');
  });
});

describe('evaluating chains', () => {
  const text = `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:admin - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp --dport 22 -j admin
-A INPUT -p tcp -m multiport --dports 80,443 -j ACCEPT
-A INPUT -p tcp --dport 6379 -s 10.0.0.0/8 -j ACCEPT
-A INPUT -p tcp --dport 8080 -j ACCEPT
-A INPUT -p tcp --dport 8000:8100 -j DROP
-A INPUT -p udp --sport 67 --dport 68 -j ACCEPT
-A admin -s 198.51.100.0/24 -j ACCEPT
-A admin -j RETURN
COMMIT
`;
  const rs = ruleset(text);

  it('accepts a port opened to everyone and names the rule', () => {
    const out = evaluateBaseChain(rs, 'INPUT', tcp(443));
    assert.deepEqual(out.accepted, ALL);
    assert.equal(out.steps[0]?.effect, 'accept');
    assert.equal(out.steps[0]?.rule?.line, 8);
  });

  it('drops a port nothing opens, by the default policy', () => {
    const out = evaluateBaseChain(rs, 'INPUT', tcp(5432));
    assert.ok(isEmpty(out.accepted));
    assert.equal(out.steps.at(-1)?.effect, 'policy-drop');
    assert.equal(out.steps.at(-1)?.ruleset.chains['INPUT']?.policyLine, 2);
  });

  it('follows a jump: only the admin range gets in, the rest returns to the policy', () => {
    const out = evaluateBaseChain(rs, 'INPUT', tcp(22));
    assert.deepEqual(out.accepted, { kind: 'only', items: ['198.51.100.0/24'] });
  });

  it('keeps a private-only rule away from internet sources but lets private ones in', () => {
    assert.ok(isEmpty(evaluateBaseChain(rs, 'INPUT', tcp(6379)).accepted));
    assert.deepEqual(evaluateBaseChain(rs, 'INPUT', tcp(6379, 'private')).accepted, {
      kind: 'only',
      items: ['10.0.0.0/8'],
    });
  });

  it('lets the first matching rule win: 8080 is accepted before the 8000:8100 drop', () => {
    assert.deepEqual(evaluateBaseChain(rs, 'INPUT', tcp(8080)).accepted, ALL);
    assert.ok(isEmpty(evaluateBaseChain(rs, 'INPUT', tcp(8081)).accepted));
  });

  it('does not count loopback, established-only or source-port rules for new connections from outside', () => {
    const out = evaluateBaseChain(rs, 'INPUT', { ...tcp(68), protocol: 'udp' });
    assert.ok(isEmpty(out.accepted));
  });

  it('reads DOCKER-USER: what it does not drop goes on to Docker, which accepts it', () => {
    const docker = ruleset(`*filter
:DOCKER-USER - [0:0]
-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A DOCKER-USER -i eth0 ! -s 192.0.2.0/24 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
`);
    const out = evaluateUserChain(docker, 'DOCKER-USER', tcp(6379, 'public', 'forward'));
    assert.deepEqual(out.accepted, { kind: 'only', items: ['192.0.2.0/24'] });
    const empty = ruleset('*filter\n:DOCKER-USER - [0:0]\nCOMMIT\n');
    assert.deepEqual(evaluateUserChain(empty, 'DOCKER-USER', tcp(6379, 'public', 'forward')).accepted, ALL);
  });

  it('matches DOCKER-USER rules on the container port, or on the original port through conntrack', () => {
    const docker = ruleset(`*filter
:DOCKER-USER - [0:0]
-A DOCKER-USER -p tcp -m conntrack --ctorigdstport 16379 -j DROP
-A DOCKER-USER -p tcp --dport 9200 -j DROP
COMMIT
`);
    const published = { ...tcp(6379, 'public', 'forward'), origPort: 16379 };
    assert.ok(isEmpty(evaluateUserChain(docker, 'DOCKER-USER', published).accepted));
    assert.ok(
      isEmpty(
        evaluateUserChain(docker, 'DOCKER-USER', { ...tcp(9200, 'public', 'forward'), origPort: 19200 })
          .accepted,
      ),
    );
    assert.deepEqual(evaluateUserChain(docker, 'DOCKER-USER', tcp(5432, 'public', 'forward')).accepted, ALL);
  });

  it('never counts a drop it cannot evaluate, and counts such an accept only for what it names', () => {
    const odd = ruleset(`*filter
:INPUT ACCEPT [0:0]
-A INPUT -p tcp --dport 6379 -m time --timestart 09:00 -j DROP
-A INPUT -p tcp --dport 22 -m set --match-set admins src -j ACCEPT
-A INPUT -p tcp --dport 22 -j DROP
COMMIT
`);
    assert.deepEqual(evaluateBaseChain(odd, 'INPUT', tcp(6379)).accepted, ALL);
    assert.deepEqual(evaluateBaseChain(odd, 'INPUT', tcp(22)).accepted, {
      kind: 'only',
      items: ['set admins'],
    });
  });
});
