import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createExposure } from '../exposure.ts';
import { factsOf, removeTrees, UFW_ON, userRules } from '../exposure-testing.ts';
import type { Facts } from '../types.ts';
import { ufwCheck, wholePrivateRange } from './ufw.ts';

after(removeTrees);

function run(facts: Facts) {
  return ufwCheck
    .run({ facts, exposure: createExposure(facts), config: parseConfig({}) })
    .map((f) => `${f.id} ${f.severity} ${f.evidence[0]?.file}:${f.evidence[0]?.line}`);
}

describe('ufw check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      ufwCheck.rules.map((r) => r.id),
      ['ufw-inactive', 'ufw-default-allow-incoming', 'ufw-trusts-private-range'],
    );
  });

  it('finds nothing on an active ufw that denies by default', async () => {
    assert.deepEqual(run(await factsOf(UFW_ON)), []);
  });

  it('flags ufw inactive, at the ENABLED line', async () => {
    assert.deepEqual(
      run(await factsOf({ ...UFW_ON, 'etc/ufw/ufw.conf': '# /etc/ufw/ufw.conf\nENABLED=no\n' })),
      ['ufw-inactive high /etc/ufw/ufw.conf:2'],
    );
  });

  it('does not flag an inactive ufw when nftables filters incoming traffic instead', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'etc/ufw/ufw.conf': 'ENABLED=no\n',
      'etc/nftables.conf':
        'table inet filter {\n  chain input { type filter hook input priority 0; policy drop; }\n}\n',
    });
    assert.deepEqual(run(facts), []);
  });

  it('flags DEFAULT_INPUT_POLICY="ACCEPT"', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'etc/default/ufw': '# defaults\nIPV6=yes\nDEFAULT_INPUT_POLICY="ACCEPT"\n',
    });
    assert.deepEqual(run(facts), ['ufw-default-allow-incoming high /etc/default/ufw:3']);
  });

  it('flags rules that trust a whole private range, in user.rules and in DOCKER-USER', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'etc/ufw/user.rules': userRules(
        ['allow any any 0.0.0.0/0 any 10.0.0.0/8 in', '-A ufw-user-input -s 10.0.0.0/8 -j ACCEPT'],
        [
          'allow tcp 6379 0.0.0.0/0 any 10.0.3.17 in',
          '-A ufw-user-input -p tcp --dport 6379 -s 10.0.3.17 -j ACCEPT',
        ],
      ),
      'etc/ufw/after.rules': [
        '*filter',
        ':DOCKER-USER - [0:0]',
        '-A DOCKER-USER -j RETURN -s 172.16.0.0/12',
        '-A DOCKER-USER -j RETURN -s 192.168.1.0/24',
        '-A DOCKER-USER -i lo -s 10.0.0.0/8 -j ACCEPT',
        '-A DOCKER-USER -j DROP -d 10.0.0.0/8',
        'COMMIT',
        '',
      ].join('\n'),
    });
    assert.deepEqual(run(facts), [
      'ufw-trusts-private-range medium /etc/ufw/user.rules:7',
      'ufw-trusts-private-range medium /etc/ufw/after.rules:3',
    ]);
  });

  it('knows a whole private range from a part of one or from the internet', () => {
    assert.equal(wholePrivateRange('10.0.0.0/8'), '10.0.0.0/8');
    assert.equal(wholePrivateRange('192.168.0.0/16'), '192.168.0.0/16');
    assert.equal(wholePrivateRange('fd00::/8'), 'fd00::/8');
    assert.equal(wholePrivateRange('10.8.0.0/24'), undefined);
    assert.equal(wholePrivateRange('0.0.0.0/0'), undefined);
    assert.equal(wholePrivateRange('203.0.113.0/24'), undefined);
  });

  it('finds nothing when ufw is not installed', () => {
    assert.deepEqual(run({}), []);
  });
});
