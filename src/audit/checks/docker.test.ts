import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createExposure } from '../exposure.ts';
import { factsOf, removeTrees, UFW_ON } from '../exposure-testing.ts';
import type { Facts } from '../types.ts';
import { dockerCheck, dockerPortSeverity } from './docker.ts';

after(removeTrees);

function run(facts: Facts) {
  return dockerCheck.run({ facts, exposure: createExposure(facts), config: parseConfig({}) });
}

const ids = (findings: ReturnType<typeof run>) =>
  findings.map((f) => `${f.id} ${f.severity} ${f.evidence[0]?.file}:${f.evidence[0]?.line}`);

describe('docker check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      dockerCheck.rules.map((r) => r.id),
      [
        'docker-port-without-host-ip',
        'docker-api-tcp-no-tls',
        'docker-socket-mounted',
        'docker-privileged',
        'docker-iptables-disabled',
        'docker-network-host',
      ],
    );
  });

  it('flags a datastore port published without host IP as critical when it reaches the internet past ufw', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'opt/app/docker-compose.yml':
        'services:\n  cache:\n    image: redis:7\n    ports:\n      - "6379:6379"\n      - "127.0.0.1:6380:6380"\n',
    });
    const findings = run(facts);
    assert.deepEqual(ids(findings), ['docker-port-without-host-ip critical /opt/app/docker-compose.yml:5']);
    assert.equal(findings[0]?.title, 'Redis (service cache) is published on every host address (6379/tcp)');
    assert.ok(
      findings[0]?.evidence.some(
        (e) => e.detail === 'Docker-published ports bypass ufw: the traffic goes through FORWARD, not INPUT',
      ),
    );
    assert.match(findings[0]!.fix, /"127\.0\.0\.1:6379:6379"/);
  });

  it('lowers the severity when DOCKER-USER keeps the port in', async () => {
    const facts = await factsOf({
      ...UFW_ON,
      'etc/ufw/after.rules': '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -i eth0 -j DROP\nCOMMIT\n',
      'opt/app/docker-compose.yml':
        'services:\n  cache:\n    image: redis:7\n    ports:\n      - "6379:6379"\n',
    });
    assert.deepEqual(ids(run(facts)), ['docker-port-without-host-ip low /opt/app/docker-compose.yml:5']);
  });

  it('grades other services by reach and by whether the firewall meant to close them', () => {
    assert.equal(dockerPortSeverity(false, 'internet', true, 8080), 'high');
    assert.equal(dockerPortSeverity(false, 'internet', false, 8080), 'medium');
    assert.equal(dockerPortSeverity(false, 'internet', false, 443), 'info');
    assert.equal(dockerPortSeverity(true, 'private', false, 5432), 'medium');
    assert.equal(dockerPortSeverity(false, 'local', false, 3000), 'info');
  });

  it('flags `iptables: false`, and not `iptables: true`', async () => {
    const off = run(
      await factsOf({ 'etc/docker/daemon.json': '{\n  "log-driver": "journald",\n  "iptables": false\n}\n' }),
    );
    assert.deepEqual(ids(off), ['docker-iptables-disabled medium /etc/docker/daemon.json:3']);
    assert.deepEqual(run(await factsOf({ 'etc/docker/daemon.json': '{ "iptables": true }\n' })), []);
  });

  it('flags the API on tcp:// without tlsverify, critical when it reaches beyond the host', async () => {
    const open = run(
      await factsOf({
        'etc/docker/daemon.json': '{\n  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]\n}\n',
      }),
    );
    assert.deepEqual(ids(open), ['docker-api-tcp-no-tls critical /etc/docker/daemon.json:2']);
    const local = run(
      await factsOf({
        'etc/systemd/system/docker.service.d/override.conf':
          '[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://127.0.0.1:2375\n',
      }),
    );
    assert.deepEqual(ids(local), [
      'docker-api-tcp-no-tls high /etc/systemd/system/docker.service.d/override.conf:3',
    ]);
    const tlsOnly = run(
      await factsOf({ 'etc/docker/daemon.json': '{ "tls": true, "hosts": ["tcp://0.0.0.0:2376"] }\n' }),
    );
    assert.match(tlsOnly[0]?.evidence[0]?.detail ?? '', /with TLS but without client verification/);
    const verified = run(
      await factsOf({ 'etc/docker/daemon.json': '{ "tlsverify": true, "hosts": ["tcp://0.0.0.0:2376"] }\n' }),
    );
    assert.deepEqual(verified, []);
  });

  it('flags docker.sock mounts, privileged containers and host networking, each at its line', async () => {
    const findings = run(
      await factsOf({
        'srv/ops/compose.yaml': `services:
  portainer:
    image: portainer/portainer-ce:2.19.4
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
  vpn:
    image: linuxserver/wireguard
    privileged: true
    network_mode: host
  web:
    image: nginx:1.27
    volumes:
      - ./html:/usr/share/nginx/html:ro
`,
      }),
    );
    assert.deepEqual(ids(findings), [
      'docker-socket-mounted high /srv/ops/compose.yaml:5',
      'docker-privileged high /srv/ops/compose.yaml:8',
      'docker-network-host low /srv/ops/compose.yaml:9',
    ]);
  });

  it('finds nothing without Docker facts', () => {
    assert.deepEqual(run({}), []);
  });
});
