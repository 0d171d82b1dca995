import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createHost } from '../host.ts';
import { dockerCollector, parseDockerdFlags, parseTcpHost } from './docker.ts';

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function collect(files: Record<string, string>, composeFiles: string[] = []) {
  const root = await mkdtemp(path.join(tmpdir(), 'moat-docker-'));
  roots.push(root);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
  return dockerCollector.collect({ host: createHost({ root }), config: parseConfig({}), composeFiles });
}

const COMPOSE = 'services:\n  redis:\n    image: redis:7\n    ports:\n      - "6379:6379"\n';

describe('docker collector', () => {
  it('says so in skipped when there is no daemon.json, unit or compose file', async () => {
    const result = await collect({ 'etc/hostname': 'web1\n' });
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no \/etc\/docker\/daemon\.json/);
  });

  it('reads iptables, ip, userland-proxy and TCP hosts from daemon.json, with lines', async () => {
    const result = await collect({
      'etc/docker/daemon.json':
        '{\n  "iptables": false,\n  "ip": "127.0.0.1",\n  "userland-proxy": false,\n  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2375"]\n}\n',
    });
    const facts = result.facts!;
    assert.deepEqual(facts.iptables, {
      value: false,
      file: '/etc/docker/daemon.json',
      line: 2,
      text: '"iptables": false',
    });
    assert.equal(facts.ip?.value, '127.0.0.1');
    assert.equal(facts.userlandProxy?.line, 4);
    assert.deepEqual(
      facts.apiListeners.map((l) => [l.address, l.host, l.port, l.tlsVerify, l.line]),
      [['tcp://0.0.0.0:2375', '0.0.0.0', 2375, false, 5]],
    );
  });

  it('reads -H from the ExecStart of a systemd drop-in, which overrides the unit', async () => {
    const result = await collect({
      'lib/systemd/system/docker.service':
        '[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock\n',
      'etc/systemd/system/docker.service.d/override.conf':
        '[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// -H tcp://0.0.0.0:2376 --tlsverify --tlscacert=/etc/docker/ca.pem\n',
    });
    assert.deepEqual(
      result.facts?.apiListeners.map((l) => [l.file, l.line, l.port, l.tlsVerify]),
      [['/etc/systemd/system/docker.service.d/override.conf', 3, 2376, true]],
    );
  });

  it('reads DOCKER_OPTS from /etc/default/docker', async () => {
    const result = await collect({
      'etc/default/docker': 'DOCKER_OPTS="-H tcp://127.0.0.1:2375 --iptables=false"\n',
    });
    assert.equal(result.facts?.apiListeners[0]?.host, '127.0.0.1');
    assert.equal(result.facts?.iptables?.value, false);
  });

  it('finds compose files in common places and reads the ones named with --compose', async () => {
    const result = await collect(
      {
        'opt/mastodon/docker-compose.yml': COMPOSE,
        'home/deploy/shop/compose.yaml': COMPOSE,
        'srv/notes.txt': 'not compose\n',
        'etc/app/stack.yml': COMPOSE,
      },
      ['/etc/app/stack.yml'],
    );
    assert.deepEqual(result.facts?.composeFiles.map((c) => c.file).sort(), [
      '/etc/app/stack.yml',
      '/home/deploy/shop/compose.yaml',
      '/opt/mastodon/docker-compose.yml',
    ]);
  });

  it('reports a --compose file that does not exist in skipped', async () => {
    const result = await collect({ 'opt/app/compose.yml': COMPOSE }, ['/srv/missing.yml']);
    assert.deepEqual(result.skipped, [
      { check: 'docker', reason: 'compose file /srv/missing.yml not found' },
    ]);
  });

  it('turns an invalid daemon.json or compose file into unparsable-file findings', async () => {
    const result = await collect({
      'etc/docker/daemon.json': '{\n  "iptables": false,\n}\n',
      'opt/app/compose.yml': 'services:\n  web: [\n',
    });
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file]),
      [
        ['unparsable-file', '/etc/docker/daemon.json'],
        ['unparsable-file', '/opt/app/compose.yml'],
      ],
    );
    assert.equal(result.facts?.iptables, undefined);
  });

  it('reads dockerd flags in their spellings', () => {
    assert.deepEqual(
      parseDockerdFlags('dockerd --host=tcp://0.0.0.0:2375 -H unix:// --tls --iptables=false --ip 127.0.0.1'),
      {
        hosts: ['tcp://0.0.0.0:2375', 'unix://'],
        tls: true,
        iptables: false,
        ip: '127.0.0.1',
      },
    );
    assert.deepEqual(parseTcpHost('tcp://:2375'), { host: '0.0.0.0', port: 2375 });
    assert.deepEqual(parseTcpHost('tcp://[::1]:2376'), { host: '::1', port: 2376 });
    assert.equal(parseTcpHost('unix:///var/run/docker.sock'), undefined);
  });
});
