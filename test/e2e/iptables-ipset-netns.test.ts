/**
 * Real iptables + ipset in network namespaces this test creates (never the host's rules or sets,
 * never an outside address): a ban drops a client on INPUT while another client is unaffected; it
 * drops forwarded traffic (the path Docker-published ports take) through FORWARD, or through
 * DOCKER-USER ahead of Docker's own accept rules when that chain exists.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createIptablesIpsetFirewall } from '../../src/enforcement/iptables-ipset.ts';
import { createNetns, httpGetFrom, inNetns, ip, link, serveHttpIn } from '../helpers/netns.ts';
import { unlessInCi } from '../helpers/requirement.ts';

const missing = (() => {
  try {
    execFileSync('ipset', ['--version'], { stdio: 'ignore' });
    execFileSync('iptables', ['--version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'ipset and iptables are not installed';
  }
})();
const skip = unlessInCi(missing) ?? false;

describe('iptables+ipset bans on INPUT in network namespaces', { skip }, () => {
  let host: ReturnType<typeof createNetns>;
  let client1: ReturnType<typeof createNetns>;
  let client2: ReturnType<typeof createNetns>;
  let server: { stop(): void } | undefined;
  let firewall: ReturnType<typeof createIptablesIpsetFirewall>;

  before(async () => {
    host = createNetns('moat-ih');
    client1 = createNetns('moat-ic1');
    client2 = createNetns('moat-ic2');
    link(host.name, '10.231.11.1', client1.name, '10.231.11.2');
    link(host.name, '10.231.12.1', client2.name, '10.231.12.2');
    server = await serveHttpIn(host.name, 8080);
    firewall = createIptablesIpsetFirewall({ netns: host.name });
    await firewall.init();
  });
  after(() => {
    server?.stop();
    for (const ns of [host, client1, client2]) ns?.remove();
  });

  it('drops a banned client while another client is unaffected, until released', async () => {
    assert.equal(httpGetFrom(client1.name, 'http://10.231.11.1:8080/'), 'ok');
    await firewall.block('10.231.11.2', 60_000);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.11.1:8080/'), 'ETIMEDOUT');
    assert.equal(httpGetFrom(client2.name, 'http://10.231.12.1:8080/'), 'ok');
    await firewall.release('10.231.11.2');
    assert.equal(httpGetFrom(client1.name, 'http://10.231.11.1:8080/'), 'ok');
  });

  it('drops a client whose ban came in a bulk load', async () => {
    const batch = Array.from({ length: 5000 }, (_, i) => ({
      target: `198.18.${i >> 8}.${i & 255}`,
      ttlMs: 60_000,
    }));
    await firewall.blockMany([...batch, { target: '10.231.11.0/24', ttlMs: 60_000 }]);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.11.1:8080/'), 'ETIMEDOUT');
    assert.equal(httpGetFrom(client2.name, 'http://10.231.12.1:8080/'), 'ok');
    await firewall.release('10.231.11.0/24');
    assert.equal(httpGetFrom(client1.name, 'http://10.231.11.1:8080/'), 'ok');
  });
});

/** client → router (forwarding) → backend: what Docker's published ports do. */
function forwardingTopology(subnet: number) {
  const client = createNetns('moat-ifc');
  const router = createNetns('moat-ifr');
  const backend = createNetns('moat-ifs');
  link(client.name, `10.231.${subnet}.2`, router.name, `10.231.${subnet}.1`);
  link(router.name, `10.231.${subnet + 1}.1`, backend.name, `10.231.${subnet + 1}.2`);
  ip('netns', 'exec', router.name, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  ip('-n', client.name, 'route', 'add', 'default', 'via', `10.231.${subnet}.1`);
  ip('-n', backend.name, 'route', 'add', 'default', 'via', `10.231.${subnet + 1}.1`);
  return { client, router, backend, url: `http://10.231.${subnet + 1}.2:8080/` };
}

describe('iptables+ipset bans on FORWARD (no Docker)', { skip }, () => {
  let net: ReturnType<typeof forwardingTopology>;
  let server: { stop(): void } | undefined;
  let firewall: ReturnType<typeof createIptablesIpsetFirewall>;

  before(async () => {
    net = forwardingTopology(13);
    server = await serveHttpIn(net.backend.name, 8080);
    firewall = createIptablesIpsetFirewall({ netns: net.router.name });
    await firewall.init();
  });
  after(() => {
    server?.stop();
    if (net) for (const ns of [net.client, net.router, net.backend]) ns.remove();
  });

  it('puts its rule at the top of FORWARD and drops forwarded traffic from a banned client', async () => {
    assert.match(
      inNetns(net.router.name, 'iptables', '-S', 'FORWARD'),
      /-A FORWARD -m set --match-set moat4 src -j DROP/,
    );
    assert.equal(httpGetFrom(net.client.name, net.url), 'ok');
    await firewall.block('10.231.13.0/24', 60_000);
    assert.equal(httpGetFrom(net.client.name, net.url), 'ETIMEDOUT');
    await firewall.release('10.231.13.0/24');
    assert.equal(httpGetFrom(net.client.name, net.url), 'ok');
  });
});

describe('iptables+ipset bans in DOCKER-USER, ahead of Docker-style accept rules', { skip }, () => {
  let net: ReturnType<typeof forwardingTopology>;
  let server: { stop(): void } | undefined;
  let firewall: ReturnType<typeof createIptablesIpsetFirewall>;

  before(async () => {
    net = forwardingTopology(15);
    // What Docker sets up: FORWARD jumps to DOCKER-USER first, then accepts published traffic.
    const ipt = (...args: string[]) => inNetns(net.router.name, 'iptables', '-w', ...args);
    ipt('-N', 'DOCKER-USER');
    ipt('-A', 'DOCKER-USER', '-j', 'RETURN');
    ipt('-A', 'FORWARD', '-j', 'DOCKER-USER');
    ipt('-A', 'FORWARD', '-d', '10.231.16.2', '-p', 'tcp', '--dport', '8080', '-j', 'ACCEPT');
    server = await serveHttpIn(net.backend.name, 8080);
    firewall = createIptablesIpsetFirewall({ netns: net.router.name });
    await firewall.init();
  });
  after(() => {
    server?.stop();
    if (net) for (const ns of [net.client, net.router, net.backend]) ns.remove();
  });

  it('uses DOCKER-USER instead of FORWARD, and drops the banned client', async () => {
    const rules = inNetns(net.router.name, 'iptables', '-S');
    assert.match(rules, /-A DOCKER-USER -m set --match-set moat4 src -j DROP\n-A DOCKER-USER -j RETURN/);
    assert.doesNotMatch(rules, /-A FORWARD -m set/);
    assert.equal(httpGetFrom(net.client.name, net.url), 'ok');
    await firewall.block('10.231.15.2');
    assert.equal(httpGetFrom(net.client.name, net.url), 'ETIMEDOUT');
  });

  it('teardown leaves Docker-style rules as they were', async () => {
    await firewall.teardown();
    const rules = inNetns(net.router.name, 'iptables', '-S');
    assert.doesNotMatch(rules, /moat/);
    assert.match(rules, /-A DOCKER-USER -j RETURN/);
    assert.match(rules, /-A FORWARD -j DOCKER-USER/);
    assert.equal(inNetns(net.router.name, 'ipset', 'list', '-n').trim(), '');
    assert.equal(httpGetFrom(net.client.name, net.url), 'ok');
  });
});
