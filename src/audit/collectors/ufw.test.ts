import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { ALL, evaluateBaseChain, evaluateUserChain, isEmpty, type Packet } from '../firewall.ts';
import { createHost } from '../host.ts';
import { parseShellVars, parseTuple, ufwCollector } from './ufw.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-ufw-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return root;
}

async function collect(files: Record<string, string>) {
  return ufwCollector.collect({
    host: createHost({ root: await tree(files) }),
    config: parseConfig({}),
    composeFiles: [],
  });
}

const tcp = (port: number, family: 4 | 6 = 4): Packet => ({
  family,
  protocol: 'tcp',
  port,
  origPort: port,
  path: 'input',
  from: 'public',
});

const USER_RULES = `*filter
:ufw-user-input - [0:0]
:ufw-user-output - [0:0]
:ufw-user-forward - [0:0]
:ufw-user-limit - [0:0]
:ufw-user-limit-accept - [0:0]
### RULES ###

### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --set
-A ufw-user-input -p tcp --dport 22 -m conntrack --ctstate NEW -m recent --update --seconds 30 --hitcount 6 -j ufw-user-limit
-A ufw-user-input -p tcp --dport 22 -j ufw-user-limit-accept

### tuple ### deny tcp 6379 0.0.0.0/0 any 0.0.0.0/0 in
-A ufw-user-input -p tcp --dport 6379 -j DROP

### tuple ### allow tcp 5432 0.0.0.0/0 any 10.0.0.0/8 in comment=7061
-A ufw-user-input -p tcp --dport 5432 -s 10.0.0.0/8 -j ACCEPT

### END RULES ###

### RATE LIMITING ###
-A ufw-user-limit -j REJECT
-A ufw-user-limit-accept -j ACCEPT
### END RATE LIMITING ###
COMMIT
`;

const BASE = {
  'etc/ufw/ufw.conf': '# /etc/ufw/ufw.conf\n#\nENABLED=yes\nLOGLEVEL=low\n',
  'etc/default/ufw':
    'IPV6=yes\n# default input\nDEFAULT_INPUT_POLICY="DROP"\nDEFAULT_FORWARD_POLICY="DROP"\n',
  'etc/ufw/user.rules': USER_RULES,
};

