import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { bindOf, createExposure } from './exposure.ts';
import { factsOf, removeTrees, UFW_ON, userRules } from './exposure-testing.ts';

after(removeTrees);

const compose = (port: string, extra = '') =>
  `services:\n  redis:\n    image: redis:7-alpine\n${extra}    ports:\n      - "${port}"\n`;

const redis = { service: 'redis', port: 6379, protocol: 'tcp', binds: [] } as const;

describe('exposure: Docker-published ports', () => {
  it('the seed case: ufw denies 6379, compose publishes "6379:6379", nothing in DOCKER-USER → internet', async () => {
    const facts = await factsOf({ ...UFW_ON, 'opt/app/docker-compose.yml': compose('6379:6379') });
    const verdict = createExposure(facts).assessDetailed(redis);
    assert.equal(verdict.reach, 'internet');
    assert.deepEqual(
      verdict.steps.map((s) => [s.file, s.line]),
      [
        ['/opt/app/docker-compose.yml', 5],
        ['/etc/ufw/user.rules', 10],
        [undefined, undefined],
        [undefined, undefined],
      ],
    );
    assert.match(
      verdict.steps[0]!.detail,
      /^compose publishes "6379:6379" for service redis \(image redis:7-alpine\)/,
    );
    assert.equal(verdict.steps[1]!.detail, 'ufw denies 6379/tcp from the internet: `ufw deny 6379/tcp`');
    assert.equal(
      verdict.steps[2]!.detail,
      'Docker-published ports bypass ufw: the traffic goes through FORWARD, not INPUT',
    );
    assert.equal(verdict.steps[3]!.detail, 'DOCKER-USER has no rule restricting it');
    assert.equal(verdict.bypassesInput, true);
    assert.match(verdict.reasons[1]!, /\(\/etc\/ufw\/user\.rules:10\)$/);
  });

  it('a DOCKER-USER drop in after.rules keeps it in, and says which rule', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'etc/ufw/after.rules':
        '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN\n-A DOCKER-USER -i eth0 -j DROP\n-A DOCKER-USER -j RETURN\nCOMMIT\n',
      'opt/app/docker-compose.yml': compose('6379:6379'),
    });
    const verdict = createExposure(facts).assessDetailed(redis);
    assert.equal(verdict.reach, 'local');
    const drop = verdict.steps.find((s) => s.detail.startsWith('DOCKER-USER drops it'));
    assert.deepEqual([drop?.file, drop?.line], ['/etc/ufw/after.rules', 4]);
  });

  it('a DOCKER-USER allowlist leaves it reachable only from the listed range', async () => {
    const facts = await factsOf({
      'etc/iptables/rules.v4':
        '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -i eth0 ! -s 192.0.2.0/24 -j DROP\nCOMMIT\n',
      'opt/app/docker-compose.yml': compose('6379:6379'),
    });
    const verdict = createExposure(facts).assessDetailed(redis);
    assert.equal(verdict.reach, 'private');
    assert.deepEqual(verdict.restrictedTo, { kind: 'only', items: ['192.0.2.0/24'] });
  });

  it('a port published on 127.0.0.1 is local, whatever the firewall says', async () => {
    const facts = await factsOf({ 'opt/app/docker-compose.yml': compose('127.0.0.1:6379:6379') });
    const verdict = createExposure(facts).assessDetailed(redis);
    assert.equal(verdict.reach, 'local');
    assert.match(verdict.reasons.at(-1)!, /published on 127\.0\.0\.1 only/);
  });

  it("follows the network's host_binding_ipv4 and, on the default bridge, the daemon's ip", async () => {
    const viaNetwork = await factsOf({
      'opt/app/compose.yaml': `${compose('6379:6379', '    networks: [back]\n')}networks:\n  back:\n    driver_opts:\n      com.docker.network.bridge.host_binding_ipv4: "127.0.0.1"\n`,
    });
    assert.equal(createExposure(viaNetwork).assessDetailed(redis).reach, 'local');
    const viaDaemon = await factsOf({
      'etc/docker/daemon.json': '{ "ip": "127.0.0.1" }\n',
      'opt/app/compose.yaml': compose('6379:6379', '    network_mode: bridge\n'),
    });
    assert.equal(createExposure(viaDaemon).assessDetailed(redis).reach, 'local');
    const daemonIpIgnored = await factsOf({
      'etc/docker/daemon.json': '{ "ip": "127.0.0.1" }\n',
      'opt/app/compose.yaml': compose('6379:6379'),
    });
    assert.equal(
      createExposure(daemonIpIgnored).assessDetailed(redis).reach,
      'internet',
      '`ip` applies to the default bridge only',
    );
  });

  it('with `iptables: false` published ports pass INPUT again, so ufw decides', async () => {
    const withUfw = await factsOf({
      ...UFW_ON,
      'etc/docker/daemon.json': '{\n  "iptables": false\n}\n',
      'opt/app/docker-compose.yml': compose('6379:6379'),
    });
    const verdict = createExposure(withUfw).assessDetailed(redis);
    assert.equal(verdict.reach, 'local');
    assert.ok(verdict.reasons.some((r) => r.includes('docker-proxy on the host and pass INPUT')));
    const noFirewall = await factsOf({
      'etc/docker/daemon.json': '{ "iptables": false }\n',
      'opt/app/docker-compose.yml': compose('6379:6379'),
    });
    assert.equal(createExposure(noFirewall).assessDetailed(redis).reach, 'internet');
  });
});

