import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { contextFor, removeTrees, treeHost } from './datastores-testing.ts';
import { elasticsearchCollector, versionFromJars } from './elasticsearch.ts';

after(removeTrees);

const YML = '/etc/elasticsearch/elasticsearch.yml';

async function collect(files: Record<string, string>) {
  return elasticsearchCollector.collect(contextFor(await treeHost(files)));
}

describe('elasticsearch collector', () => {
  it('reads dotted keys with the line they are on', async () => {
    const result = await collect({
      [YML]: [
        '# ---------------------------------- Network -----------------------------------',
        '#network.host: 192.168.0.1',
        'network.host: 0.0.0.0',
        'http.port: 9200',
        'xpack.security.enabled: false',
      ].join('\n'),
    });
    const settings = result.facts?.settings ?? {};
    assert.deepEqual(settings['network.host'], { written: 'network.host', value: '0.0.0.0', line: 3 });
    assert.equal(settings['http.port']?.value, '9200');
    assert.deepEqual(settings['xpack.security.enabled'], {
      written: 'xpack.security.enabled',
      value: 'false',
      line: 5,
    });
  });

  it('flattens nested keys to the same dotted names, with the line of the innermost key', async () => {
    const result = await collect({
      [YML]: [
        'cluster.name: logs',
        'xpack:',
        '  security:',
        '    enabled: false',
        'network:',
        '  host: [_local_, _site_]',
      ].join('\n'),
    });
    const settings = result.facts?.settings ?? {};
    assert.equal(settings['xpack.security.enabled']?.value, 'false');
    assert.equal(settings['xpack.security.enabled']?.line, 4);
    assert.deepEqual(settings['network.host']?.value, ['_local_', '_site_']);
  });

  it('takes the version from the main jar under /usr/share/elasticsearch/lib', async () => {
    const result = await collect({
      [YML]: 'cluster.name: logs\n',
      '/usr/share/elasticsearch/lib/elasticsearch-core-7.17.9.jar': '',
      '/usr/share/elasticsearch/lib/elasticsearch-7.17.9.jar': '',
      '/usr/share/elasticsearch/lib/lucene-core-8.11.1.jar': '',
    });
    assert.deepEqual(result.facts?.version, {
      text: '7.17.9',
      major: 7,
      source: '/usr/share/elasticsearch/lib/elasticsearch-7.17.9.jar',
    });
  });

  it('leaves the version out when no versioned jar is there', async () => {
    const result = await collect({ [YML]: 'cluster.name: logs\n' });
    assert.ok(result.facts);
    assert.equal(result.facts.version, undefined);
    assert.equal(versionFromJars(['elasticsearch-cli-8.1.0.jar', 'jna-5.10.0.jar']), undefined);
  });

  it('treats a file of comments only as no settings', async () => {
    const result = await collect({ [YML]: '# all defaults\n#network.host: 192.168.0.1\n' });
    assert.deepEqual(result.facts?.settings, {});
  });

  it('says so in skipped when elasticsearch.yml is absent', async () => {
    const result = await collect({});
    assert.equal(result.facts, undefined);
    assert.deepEqual(result.skipped, [
      { check: 'elasticsearch', reason: 'no /etc/elasticsearch/elasticsearch.yml' },
    ]);
  });

  it('reports broken YAML as an unparsable file with its line, and no facts', async () => {
    const result = await collect({ [YML]: 'cluster.name: logs\nnetwork.host: [0.0.0.0\nhttp.port: 9200\n' });
    assert.equal(result.facts, undefined);
    const finding = result.findings?.[0];
    assert.equal(finding?.id, 'unparsable-file');
    assert.equal(finding?.evidence[0]?.file, YML);
    assert.equal(typeof finding?.evidence[0]?.line, 'number');
  });

  it('reports a duplicated key, which Elasticsearch refuses too', async () => {
    const result = await collect({ [YML]: 'network.host: 127.0.0.1\nnetwork.host: 0.0.0.0\n' });
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
    assert.equal(result.findings?.[0]?.evidence[0]?.line, 2);
  });
});
