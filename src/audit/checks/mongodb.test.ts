import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { parseMongodConfig } from '../collectors/mongodb.ts';
import type { Reach } from '../types.ts';
import { fakeExposure } from './datastores-testing.ts';
import { mongodbCheck } from './mongodb.ts';

const FILE = '/etc/mongod.conf';

function run(text: string, options: { firewall?: Reach } = {}) {
  const parsed = parseMongodConfig(text);
  assert.ok('settings' in parsed);
  const exposure = fakeExposure(options);
  const findings = mongodbCheck.run({
    facts: { mongodb: { configs: [{ file: FILE, ...parsed }] } },
    exposure,
    config: parseConfig({}),
  });
  return { findings, exposure };
}

describe('mongodb check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      mongodbCheck.rules.map((rule) => rule.id),
      ['mongodb-no-auth', 'mongodb-public-bind'],
    );
  });

  it('is critical for bindIp 0.0.0.0 without authorization, pointing at bindIp', () => {
    const { findings } = run('net:\n  port: 27017\n  bindIp: 0.0.0.0\n#security:\n');
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.id, 'mongodb-no-auth');
    assert.equal(findings[0]?.severity, 'critical');
    assert.deepEqual(findings[0]?.evidence[0], { file: FILE, line: 3, detail: 'net.bindIp: 0.0.0.0' });
    assert.ok(
      findings[0]?.evidence.some((item) => item.detail.includes('security.authorization is not set')),
    );
  });

  it('is critical for bindIpAll, and asks about IPv6 too when net.ipv6 is on', () => {
    const { findings, exposure } = run('net:\n  bindIpAll: true\n  ipv6: true\n');
    assert.equal(findings[0]?.severity, 'critical');
    assert.equal(findings[0]?.evidence[0]?.detail, 'net.bindIpAll: true');
    assert.deepEqual(exposure.calls[0]?.binds, ['0.0.0.0', '::']);
  });

  it('points at an explicit authorization: disabled first', () => {
    const { findings } = run('net:\n  bindIp: 0.0.0.0\nsecurity:\n  authorization: disabled\n');
    assert.deepEqual(findings[0]?.evidence[0], {
      file: FILE,
      line: 4,
      detail: 'security.authorization: disabled',
    });
  });

  it('is high when only private networks can reach it', () => {
    const { findings } = run('net:\n  bindIp: 127.0.0.1,10.0.0.12\n');
    assert.equal(findings[0]?.id, 'mongodb-no-auth');
    assert.equal(findings[0]?.severity, 'high');
  });

  it('is low for the packaged default: localhost only, no authorization', () => {
    const { findings } = run('net:\n  port: 27017\n  bindIp: 127.0.0.1\n');
    assert.equal(findings[0]?.severity, 'low');
    assert.match(findings[0]?.title ?? '', /only locally/);
  });

  it('takes an unset bindIp as localhost (MongoDB 3.6+) and says so', () => {
    const { findings, exposure } = run('storage:\n  dbPath: /var/lib/mongodb\n');
    assert.deepEqual(exposure.calls[0]?.binds, ['127.0.0.1']);
    assert.ok(findings[0]?.evidence.some((item) => item.detail.includes('3.6')));
  });

  it('treats Unix socket paths and localhost in bindIp as local', () => {
    const { findings, exposure } = run(
      'net:\n  bindIp: localhost,/tmp/mongod.sock\nsecurity:\n  authorization: enabled\n',
    );
    assert.deepEqual(exposure.calls[0]?.binds, ['127.0.0.1', '::1']);
    assert.deepEqual(findings, []);
  });

  it('reports only the public bind, at medium, when authorization is enabled', () => {
    const { findings } = run('net:\n  bindIp: 0.0.0.0\nsecurity:\n  authorization: enabled\n');
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.id, 'mongodb-public-bind');
    assert.equal(findings[0]?.severity, 'medium');
  });

  it('takes a keyFile as access control on', () => {
    const { findings } = run('net:\n  bindIp: 0.0.0.0\nsecurity:\n  keyFile: /etc/mongo/keyfile\n');
    assert.equal(findings[0]?.id, 'mongodb-public-bind');
  });

  it('treats transitionToAuth as open: mongod still accepts clients that do not authenticate', () => {
    const { findings } = run(
      'net:\n  bindIp: 0.0.0.0\nsecurity:\n  keyFile: /etc/mongo/keyfile\n  transitionToAuth: true\n',
    );
    assert.equal(findings[0]?.id, 'mongodb-no-auth');
    assert.equal(findings[0]?.evidence[0]?.line, 5);
  });

  it('reads the legacy format: auth = true with bind_ip 0.0.0.0 is only a public bind', () => {
    const { findings } = run('bind_ip = 0.0.0.0\nport = 27018\nauth = true\n');
    assert.equal(findings[0]?.id, 'mongodb-public-bind');
    assert.deepEqual(findings[0]?.evidence[0], { file: FILE, line: 1, detail: 'bind_ip = 0.0.0.0' });
  });

  it('uses net.port for the exposure question', () => {
    const { exposure } = run('net:\n  port: 27018\n  bindIp: 0.0.0.0\n');
    assert.equal(exposure.calls[0]?.port, 27018);
  });
});
