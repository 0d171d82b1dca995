import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { debianConfTokens, type MemcachedVersion, parseOptions } from '../collectors/memcached.ts';
import type { Reach } from '../types.ts';
import { fakeExposure } from './datastores-testing.ts';
import { listenTerms, memcachedCheck } from './memcached.ts';

const FILE = '/etc/memcached.conf';

function run(conf: string, options: { firewall?: Reach; version?: MemcachedVersion } = {}) {
  const exposure = fakeExposure(options);
  const instance = {
    name: 'memcached',
    source: FILE,
    file: FILE,
    options: parseOptions(debianConfTokens(conf, FILE)),
  };
  const findings = memcachedCheck.run({
    facts: { memcached: { instances: [instance], ...(options.version ? { version: options.version } : {}) } },
    exposure,
    config: parseConfig({}),
  });
  return { findings, exposure };
}

const ids = (findings: { id: string; severity: string }[]) =>
  findings.map((finding) => [finding.id, finding.severity]);

describe('memcached check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      memcachedCheck.rules.map((rule) => rule.id),
      ['memcached-no-auth', 'memcached-public-bind', 'memcached-udp-enabled'],
    );
  });

  it("reports nothing for Debian's default: -l 127.0.0.1, UDP off", () => {
    assert.deepEqual(run('-d\n-m 64\n-p 11211\n-u memcache\n-l 127.0.0.1\n').findings, []);
  });

  it('is critical without -l: memcached listens on every interface, and says so', () => {
    const { findings, exposure } = run('-m 64\n-p 11211\n');
    assert.deepEqual(ids(findings), [['memcached-no-auth', 'critical']]);
    assert.deepEqual(exposure.calls[0]?.binds, ['0.0.0.0', '::']);
    assert.match(findings[0]?.evidence[0]?.detail ?? '', /listens on every interface/);
  });

  it('is critical for -l 0.0.0.0, pointing at that line', () => {
    const { findings } = run('-p 11211\n-l 0.0.0.0\n');
    assert.deepEqual(findings[0]?.evidence[0], { file: FILE, line: 2, detail: '-l 0.0.0.0' });
    assert.equal(findings[0]?.severity, 'critical');
  });

  it('is high when only private networks reach it', () => {
    const { findings } = run('-l 127.0.0.1,10.0.0.4\n');
    assert.deepEqual(ids(findings), [['memcached-no-auth', 'high']]);
  });

  it('is high when a firewall narrows an open listener to private networks', () => {
    const { findings } = run('-l 0.0.0.0\n', { firewall: 'private' });
    assert.deepEqual(ids(findings), [['memcached-no-auth', 'high']]);
  });

  it('reports only the public bind, at medium, when SASL is on', () => {
    const { findings } = run('-l 0.0.0.0\n-S\n');
    assert.deepEqual(ids(findings), [['memcached-public-bind', 'medium']]);
    assert.ok(
      findings[0]?.evidence.some((item) => item.line === 2 && item.detail.includes('authentication is on')),
    );
  });

  it('counts an auth file (-Y) as authentication', () => {
    const { findings } = run('-l 0.0.0.0\n-Y /etc/memcached/tokens\n');
    assert.deepEqual(ids(findings), [['memcached-public-bind', 'medium']]);
  });

  it('is high for UDP on a public listener, pointing at -U', () => {
    const { findings, exposure } = run('-l 0.0.0.0\n-S\n-U 11211\n');
    assert.deepEqual(ids(findings), [
      ['memcached-public-bind', 'medium'],
      ['memcached-udp-enabled', 'high'],
    ]);
    assert.deepEqual(findings[1]?.evidence[0], {
      file: FILE,
      line: 3,
      detail: '-U 11211: UDP enabled on port 11211',
    });
    assert.equal(exposure.calls[1]?.protocol, 'udp');
  });

  it('is low for UDP bound to loopback only', () => {
    const { findings } = run('-l 127.0.0.1\n-U 11211\n');
    assert.deepEqual(ids(findings), [['memcached-udp-enabled', 'low']]);
  });

  it('takes -U 0 as UDP off', () => {
    assert.deepEqual(run('-l 0.0.0.0\n-S\n-U 0\n').findings.length, 1);
  });

  it('takes UDP as on, on the -p port, when memcached is older than 1.5.6 and -U is absent', () => {
    const old = { text: '1.4.15', major: 1, minor: 4, patch: 15 };
    const { findings, exposure } = run('-l 0.0.0.0\n-S\n-p 11222\n', { version: old });
    assert.deepEqual(ids(findings), [
      ['memcached-public-bind', 'medium'],
      ['memcached-udp-enabled', 'high'],
    ]);
    assert.equal(exposure.calls[1]?.port, 11222);
    assert.match(findings[1]?.evidence[0]?.detail ?? '', /older than 1\.5\.6/);
    const current = run('-l 0.0.0.0\n-S\n', { version: { text: '1.5.6', major: 1, minor: 5, patch: 6 } });
    assert.equal(current.findings.length, 1);
  });

  it('reports nothing when memcached listens on a Unix socket (-s disables the network)', () => {
    assert.deepEqual(run('-s /run/memcached/memcached.sock\n-a 0770\n').findings, []);
  });

  it('reports nothing for TCP with -p 0 and no UDP', () => {
    assert.deepEqual(run('-p 0\n-l 0.0.0.0\n').findings, []);
  });
});

describe('memcached -l values', () => {
  it('reads lists, host:port and [v6]:port forms', () => {
    assert.deepEqual(
      listenTerms('127.0.0.1:11211,[::1]:11211, localhost').map((term) => term.binds),
      [['127.0.0.1'], ['::1'], ['127.0.0.1', '::1']],
    );
  });

  it('leaves host names unresolved', () => {
    const [term] = listenTerms('cache.internal');
    assert.equal(term?.binds, undefined);
    assert.equal(term?.cap, 'internet');
  });
});
