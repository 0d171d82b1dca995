/**
 * Real ufw, isolated: its own network namespace and a private /etc/ufw (test/helpers/ufw-netns.ts),
 * never the host's. A ban drops a client on INPUT, ahead of the operator's allow rule, and expires
 * when the sweep runs; and — the limitation the ufw backend documents — it does not drop traffic
 * forwarded through the host, the path Docker-published ports take.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { manualClock } from '../../src/core/clock.ts';
import { createUfwFirewall } from '../../src/enforcement/ufw.ts';
import { createNetns, httpGetFrom, ip, link, serveHttpIn } from '../helpers/netns.ts';
import { unlessInCi } from '../helpers/requirement.ts';
import { createUfwNetns, hasUfw } from '../helpers/ufw-netns.ts';

const skip = unlessInCi(hasUfw() ? undefined : 'ufw is not installed') ?? false;

describe('ufw bans on INPUT in network namespaces', { skip }, () => {
  let host: ReturnType<typeof createUfwNetns>;
  let client1: ReturnType<typeof createNetns>;
  let client2: ReturnType<typeof createNetns>;
  let server: { stop(): void } | undefined;
  const clock = manualClock(Date.parse('2030-01-01T00:00:00Z'));
  let firewall: ReturnType<typeof createUfwFirewall>;

  before(async () => {
    host = createUfwNetns('moat-uh');
    client1 = createNetns('moat-uc1');
    client2 = createNetns('moat-uc2');
    link(host.name, '10.231.21.1', client1.name, '10.231.21.2');
    link(host.name, '10.231.22.1', client2.name, '10.231.22.2');
    host.ufw('allow', '8080/tcp'); // the operator's own rule: moat's deny must come before it
    server = await serveHttpIn(host.name, 8080);
    firewall = createUfwFirewall({ netns: host.name, clock });
    await firewall.init();
  });
  after(() => {
    server?.stop();
    for (const ns of [host, client1, client2]) ns?.remove();
  });

  it('drops a banned client ahead of an allow rule while another client is unaffected', async () => {
    assert.equal(httpGetFrom(client1.name, 'http://10.231.21.1:8080/'), 'ok');
    await firewall.block('10.231.21.2', 60_000);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.21.1:8080/'), 'ETIMEDOUT');
    assert.equal(httpGetFrom(client2.name, 'http://10.231.22.1:8080/'), 'ok');
    assert.match(host.ufw('status'), /DENY\s+10\.231\.21\.2\s+# moat until 2030-01-01T00:01:00\.000Z/);
  });

  it('lifts the ban when the sweep runs after its expiry, not before', async () => {
    clock.advance(59_000);
    assert.deepEqual(await firewall.expire(), []);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.21.1:8080/'), 'ETIMEDOUT');
    clock.advance(1_000);
    assert.deepEqual(await firewall.expire(), ['10.231.21.2']);
    assert.equal(httpGetFrom(client1.name, 'http://10.231.21.1:8080/'), 'ok');
    assert.match(host.ufw('show', 'added'), /ufw allow 8080\/tcp/);
  });
});

describe('ufw bans do not cover forwarded traffic (Docker-published ports)', { skip }, () => {
  let client: ReturnType<typeof createNetns>;
  let router: ReturnType<typeof createUfwNetns>;
  let backend: ReturnType<typeof createNetns>;
  let server: { stop(): void } | undefined;
  let firewall: ReturnType<typeof createUfwFirewall>;

  before(async () => {
    client = createNetns('moat-ufc');
    router = createUfwNetns('moat-ufr');
    backend = createNetns('moat-ufs');
    link(client.name, '10.231.23.2', router.name, '10.231.23.1');
    link(router.name, '10.231.24.1', backend.name, '10.231.24.2');
    ip('netns', 'exec', router.name, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    ip('-n', client.name, 'route', 'add', 'default', 'via', '10.231.23.1');
    ip('-n', backend.name, 'route', 'add', 'default', 'via', '10.231.24.1');
    server = await serveHttpIn(backend.name, 8080);
    firewall = createUfwFirewall({ netns: router.name });
    await firewall.init();
  });
  after(() => {
    server?.stop();
    for (const ns of [client, router, backend]) ns?.remove();
  });

  it('still forwards a banned client (use the nftables or iptables-ipset backend for that)', async () => {
    await firewall.block('10.231.23.2', 60_000);
    assert.equal(httpGetFrom(client.name, 'http://10.231.23.1:9/'), 'ETIMEDOUT'); // input: dropped
    assert.equal(httpGetFrom(client.name, 'http://10.231.24.2:8080/'), 'ok'); // forward: not covered
  });
});
