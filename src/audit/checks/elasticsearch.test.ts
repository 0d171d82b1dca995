import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import type { ElasticsearchFacts } from '../collectors/elasticsearch.ts';
import { parseYamlSettings } from '../collectors/yaml-settings.ts';
import type { Reach } from '../types.ts';
import { fakeExposure } from './datastores-testing.ts';
import { elasticsearchCheck, esHostTerm } from './elasticsearch.ts';

const FILE = '/etc/elasticsearch/elasticsearch.yml';

function facts(yml: string, major?: number): ElasticsearchFacts {
  const parsed = parseYamlSettings(yml);
  assert.ok(parsed.ok);
  const version =
    major === undefined
      ? {}
      : {
          version: {
            text: `${major}.17.9`,
            major,
            source: `/usr/share/elasticsearch/lib/elasticsearch-${major}.17.9.jar`,
          },
        };
  return { file: FILE, settings: parsed.settings, ...version };
}

function run(yml: string, options: { major?: number; firewall?: Reach; unresolved?: Reach } = {}) {
  const exposure = fakeExposure(options);
  const findings = elasticsearchCheck.run({
    facts: { elasticsearch: facts(yml, options.major) },
    exposure,
    config: parseConfig({}),
  });
  return { findings, exposure };
}

describe('elasticsearch check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      elasticsearchCheck.rules.map((rule) => rule.id),
      ['elasticsearch-no-security', 'elasticsearch-public-bind'],
    );
  });

  it('is critical when security is off and network.host is 0.0.0.0, pointing at the setting first', () => {
    const { findings } = run('network.host: 0.0.0.0\nxpack.security.enabled: false\n', { major: 8 });
    assert.equal(findings.length, 1);
    const [finding] = findings;
    assert.equal(finding?.id, 'elasticsearch-no-security');
    assert.equal(finding?.severity, 'critical');
    assert.deepEqual(finding?.evidence[0], { file: FILE, line: 2, detail: 'xpack.security.enabled: false' });
    assert.ok(
      finding?.evidence.some((item) => item.line === 1 && item.detail.startsWith('network.host: 0.0.0.0')),
    );
    assert.ok(
      finding?.evidence.some((item) =>
        item.detail.startsWith('fake: elasticsearch binds [0.0.0.0] tcp/9200'),
      ),
    );
  });

  it('reads the nested form of xpack.security.enabled the same way', () => {
    const { findings } = run('xpack:\n  security:\n    enabled: false\nnetwork.host: 0.0.0.0\n', {
      major: 8,
    });
    assert.equal(findings[0]?.id, 'elasticsearch-no-security');
    assert.equal(findings[0]?.evidence[0]?.line, 3);
  });

  it('takes security as off when unset before 8.0, and names the version', () => {
    const { findings } = run('network.host: 0.0.0.0\n', { major: 7 });
    assert.equal(findings[0]?.severity, 'critical');
    assert.equal(findings[0]?.evidence[0]?.line, 1);
    assert.ok(
      findings[0]?.evidence.some(
        (item) => item.detail.includes('7.17.9') && item.detail.includes('before 8.0'),
      ),
    );
  });

  it('takes security as on when unset from 8.0, and then reports only the public bind', () => {
    const { findings } = run('http.host: 0.0.0.0\n', { major: 8 });
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.id, 'elasticsearch-public-bind');
    assert.equal(findings[0]?.severity, 'medium');
    assert.deepEqual(findings[0]?.evidence[0], {
      file: FILE,
      line: 1,
      detail: 'http.host: 0.0.0.0 (HTTP layer)',
    });
  });

  it('assumes off one step softer when unset and the version is unknown, and says the version is unknown', () => {
    const { findings } = run('network.host: 0.0.0.0\n');
    assert.equal(findings[0]?.id, 'elasticsearch-no-security');
    assert.equal(findings[0]?.severity, 'high');
    assert.ok(findings[0]?.evidence.some((item) => item.detail.includes('version is unknown')));
  });

  it('is low when security is off but the node binds only loopback by default', () => {
    const { findings, exposure } = run('xpack.security.enabled: false\n', { major: 7 });
    assert.equal(findings[0]?.severity, 'low');
    assert.deepEqual(exposure.calls[0]?.binds, ['127.0.0.1', '::1']);
    assert.ok(
      findings[0]?.evidence.some((item) => item.detail.includes('binds loopback (_local_) by default')),
    );
  });

  it('reports nothing when security is on and the node is local', () => {
    const { findings } = run('xpack.security.enabled: true\nnetwork.host: _local_\n', { major: 8 });
    assert.deepEqual(findings, []);
  });

  it('is high when a firewall leaves the open node reachable only from private networks', () => {
    const { findings } = run('xpack.security.enabled: false\nnetwork.host: 0.0.0.0\n', {
      firewall: 'private',
    });
    assert.equal(findings[0]?.severity, 'high');
    assert.match(findings[0]?.title ?? '', /private networks/);
  });

  it('caps _site_ at private reach while listening sockets decide the rest', () => {
    const { findings, exposure } = run('xpack.security.enabled: false\nnetwork.host: _site_\n');
    assert.deepEqual(exposure.calls[0]?.binds, []);
    assert.equal(findings[0]?.severity, 'high');
    assert.ok(findings[0]?.evidence.some((item) => item.detail.includes('site-local (private)')));
  });

  it('finds a transport layer opened on its own while HTTP stays local', () => {
    const { findings } = run(
      'xpack.security.enabled: false\nhttp.host: 127.0.0.1\ntransport.host: 0.0.0.0\ntransport.port: 9301\n',
    );
    assert.equal(findings[0]?.severity, 'critical');
    assert.ok(
      findings[0]?.evidence.some((item) => item.detail === 'transport.host: 0.0.0.0 (transport layer)'),
    );
    assert.ok(findings[0]?.evidence.some((item) => item.detail.startsWith('transport port 9301')));
    assert.ok(!findings[0]?.evidence.some((item) => item.detail.includes('(HTTP layer)')));
  });

  it('lets http.host override network.host for the HTTP layer', () => {
    const { findings } = run('xpack.security.enabled: true\nnetwork.host: 0.0.0.0\nhttp.host: 127.0.0.1\n', {
      major: 8,
    });
    // Transport still binds 0.0.0.0 through network.host.
    assert.equal(findings[0]?.id, 'elasticsearch-public-bind');
    assert.ok(
      findings[0]?.evidence.some((item) => item.detail === 'network.host: 0.0.0.0 (transport layer)'),
    );
    assert.ok(!findings[0]?.evidence.some((item) => item.detail.includes('HTTP layer')));
  });

  it('reads http.port ranges by their first port', () => {
    const { exposure } = run('xpack.security.enabled: false\nhttp.port: 9250-9300\n');
    assert.equal(exposure.calls[0]?.port, 9250);
  });
});

describe('elasticsearch special network values', () => {
  it('maps _local_ and its ipv4 form to loopback addresses', () => {
    assert.deepEqual(esHostTerm('_local_').binds, ['127.0.0.1', '::1']);
    assert.deepEqual(esHostTerm('_local:ipv4_').binds, ['127.0.0.1']);
  });

  it('leaves interfaces, _global_, host names and environment variables unresolved at internet reach', () => {
    const fromEnvironment = ['$', '{ES_HOST}'].join('');
    for (const value of ['_eth0_', '_en0:ipv6_', '_global_', 'search.internal', fromEnvironment]) {
      const term = esHostTerm(value);
      assert.equal(term.binds, undefined, value);
      assert.equal(term.cap, 'internet', value);
      assert.ok(term.note, value);
    }
  });

  it('takes literal addresses as they are', () => {
    assert.deepEqual(esHostTerm('10.0.0.5'), { binds: ['10.0.0.5'], cap: 'private' });
    assert.deepEqual(esHostTerm('[::]').binds, ['::']);
  });
});
