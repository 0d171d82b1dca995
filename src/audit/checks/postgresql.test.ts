import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../config/load.ts';
import { type HbaRecord, type PgCluster, parseHba } from '../collectors/postgresql.ts';
import type { Reach } from '../types.ts';
import { fakeExposure } from './datastores-testing.ts';
import { postgresqlCheck, sourceOf } from './postgresql.ts';

const CONF = '/etc/postgresql/16/main/postgresql.conf';
const HBA = '/etc/postgresql/16/main/pg_hba.conf';

function records(text: string): HbaRecord[] {
  return parseHba(text, HBA).items.filter((item): item is HbaRecord => 'type' in item);
}

function cluster(listen: string | undefined, hba: string): PgCluster {
  return {
    name: '16/main',
    configFile: CONF,
    settings: listen === undefined ? {} : { listen_addresses: { value: listen, file: CONF, line: 60 } },
    hbaFile: HBA,
    hba: records(hba),
    references: [],
  };
}

function run(listen: string | undefined, hba: string, options: { firewall?: Reach } = {}) {
  const exposure = fakeExposure(options);
  const findings = postgresqlCheck.run({
    facts: { postgresql: { clusters: [cluster(listen, hba)] } },
    exposure,
    config: parseConfig({}),
  });
  return { findings, exposure };
}

const DEBIAN_DEFAULT = `local   all             postgres                                peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
`;

describe('postgresql check', () => {
  it('declares every rule it emits', () => {
    assert.deepEqual(
      postgresqlCheck.rules.map((rule) => rule.id),
      [
        'postgresql-trust-remote',
        'postgresql-trust-local',
        'postgresql-cleartext-password',
        'postgresql-public-bind',
      ],
    );
  });

  it("reports nothing for Debian's default pg_hba.conf on localhost", () => {
    assert.deepEqual(run(undefined, DEBIAN_DEFAULT).findings, []);
  });

  it("is critical for trust from 0.0.0.0/0 with listen_addresses '*', quoting the pg_hba line first", () => {
    const { findings, exposure } = run('*', `${DEBIAN_DEFAULT}host all all 0.0.0.0/0 trust\n`);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.id, 'postgresql-trust-remote');
    assert.equal(findings[0]?.severity, 'critical');
    assert.deepEqual(findings[0]?.evidence[0], {
      file: HBA,
      line: 8,
      detail: 'host all all 0.0.0.0/0 trust',
    });
    assert.ok(findings[0]?.evidence.some((item) => item.file === CONF && item.line === 60));
    assert.deepEqual(exposure.calls[0]?.binds, ['0.0.0.0', '::']);
  });

  it('treats the `all` address like 0.0.0.0/0', () => {
    const { findings } = run('*', 'host all all all trust\n');
    assert.equal(findings[0]?.severity, 'critical');
  });

  it('is low while listen_addresses keeps the server local: the trust line is one edit from open', () => {
    const { findings } = run('localhost', 'host all all 0.0.0.0/0 trust\n');
    assert.equal(findings[0]?.id, 'postgresql-trust-remote');
    assert.equal(findings[0]?.severity, 'low');
  });

  it('takes an unset listen_addresses as localhost and says so', () => {
    const { findings, exposure } = run(undefined, 'host all all 0.0.0.0/0 trust\n');
    assert.equal(findings[0]?.severity, 'low');
    assert.deepEqual(exposure.calls[0]?.binds, ['127.0.0.1', '::1']);
    assert.ok(findings[0]?.evidence.some((item) => item.detail.includes("'localhost' by default")));
  });

  it('is high when trust covers only private ranges, even on a public listener', () => {
    const { findings } = run('*', 'host all all 10.0.0.0/8 trust\n');
    assert.equal(findings[0]?.severity, 'high');
  });

  it('is high when a firewall leaves only private networks able to connect', () => {
    const { findings } = run('*', 'host all all 0.0.0.0/0 trust\n', { firewall: 'private' });
    assert.equal(findings[0]?.severity, 'high');
  });

  it('reads address and netmask columns', () => {
    const { findings } = run('*', 'host all all 0.0.0.0 0.0.0.0 trust\n');
    assert.equal(findings[0]?.severity, 'critical');
    assert.match(findings[0]?.evidence[1]?.detail ?? '', /0\.0\.0\.0\/0 covers every address/);
  });

  it('skips trust lines that an earlier line already decides (first match wins)', () => {
    const { findings } = run(
      '*',
      'host all all 0.0.0.0/0 scram-sha-256\nhost all all 10.0.0.0/8 trust\nhostssl all all 0.0.0.0/0 trust\n',
    );
    assert.equal(findings.filter((finding) => finding.id === 'postgresql-trust-remote').length, 0);
  });

  it('does not let `all` shadow the replication pseudo-database', () => {
    const { findings } = run(
      '*',
      'host all all 0.0.0.0/0 scram-sha-256\nhost replication all 0.0.0.0/0 trust\n',
    );
    assert.equal(findings[0]?.id, 'postgresql-trust-remote');
    assert.equal(findings[0]?.evidence[0]?.line, 2);
  });

  it('flags trust on the Unix socket and loopback as low trust-local', () => {
    const { findings } = run(
      'localhost',
      'local all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n',
    );
    assert.deepEqual(
      findings.map((finding) => [finding.id, finding.severity, finding.evidence[0]?.line]),
      [
        ['postgresql-trust-local', 'low', 1],
        ['postgresql-trust-local', 'low', 2],
        ['postgresql-trust-local', 'low', 3],
      ],
    );
  });

  it('flags cleartext password on host lines for network clients, not on hostssl or loopback', () => {
    const { findings } = run(
      'localhost',
      'hostssl all all 0.0.0.0/0 password\nhost all all 127.0.0.1/32 password\nhost all all 10.0.0.0/8 password\n',
    );
    assert.deepEqual(
      findings.map((finding) => [finding.id, finding.evidence[0]?.line]),
      [['postgresql-cleartext-password', 3]],
    );
  });

  it('reports a public listener at medium when every network line asks for a password', () => {
    const { findings } = run('*', 'host all all 0.0.0.0/0 scram-sha-256\n');
    assert.deepEqual(
      findings.map((finding) => [finding.id, finding.severity]),
      [['postgresql-public-bind', 'medium']],
    );
    assert.deepEqual(findings[0]?.evidence[0], { file: CONF, line: 60, detail: "listen_addresses = '*'" });
  });

  it('takes an empty listen_addresses as Unix sockets only', () => {
    const { findings, exposure } = run('', 'host all all 0.0.0.0/0 trust\n');
    assert.equal(exposure.calls.length, 0);
    assert.equal(findings[0]?.severity, 'low');
  });
});

describe('pg_hba address reach', () => {
  const of = (line: string) => {
    const record = records(line)[0];
    assert.ok(record);
    return sourceOf(record).reach;
  };

  it('classifies keywords, ranges and host names', () => {
    assert.equal(of('host all all samehost trust'), 'local');
    assert.equal(of('host all all samenet trust'), 'private');
    assert.equal(of('host all all 192.168.1.0/24 trust'), 'private');
    assert.equal(of('host all all 203.0.113.0/24 trust'), 'internet');
    assert.equal(of('host all all ::/0 trust'), 'internet');
    assert.equal(of('host all all localhost trust'), 'local');
    assert.equal(of('host all all .example.com trust'), 'private');
    assert.equal(of('host all all 10.0.0.0 255.0.0.0 trust'), 'private');
  });
});
