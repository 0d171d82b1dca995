import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { contextFor, removeTrees, treeHost } from './datastores-testing.ts';
import { mongodbCollector, parseMongodConfig } from './mongodb.ts';

after(removeTrees);

/** The file the official packages install, trimmed. */
const PACKAGED = `# mongod.conf

# for documentation of all options, see:
#   http://docs.mongodb.org/manual/reference/configuration-options/

# Where and how to store data.
storage:
  dbPath: /var/lib/mongodb

# network interfaces
net:
  port: 27017
  bindIp: 127.0.0.1


# how the process runs
processManagement:
  timeZoneInfo: /usr/share/zoneinfo

#security:
`;

/** The pre-2.6 ini format Debian's old mongodb package shipped as /etc/mongodb.conf. */
const LEGACY = `# mongodb.conf

# Where to store the data.
dbpath=/var/lib/mongodb

#where to log
logpath=/var/log/mongodb/mongodb.log

logappend=true

bind_ip = 0.0.0.0
port = 27017

# Turn on/off security.  Off is currently the default
#noauth = true
auth = true
`;

describe('mongodb collector', () => {
  it('reads the YAML format under dotted names with lines', async () => {
    const result = await mongodbCollector.collect(
      contextFor(await treeHost({ '/etc/mongod.conf': PACKAGED })),
    );
    const config = result.facts?.configs[0];
    assert.equal(config?.file, '/etc/mongod.conf');
    assert.equal(config?.format, 'yaml');
    assert.deepEqual(config?.settings['net.bindIp'], { written: 'net.bindIp', value: '127.0.0.1', line: 13 });
    assert.equal(config?.settings['net.port']?.value, '27017');
    assert.equal(config?.settings['security.authorization'], undefined);
  });

  it('maps the legacy ini format to the YAML names, quoting the line as written', () => {
    const parsed = parseMongodConfig(LEGACY);
    assert.ok('settings' in parsed);
    assert.equal(parsed.format, 'ini');
    assert.deepEqual(parsed.settings['net.bindIp'], {
      written: 'bind_ip',
      value: '0.0.0.0',
      line: 11,
      quote: 'bind_ip = 0.0.0.0',
    });
    assert.equal(parsed.settings['security.authorization']?.value, 'enabled');
    assert.equal(parsed.settings['security.authorization']?.line, 16);
  });

  it('reads noauth = true as authorization disabled', () => {
    const parsed = parseMongodConfig('bind_ip = 127.0.0.1\nnoauth = true\n');
    assert.ok('settings' in parsed);
    assert.equal(parsed.settings['security.authorization']?.value, 'disabled');
  });

  it('reads both /etc/mongod.conf and /etc/mongodb.conf when both exist', async () => {
    const host = await treeHost({ '/etc/mongod.conf': PACKAGED, '/etc/mongodb.conf': LEGACY });
    const result = await mongodbCollector.collect(contextFor(host));
    assert.deepEqual(
      result.facts?.configs.map((config) => [config.file, config.format]),
      [
        ['/etc/mongod.conf', 'yaml'],
        ['/etc/mongodb.conf', 'ini'],
      ],
    );
  });

  it('reports YAML it cannot parse as an unparsable file and goes on', async () => {
    const host = await treeHost({ '/etc/mongod.conf': 'net:\n  bindIp: [127.0.0.1\n  port: 27017\n' });
    const result = await mongodbCollector.collect(contextFor(host));
    assert.equal(result.facts, undefined);
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
    assert.equal(result.findings?.[0]?.evidence[0]?.file, '/etc/mongod.conf');
  });

  it('reports a file that is neither YAML settings nor ini lines', async () => {
    const host = await treeHost({ '/etc/mongod.conf': 'just some words\n' });
    const result = await mongodbCollector.collect(contextFor(host));
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
  });

  it('says so in skipped when no config exists', async () => {
    const result = await mongodbCollector.collect(contextFor(await treeHost({})));
    assert.equal(result.facts, undefined);
    assert.equal(result.skipped?.[0]?.check, 'mongodb');
  });
});