describe('exposure: host services', () => {
  it('a service on 0.0.0.0 that ufw allows is on the internet; one ufw does not allow is local', async () => {
    const exposure = createExposure(await factsOf(UFW_ON));
    const ssh = exposure.assessDetailed({ service: 'ssh', port: 22, protocol: 'tcp', binds: ['0.0.0.0'] });
    assert.equal(ssh.reach, 'internet');
    assert.equal(ssh.steps[1]?.detail, 'ufw allows 22/tcp from anywhere: `ufw allow 22/tcp`');
    const pg = exposure.assessDetailed({
      service: 'postgresql',
      port: 5432,
      protocol: 'tcp',
      binds: ['0.0.0.0'],
    });
    assert.equal(pg.reach, 'local');
    assert.match(
      pg.reasons[1]!,
      /default incoming policy drops it: `DEFAULT_INPUT_POLICY="DROP"` \(\/etc\/default\/ufw:2\)/,
    );
  });

  it('loopback binds are local and private binds private, with no firewall at all', async () => {
    const exposure = createExposure(await factsOf({}));
    assert.equal(exposure.assess({ ...redis, binds: ['127.0.0.1', '-::1'] }).reach, 'local');
    assert.equal(exposure.assess({ ...redis, binds: ['10.0.0.5'] }).reach, 'private');
    const open = exposure.assess({ ...redis, binds: ['0.0.0.0'] });
    assert.equal(open.reach, 'internet');
    assert.match(open.reasons[1]!, /no host firewall filters incoming traffic/);
  });

  it('a service bound to a private address that the firewall closes is local, and the reasons say why', async () => {
    const verdict = createExposure(await factsOf(UFW_ON)).assessDetailed({ ...redis, binds: ['10.0.0.5'] });
    assert.equal(verdict.reach, 'local');
    assert.equal(verdict.steps[1]?.detail, 'ufw denies 6379/tcp from private networks: `ufw deny 6379/tcp`');
  });

  it('without binds, listening sockets decide; without sockets, every interface is assumed', async () => {
    const tcp = `  sl  local_address rem_address   st\n   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 3580 1 0 100 0 0 10 0\n`;
    const fromSocket = createExposure(await factsOf({ 'proc/net/tcp': tcp })).assessDetailed(redis);
    assert.equal(fromSocket.reach, 'local');
    assert.deepEqual([fromSocket.steps[0]?.file, fromSocket.steps[0]?.line], ['/proc/net/tcp', 2]);
    const assumed = createExposure(await factsOf({})).assessDetailed(redis);
    assert.equal(assumed.reach, 'internet');
    assert.match(assumed.reasons[0]!, /no listening socket seen on 6379\/tcp: assuming every interface/);
  });

  it('says when ufw is installed but inactive', async () => {
    const exposure = createExposure(await factsOf({ ...UFW_ON, 'etc/ufw/ufw.conf': 'ENABLED=no\n' }));
    const verdict = exposure.assessDetailed({ ...redis, binds: ['0.0.0.0'] });
    assert.equal(verdict.reach, 'internet');
    assert.deepEqual(verdict.steps[1], {
      file: '/etc/ufw/ufw.conf',
      line: 1,
      detail: 'ufw is installed but inactive (ENABLED=no): no host firewall filters incoming traffic',
    });
  });

  it("80/443 open only to Cloudflare's ranges is restricted, and named as such", async () => {
    const cf = ['173.245.48.0/20', '103.21.244.0/22', '104.16.0.0/13'];
    const facts = await factsOf({
      ...UFW_ON,
      'etc/ufw/user.rules': userRules(
        ...cf.map((range): [string, string] => [
          `allow tcp 80,443 0.0.0.0/0 any ${range} in`,
          `-A ufw-user-input -p tcp -m multiport --dports 80,443 -s ${range} -j ACCEPT`,
        ]),
      ),
    });
    const verdict = createExposure(facts).assessDetailed({
      service: 'nginx',
      port: 443,
      protocol: 'tcp',
      binds: ['0.0.0.0'],
    });
    assert.equal(verdict.reach, 'private');
    assert.deepEqual(verdict.restrictedTo, { kind: 'only', items: cf });
    assert.ok(
      verdict.reasons.some((r) =>
        r.startsWith("ufw allows 443/tcp from the internet only from Cloudflare's ranges"),
      ),
    );
  });

  it('an nftables input chain with policy drop closes what it does not accept', async () => {
    const facts = await factsOf({
      'etc/nftables.conf':
        'table inet filter {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    tcp dport 22 accept\n  }\n}\n',
    });
    const exposure = createExposure(facts);
    assert.equal(exposure.assess({ ...redis, binds: ['0.0.0.0'] }).reach, 'local');
    assert.equal(
      exposure.assess({ service: 'ssh', port: 22, protocol: 'tcp', binds: ['::'] }).reach,
      'internet',
    );
  });

  it('with IPV6=no, ufw leaves IPv6 open: a dual-stack listener is reachable over IPv6', async () => {
    const facts = await factsOf({ ...UFW_ON, 'etc/default/ufw': 'IPV6=no\nDEFAULT_INPUT_POLICY="DROP"\n' });
    const verdict = createExposure(facts).assessDetailed({ ...redis, binds: ['::'] });
    assert.equal(verdict.reach, 'internet');
    assert.ok(verdict.reasons.some((r) => r.startsWith('over IPv6: ufw does not filter IPv6 (IPV6=no)')));
    assert.equal(createExposure(facts).assess({ ...redis, binds: ['0.0.0.0'] }).reach, 'local');
  });

  it('reads bind values: wildcard, names and Elasticsearch specials', () => {
    assert.equal(bindOf('*').scope, 'any');
    assert.equal(bindOf('localhost').scope, 'loopback');
    assert.equal(bindOf('_site_').scope, 'private');
    assert.equal(bindOf('[::1]').scope, 'loopback');
    assert.equal(bindOf('203.0.113.10').scope, 'any');
    assert.match(bindOf('db.internal').note ?? '', /not an address/);
  });
});

describe('exposure: listeners', () => {
  it('lists sockets and Docker publications once each, docker-proxy sockets folded into their publication', async () => {
    const tcp = [
      '  sl  local_address rem_address   st',
      '   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0 100 0 0 10 0',
      '   1: 00000000:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 101 1 0 100 0 0 10 0',
      '',
    ].join('\n');
    const exposure = createExposure(
      await factsOf({ ...UFW_ON, 'proc/net/tcp': tcp, 'opt/app/docker-compose.yml': compose('6379:6379') }),
    );
    const listeners = exposure.listeners();
    assert.deepEqual(
      listeners.map((l) => [l.label, l.origin, l.verdict.reach]),
      [
        ['SSH (22/tcp)', 'socket', 'internet'],
        ['Redis (6379/tcp)', 'docker', 'internet'],
      ],
    );
  });
});
