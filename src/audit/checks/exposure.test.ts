import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { createExposure } from '../exposure.ts';
import { factsOf, removeTrees, UFW_ON } from '../exposure-testing.ts';
import type { Facts } from '../types.ts';
import { exposureCheck } from './exposure.ts';

after(removeTrees);

function run(facts: Facts) {
  return exposureCheck.run({ facts, exposure: createExposure(facts), config: parseConfig({}) });
}

/** A /proc/net/tcp with listeners on the given address:port pairs. */
function procTcp(...listeners: [string, number][]): string {
  const hex = (address: string) =>
    address
      .split('.')
      .reverse()
      .map((b) => Number(b).toString(16).padStart(2, '0').toUpperCase())
      .join('');
  const lines = listeners.map(
    ([address, port], i) =>
      `   ${i}: ${hex(address)}:${port.toString(16).toUpperCase().padStart(4, '0')} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${1000 + i} 1 0 100 0 0 10 0`,
  );
  return `  sl  local_address rem_address   st\n${lines.join('\n')}\n`;
}

const ES_COMPOSE = `services:
  es:
    image: docker.elastic.co/elasticsearch/elasticsearch:7.17.4
    environment:
      - "discovery.type=single-node"
      - "xpack.security.enabled=false"
    ports:
      - '9200:9200'
`;

describe('exposure check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      exposureCheck.rules.map((r) => r.id),
      ['exposure-internet-datastore', 'exposure-private-datastore', 'exposure-public-listeners'],
    );
  });

  it('reports a Docker-published Elasticsearch past ufw with the whole chain, and that security is off', async () => {
    const findings = run(await factsOf({ ...UFW_ON, 'opt/search/docker-compose.yml': ES_COMPOSE }));
    assert.equal(findings.length, 1);
    const [finding] = findings;
    assert.equal(finding?.id, 'exposure-internet-datastore');
    assert.equal(finding?.severity, 'critical');
    assert.equal(finding?.title, 'Elasticsearch (9200/tcp) is reachable from the internet');
    assert.deepEqual(
      finding?.evidence.map((e) => [e.file, e.line, e.detail.slice(0, 40)]),
      [
        ['/opt/search/docker-compose.yml', 8, 'compose publishes "9200:9200" for servic'],
        ['/etc/default/ufw', 2, 'ufw has no rule that accepts 9200/tcp fr'],
        [undefined, undefined, 'Docker-published ports bypass ufw: the t'],
        [undefined, undefined, 'DOCKER-USER has no rule restricting it'],
        ['/opt/search/docker-compose.yml', 6, 'and the container runs without authentic'],
        [undefined, undefined, 'so Elasticsearch (9200/tcp) is reachable'],
      ],
    );
    assert.match(finding!.fix, /"127\.0\.0\.1:9200:9200"/);
  });

  it('reports a datastore socket on 0.0.0.0 that nothing filters, and not one on loopback', async () => {
    const findings = run(await factsOf({ 'proc/net/tcp': procTcp(['0.0.0.0', 27017], ['127.0.0.1', 6379]) }));
    assert.deepEqual(
      findings.map((f) => [f.id, f.title, f.evidence[0]?.file, f.evidence[0]?.line]),
      [
        [
          'exposure-internet-datastore',
          'MongoDB (27017/tcp) is reachable from the internet',
          '/proc/net/tcp',
          2,
        ],
      ],
    );
  });

  it('reports a datastore reachable from private networks as medium', async () => {
    const findings = run(await factsOf({ 'proc/net/tcp': procTcp(['10.0.0.5', 5432]) }));
    assert.deepEqual(
      findings.map((f) => [f.id, f.severity]),
      [['exposure-private-datastore', 'medium']],
    );
  });

  it('does not report a datastore the firewall keeps in', async () => {
    assert.deepEqual(run(await factsOf({ ...UFW_ON, 'proc/net/tcp': procTcp(['0.0.0.0', 6379]) })), []);
  });

  it('lists other public listeners in one info finding', async () => {
    const findings = run(
      await factsOf({ ...UFW_ON, 'proc/net/tcp': procTcp(['0.0.0.0', 22], ['0.0.0.0', 3000]) }),
    );
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.id, 'exposure-public-listeners');
    assert.equal(findings[0]?.severity, 'info');
    assert.equal(findings[0]?.title, '1 other service is reachable from the internet');
    assert.match(
      findings[0]?.evidence[0]?.detail ?? '',
      /^SSH \(22\/tcp\): listening socket 0\.0\.0\.0:22\/tcp; ufw allows 22\/tcp from anywhere/,
    );
  });

  it('finds nothing without sockets or Docker facts', () => {
    assert.deepEqual(run({}), []);
  });
});