describe('ufw collector', () => {
  it('says so in skipped when ufw is not installed', async () => {
    const result = await collect({ 'etc/hostname': 'web1\n' });
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /ufw is not installed/);
  });

  it('reads ENABLED and the default policies with their lines', async () => {
    const result = await collect(BASE);
    assert.equal(result.facts?.active, true);
    assert.deepEqual(result.facts?.enabled, {
      value: 'yes',
      file: '/etc/ufw/ufw.conf',
      line: 3,
      text: 'ENABLED=yes',
    });
    assert.equal(result.facts?.defaults.input?.value, 'DROP');
    assert.equal(result.facts?.defaults.input?.line, 3);
  });

  it('reads an inactive ufw', async () => {
    const result = await collect({ ...BASE, 'etc/ufw/ufw.conf': 'ENABLED=no\n' });
    assert.equal(result.facts?.active, false);
  });

  it('turns the tuple comments of user.rules into ufw commands', async () => {
    const result = await collect(BASE);
    assert.deepEqual(
      result.facts?.userRules.map((r) => [r.command, r.line]),
      [
        ['ufw limit 22/tcp', 9],
        ['ufw deny 6379/tcp', 14],
        ['ufw allow proto tcp from 10.0.0.0/8 to any port 5432', 17],
      ],
    );
  });

  it("composes ufw's chains: denied, limited and allowed ports and the default policy", async () => {
    const result = await collect(BASE);
    const v4 = result.facts!.rulesets.find((r) => r.family === 4)!;
    const denied = evaluateBaseChain(v4, 'INPUT', tcp(6379));
    assert.ok(isEmpty(denied.accepted));
    assert.equal(denied.steps.find((s) => s.effect === 'drop')?.rule?.label, 'ufw deny 6379/tcp');
    assert.deepEqual(
      evaluateBaseChain(v4, 'INPUT', tcp(22)).accepted,
      ALL,
      'ufw limit accepts ordinary traffic',
    );
    assert.deepEqual(evaluateBaseChain(v4, 'INPUT', { ...tcp(5432), from: 'private' }).accepted, {
      kind: 'only',
      items: ['10.0.0.0/8'],
    });
    const policy = evaluateBaseChain(v4, 'INPUT', tcp(8080)).steps.at(-1);
    assert.equal(policy?.effect, 'policy-drop');
    assert.equal(v4.chains['INPUT']?.policyFile, '/etc/default/ufw');
  });

  it('keeps DOCKER-USER rules written in after.rules', async () => {
    const result = await collect({
      ...BASE,
      'etc/ufw/after.rules':
        '*filter\n:ufw-after-input - [0:0]\nCOMMIT\n*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -i eth0 -j DROP\nCOMMIT\n',
    });
    const v4 = result.facts!.rulesets.find((r) => r.family === 4)!;
    const forwarded: Packet = { ...tcp(6379), path: 'forward' };
    assert.ok(isEmpty(evaluateUserChain(v4, 'DOCKER-USER', forwarded).accepted));
    assert.equal(v4.chains['DOCKER-USER']?.rules[0]?.line, 6);
  });

  it('follows ufw6-… chains for IPv6 from user6.rules', async () => {
    const result = await collect({
      ...BASE,
      'etc/ufw/user6.rules':
        '*filter\n:ufw6-user-input - [0:0]\n### RULES ###\n\n### tuple ### allow tcp 443 ::/0 any ::/0 in\n-A ufw6-user-input -p tcp --dport 443 -j ACCEPT\n\n### END RULES ###\nCOMMIT\n',
    });
    const v6 = result.facts!.rulesets.find((r) => r.family === 6)!;
    const open = evaluateBaseChain(v6, 'INPUT', tcp(443, 6));
    assert.deepEqual(open.accepted, ALL);
    assert.equal(open.steps[0]?.rule?.label, 'ufw allow 443/tcp');
    assert.ok(isEmpty(evaluateBaseChain(v6, 'INPUT', tcp(22, 6)).accepted));
  });

  it('builds no IPv6 chains when IPV6=no', async () => {
    const result = await collect({ ...BASE, 'etc/default/ufw': 'IPV6=no\nDEFAULT_INPUT_POLICY="DROP"\n' });
    assert.deepEqual(
      result.facts?.rulesets.map((r) => r.family),
      [4],
    );
  });

  it('reports a rules file it cannot parse and keeps the rest', async () => {
    const result = await collect({
      ...BASE,
      'etc/ufw/before.rules': '*filter\n-A ufw-before-input -p tcp --dport nope -j ACCEPT\nCOMMIT\n',
    });
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file, f.evidence[0]?.line]),
      [['unparsable-file', '/etc/ufw/before.rules', 2]],
    );
    assert.equal(result.facts?.active, true);
  });

  it('reads quoted and commented shell variables, and tuples with applications', () => {
    const vars = parseShellVars('A="x" # note\nB=\'y\'\n#C=z\n', '/etc/default/ufw');
    assert.equal(vars.get('A')?.value, 'x');
    assert.equal(vars.get('B')?.value, 'y');
    assert.equal(vars.has('C'), false);
    assert.equal(
      parseTuple('### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 OpenSSH - in', 4, 'f', 1)?.command,
      'ufw allow OpenSSH',
    );
    assert.equal(
      parseTuple('### tuple ### route:allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in', 4, 'f', 1)?.command,
      'ufw route allow 80/tcp',
    );
    assert.equal(
      parseTuple('### tuple ### allow tcp 80,443 0.0.0.0/0 any 0.0.0.0/0 Nginx%20Full - in', 4, 'f', 1)
        ?.command,
      'ufw allow Nginx Full',
    );
    assert.equal(parseTuple('### tuple ### bogus', 4, 'f', 1), undefined);
  });
});
