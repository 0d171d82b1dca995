import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interpolate, parseCompose, parseComposePort, parseDotEnv } from './compose.ts';

const FILE = '/opt/app/docker-compose.yml';

describe('compose port syntax', () => {
  const port = (text: string) => {
    const parsed = parseComposePort(text, 'svc', FILE, 1);
    return (
      parsed && {
        hostIp: parsed.hostIp,
        published: parsed.published,
        target: parsed.target,
        protocol: parsed.protocol,
      }
    );
  };

  it('reads the short forms', () => {
    assert.deepEqual(port('6379:6379'), {
      hostIp: undefined,
      published: { from: 6379, to: 6379 },
      target: { from: 6379, to: 6379 },
      protocol: 'tcp',
    });
    assert.deepEqual(port('127.0.0.1:6379:6379')?.hostIp, '127.0.0.1');
    assert.deepEqual(port('6379'), {
      hostIp: undefined,
      published: undefined,
      target: { from: 6379, to: 6379 },
      protocol: 'tcp',
    });
    assert.deepEqual(port('8080-8090:80')?.published, { from: 8080, to: 8090 });
    assert.deepEqual(port('53:53/udp')?.protocol, 'udp');
    assert.deepEqual(port('127.0.0.1::5432'), {
      hostIp: '127.0.0.1',
      published: undefined,
      target: { from: 5432, to: 5432 },
      protocol: 'tcp',
    });
    assert.deepEqual(port('[::1]:6379:6379')?.hostIp, '::1');
    assert.deepEqual(port('::1:6379:6379')?.hostIp, '::1');
  });

  it('refuses what is not a port mapping', () => {
    assert.equal(port('redis:6379'), undefined);
    assert.equal(port('6379:6379/sctp'), undefined);
    assert.equal(port('70000:80'), undefined);
  });
});

const $ = '$';

describe('compose interpolation', () => {
  it('resolves $VAR in its braced forms (plain, :-default, -default) from the .env file', () => {
    const env = parseDotEnv('# comment\nREDIS_PORT=6380\nEMPTY=\nexport BIND="127.0.0.1"\n');
    // `$` is kept apart so that the lint does not read these as template strings.
    assert.equal(interpolate(`${$}{BIND}:${$}{REDIS_PORT}:6379`, env), '127.0.0.1:6380:6379');
    assert.equal(interpolate(`${$}{MISSING:-9200}:9200`, env), '9200:9200');
    assert.equal(interpolate(`${$}{EMPTY:-x}`, env), 'x');
    assert.equal(interpolate(`${$}{EMPTY-x}`, env), '');
    assert.equal(interpolate('$$HOME', env), '$HOME');
    assert.equal(interpolate(`${$}{MISSING}:80`, env), undefined);
  });
});

const COMPOSE = `services:
  redis:
    image: redis:7
    command: redis-server --appendonly yes
    ports:
      - "6379:6379"
      - target: 6380
        published: "16380"
        host_ip: 127.0.0.1
      - "\${ES_PORT}:9200"
  agent:
    image: portainer/agent:2.19.4
    privileged: true
    network_mode: host
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
      - type: bind
        source: /srv/data
        target: /data
    environment:
      - AGENT_CLUSTER_ADDR=tasks.agent
  es:
    image: docker.elastic.co/elasticsearch/elasticsearch:8.11.1
    environment:
      xpack.security.enabled: "false"
      discovery.type: single-node
    networks: [back]
networks:
  back:
    driver_opts:
      com.docker.network.bridge.host_binding_ipv4: "127.0.0.1"
`;

describe('compose files', () => {
  const parsed = parseCompose(COMPOSE, FILE);
  assert.ok(parsed.ok);
  const [redis, agent, es] = parsed.compose.services;

  it('reads services, images and ports with their lines', () => {
    assert.deepEqual(
      parsed.compose.services.map((s) => [s.name, s.image, s.line]),
      [
        ['redis', 'redis:7', 2],
        ['agent', 'portainer/agent:2.19.4', 11],
        ['es', 'docker.elastic.co/elasticsearch/elasticsearch:8.11.1', 22],
      ],
    );
    assert.deepEqual(
      redis?.ports.map((p) => [p.text, p.line, p.hostIp, p.published?.from]),
      [
        ['"6379:6379"', 6, undefined, 6379],
        ['target: 6380, published: 16380, host_ip: 127.0.0.1', 7, '127.0.0.1', 16380],
      ],
    );
    assert.equal(redis?.command, 'redis-server --appendonly yes');
  });

  it('lists a port whose variable has no value as unresolved, with its line', () => {
    assert.deepEqual(parsed.compose.unresolved, [{ file: FILE, line: 10, text: `${$}{ES_PORT}:9200` }]);
  });

  it('finds privileged mode, host networking and a docker.sock mount', () => {
    assert.deepEqual(agent?.privileged, { file: FILE, line: 13, text: 'privileged: true' });
    assert.deepEqual(agent?.networkModeHost, { file: FILE, line: 14, text: 'network_mode: host' });
    assert.equal(agent?.dockerSocket?.line, 16);
    assert.equal(redis?.dockerSocket, undefined);
    assert.equal(redis?.privileged, undefined);
  });

  it('reads environment in list and map form, networks and host bindings', () => {
    assert.deepEqual(agent?.environment['AGENT_CLUSTER_ADDR'], { value: 'tasks.agent', line: 21 });
    assert.deepEqual(es?.environment['xpack.security.enabled'], { value: 'false', line: 25 });
    assert.deepEqual(es?.networks, ['back']);
    assert.deepEqual(redis?.networks, ['default']);
    assert.deepEqual(parsed.compose.hostBindings, { back: '127.0.0.1' });
  });

  it('reports YAML errors with their line', () => {
    const bad = parseCompose('services:\n  web:\n    image: nginx\n   ports: [80]\n', FILE);
    assert.equal(bad.ok, false);
    assert.ok(!bad.ok && bad.line !== undefined && bad.line >= 3);
    const notMap = parseCompose('- just\n- a list\n', FILE);
    assert.equal(notMap.ok, false);
  });
});
