import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configSchema } from '../../config/schema.ts';
import type { Finding } from '../../core/finding.ts';
import type { FilesFacts } from '../collectors/files.ts';
import type { RedisFacts, RedisProcess, RedisUnit } from '../collectors/redis.ts';
import { buildRedisInstance, parseRedisConfig } from '../collectors/redis-config.ts';
import type { Endpoint, Reach } from '../types.ts';
import { redisCheck } from './redis.ts';

const CONF = '/etc/redis/redis.conf';
const config = configSchema.parse({});

function instanceOf(text: string, acl?: string) {
  const parsed = parseRedisConfig(text, CONF);
  const built = buildRedisInstance(
    CONF,
    [CONF],
    parsed.directives,
    acl === undefined ? {} : { acl: { file: '/etc/redis/users.acl', text: acl } },
  );
  assert.deepEqual([...parsed.errors, ...built.errors], [], 'test configs must be valid');
  return built.instance;
}

interface Scenario {
  readonly conf?: string;
  readonly acl?: string;
  /** What the exposure reasoning answers for the Redis port. */
  readonly reach?: Reach;
  readonly version?: number;
  readonly units?: RedisUnit[];
  readonly processes?: RedisProcess[];
  readonly files?: FilesFacts;
}

function run(scenario: Scenario): { findings: Finding[]; asked: Endpoint[] } {
  const asked: Endpoint[] = [];
  const redis: RedisFacts = {
    instances: scenario.conf === undefined ? [] : [instanceOf(scenario.conf, scenario.acl)],
    units: scenario.units ?? [],
    ...(scenario.processes ? { processes: scenario.processes } : {}),
    ...(scenario.version !== undefined
      ? {
          version: {
            major: scenario.version,
            minor: 0,
            text: `Redis server v=${scenario.version}.0.15`,
            source: 'redis-server --version',
          },
        }
      : {}),
  };
  const findings = redisCheck.run({
    facts: { redis, ...(scenario.files ? { files: scenario.files } : {}) },
    exposure: {
      assess(endpoint) {
        asked.push(endpoint);
        return {
          reach: scenario.reach ?? 'local',
          reasons: [`(test) ${endpoint.service} reach decided by the test`],
        };
      },
    },
    config,
  });
  return { findings, asked };
}

const only = (findings: Finding[], id: string) => findings.filter((f) => f.id === id);

/** Incident 1: everything open. */
const OPEN = 'bind 0.0.0.0\nprotected-mode no\nport 6379\nhash-max-listpack-entries 512\n';
/** A careful setup: loopback, password, commands taken away. */
const LOCKED =
  'bind 127.0.0.1 -::1\nprotected-mode yes\nrequirepass s3cret\nrename-command CONFIG ""\nrename-command DEBUG ""\nrename-command MODULE ""\nrename-command REPLICAOF ""\nrename-command SLAVEOF ""\n';

describe('redis check', () => {
  it('declares every rule it emits, with documentation', () => {
    const ids = redisCheck.rules.map((rule) => rule.id);
    assert.deepEqual(new Set(ids).size, ids.length);
    for (const rule of redisCheck.rules) {
      assert.match(rule.id, /^redis-[a-z-]+$/);
      assert.ok(rule.why.length > 40 && rule.fix.length > 20 && rule.reads.length > 10, rule.id);
    }
    const emitted = run({ conf: OPEN, reach: 'internet', version: 6 }).findings.map((f) => f.id);
    for (const id of emitted) assert.ok(ids.includes(id), `${id} is not declared`);
  });

  it('reports nothing for a locked-down Redis', () => {
    assert.deepEqual(run({ conf: LOCKED, reach: 'local', version: 7 }).findings, []);
  });

  it('asks the exposure reasoning about the port and bind addresses from the config', () => {
    const { asked } = run({ conf: 'bind 10.0.0.5 -::1\nport 6380\n' });
    assert.deepEqual(asked, [{ service: 'redis', port: 6380, protocol: 'tcp', binds: ['10.0.0.5', '::1'] }]);
    assert.deepEqual(
      run({ conf: 'port 6379\n' }).asked[0]?.binds,
      [],
      'no bind directive: the sockets decide',
    );
  });
});

describe('redis-no-auth', () => {
  it('is critical for incident 1: 0.0.0.0, protected-mode no, no password, reachable from the internet', () => {
    const [finding] = only(run({ conf: OPEN, reach: 'internet', version: 7 }).findings, 'redis-no-auth');
    assert.equal(finding?.severity, 'critical');
    assert.equal(finding?.evidence[0]?.file, CONF);
    assert.ok(finding?.evidence.some((e) => e.line === 2 && /protected-mode no/.test(e.detail)));
    assert.ok(
      finding?.evidence.some((e) => /\(test\) redis reach/.test(e.detail)),
      'carries the exposure reasons',
    );
  });

  it('is high when only private networks can reach it', () => {
    assert.equal(
      only(run({ conf: OPEN, reach: 'private', version: 7 }).findings, 'redis-no-auth')[0]?.severity,
      'high',
    );
  });

  it('is low when protected mode refuses remote clients (Redis 7: whatever bind says)', () => {
    const conf = 'bind 0.0.0.0\nprotected-mode yes\n';
    const [finding] = only(run({ conf, reach: 'internet', version: 7 }).findings, 'redis-no-auth');
    assert.equal(finding?.severity, 'low');
    assert.match(finding?.title ?? '', /local clients only/);
  });

  it('before 7.0, knows protected mode does nothing once a bind directive is set', () => {
    const conf = 'bind 0.0.0.0\nprotected-mode yes\n';
    const [finding] = only(run({ conf, reach: 'internet', version: 6 }).findings, 'redis-no-auth');
    assert.equal(finding?.severity, 'critical');
    assert.ok(finding?.evidence.some((e) => e.line === 2 && /no effect here/.test(e.detail)));
  });

  it('before 7.0, protected mode still guards a Redis with no bind directive', () => {
    const [finding] = only(
      run({ conf: 'protected-mode yes\n', reach: 'internet', version: 6 }).findings,
      'redis-no-auth',
    );
    assert.equal(finding?.severity, 'low');
  });

  it('assumes the pre-7.0 rule when the version is unknown, and says so', () => {
    const [finding] = only(run({ conf: 'bind 0.0.0.0\n', reach: 'internet' }).findings, 'redis-no-auth');
    assert.equal(finding?.severity, 'critical');
    assert.ok(finding?.evidence.some((e) => /version unknown/.test(e.detail)));
  });

  it('takes the version from the config when it shows one (listpack directives mean 7.0+)', () => {
    const conf = 'bind 0.0.0.0\nhash-max-listpack-entries 512\n';
    assert.equal(only(run({ conf, reach: 'internet' }).findings, 'redis-no-auth')[0]?.severity, 'low');
  });

  it('is silent with requirepass, with the default user off, and with a password in the aclfile', () => {
    assert.deepEqual(
      only(run({ conf: `${OPEN}requirepass x\n`, reach: 'internet' }).findings, 'redis-no-auth'),
      [],
    );
    assert.deepEqual(
      only(run({ conf: `${OPEN}user default off\n`, reach: 'internet' }).findings, 'redis-no-auth'),
      [],
    );
    const acl = 'user default on >pw ~* +@all\n';
    assert.deepEqual(
      only(
        run({ conf: `${OPEN}aclfile /etc/redis/users.acl\n`, acl, reach: 'internet' }).findings,
        'redis-no-auth',
      ),
      [],
    );
  });

  it('is not fooled by requirepass when an aclfile without the default user replaces it', () => {
    const conf = `${OPEN}requirepass x\naclfile /etc/redis/users.acl\n`;
    const [finding] = only(
      run({ conf, acl: 'user app on >pw +@all\n', reach: 'internet' }).findings,
      'redis-no-auth',
    );
    assert.equal(finding?.evidence[0]?.file, '/etc/redis/users.acl');
    assert.ok(finding?.evidence.some((e) => e.line === 5 && /is ignored/.test(e.detail)));
  });
});

describe('redis-protected-mode-off', () => {
  it('flags protected-mode no without a password, at its line, by reach', () => {
    const [finding] = only(
      run({ conf: OPEN, reach: 'internet', version: 7 }).findings,
      'redis-protected-mode-off',
    );
    assert.deepEqual([finding?.severity, finding?.evidence[0]?.line], ['high', 2]);
    const local = only(run({ conf: OPEN, reach: 'local', version: 7 }).findings, 'redis-protected-mode-off');
    assert.equal(local[0]?.severity, 'low');
  });

  it('is silent when a password makes protected mode moot, or protected mode is on', () => {
    assert.deepEqual(
      only(run({ conf: `${OPEN}requirepass x\n`, reach: 'internet' }).findings, 'redis-protected-mode-off'),
      [],
    );
    assert.deepEqual(
      only(run({ conf: 'protected-mode yes\n', reach: 'internet' }).findings, 'redis-protected-mode-off'),
      [],
    );
  });
});

describe('redis-public-bind', () => {
  it('is critical when reachable from the internet without a password, at the bind line', () => {
    const [finding] = only(run({ conf: OPEN, reach: 'internet', version: 7 }).findings, 'redis-public-bind');
    assert.deepEqual([finding?.severity, finding?.evidence[0]?.line], ['critical', 1]);
  });

  it('scales with reach and authentication', () => {
    const severity = (conf: string, reach: Reach) =>
      only(run({ conf, reach, version: 7 }).findings, 'redis-public-bind')[0]?.severity;
    assert.equal(severity(`${OPEN}requirepass x\n`, 'internet'), 'high');
    assert.equal(severity('bind 0.0.0.0\nprotected-mode yes\n', 'internet'), 'medium');
    assert.equal(severity(OPEN, 'private'), 'high');
    assert.equal(severity(`${OPEN}requirepass x\n`, 'private'), 'low');
  });

  it('is silent when only local clients can reach it, or when there is no TCP port', () => {
    assert.deepEqual(only(run({ conf: OPEN, reach: 'local' }).findings, 'redis-public-bind'), []);
    const { findings, asked } = run({ conf: 'bind 0.0.0.0\nport 0\n', reach: 'internet' });
    assert.deepEqual(only(findings, 'redis-public-bind'), []);
    assert.deepEqual(asked, []);
  });

  it('says when no bind directive leaves every interface open', () => {
    const [finding] = only(
      run({ conf: 'port 6379\n', reach: 'internet', version: 7 }).findings,
      'redis-public-bind',
    );
    assert.match(finding?.evidence[0]?.detail ?? '', /no bind directive/);
  });
});

describe('redis-dangerous-commands', () => {
  it('lists CONFIG, REPLICAOF and SLAVEOF open on Redis 7 defaults, critical from the internet', () => {
    const [finding] = only(
      run({ conf: OPEN, reach: 'internet', version: 7 }).findings,
      'redis-dangerous-commands',
    );
    assert.equal(finding?.severity, 'critical');
    const named = finding?.evidence.map((e) => /^(\w+) is not renamed/.exec(e.detail)?.[1]).filter(Boolean);
    assert.deepEqual(named, ['CONFIG', 'REPLICAOF', 'SLAVEOF'], 'DEBUG and MODULE are off by default in 7.0');
  });

  it('adds DEBUG and MODULE before 7.0, and when enable-*-command yes opens them', () => {
    const old = only(run({ conf: OPEN, reach: 'local', version: 6 }).findings, 'redis-dangerous-commands')[0];
    assert.ok(old?.evidence.some((e) => /^DEBUG/.test(e.detail)));
    assert.ok(old?.evidence.some((e) => /^MODULE/.test(e.detail)));
    const conf = `${OPEN}enable-debug-command yes\nenable-protected-configs yes\n`;
    const opened = only(run({ conf, reach: 'local', version: 7 }).findings, 'redis-dangerous-commands')[0];
    assert.deepEqual(
      opened?.evidence.slice(0, 2).map((e) => e.line),
      [6, 5],
      'the lines that opened them come first',
    );
    assert.ok(!opened?.evidence.some((e) => /^MODULE/.test(e.detail)));
  });

  it('is silent when every one is renamed away or the ACL denies them', () => {
    assert.deepEqual(
      only(run({ conf: LOCKED, reach: 'internet', version: 6 }).findings, 'redis-dangerous-commands'),
      [],
    );
    const conf = `${OPEN}user default on >pw ~* &* +@all -@dangerous\n`;
    assert.deepEqual(
      only(run({ conf, reach: 'internet', version: 6 }).findings, 'redis-dangerous-commands'),
      [],
    );
  });

  it('still flags SLAVEOF when only REPLICAOF was renamed', () => {
    const conf = `${LOCKED.replace('rename-command SLAVEOF ""\n', '')}`;
    const [finding] = only(run({ conf, reach: 'local', version: 7 }).findings, 'redis-dangerous-commands');
    assert.equal(finding?.severity, 'low', 'behind a password');
    assert.match(finding?.evidence[0]?.detail ?? '', /^SLAVEOF/);
  });

  it('is silent when the default user is off', () => {
    assert.deepEqual(
      only(
        run({ conf: `${OPEN}user default off\n`, reach: 'internet' }).findings,
        'redis-dangerous-commands',
      ),
      [],
    );
  });
});

describe('redis-runs-as-root', () => {
  const unit = (user: string | undefined): RedisUnit => ({
    name: 'redis.service',
    file: '/etc/systemd/system/redis.service',
    user: user ?? 'root',
    dynamicUser: false,
    userSource:
      user === undefined
        ? {
            file: '/etc/systemd/system/redis.service',
            text: 'no User= line: systemd runs the service as root',
          }
        : { file: '/etc/systemd/system/redis.service', line: 7, text: `User=${user}` },
    execStart: {
      file: '/etc/systemd/system/redis.service',
      line: 6,
      text: 'ExecStart=/usr/local/bin/redis-server /etc/redis/redis.conf',
      args: [],
    },
  });
  const process = (uid: number): RedisProcess => ({
    pid: 812,
    uid,
    cmdline: 'redis-server 127.0.0.1:6379',
    source: { file: '/proc/812/status', line: 9, text: `Uid: ${uid} ${uid} ${uid} ${uid}` },
  });

  it('flags a unit without User=', () => {
    const [finding] = only(run({ units: [unit(undefined)] }).findings, 'redis-runs-as-root');
    assert.equal(finding?.evidence[0]?.file, '/etc/systemd/system/redis.service');
    assert.equal(finding?.evidence[0]?.line, undefined);
  });

  it('is silent for User=redis', () => {
    assert.deepEqual(only(run({ units: [unit('redis')] }).findings, 'redis-runs-as-root'), []);
  });

  it('on the live host believes the running process over the unit', () => {
    const fromProcess = run({ units: [unit('redis')], processes: [process(0)] }).findings;
    assert.deepEqual(
      only(fromProcess, 'redis-runs-as-root').map((f) => [f.evidence[0]?.file, f.evidence[0]?.line]),
      [['/proc/812/status', 9]],
    );
    assert.deepEqual(
      only(run({ units: [unit(undefined)], processes: [process(112)] }).findings, 'redis-runs-as-root'),
      [],
    );
  });
});

describe('redis-planted-rdb', () => {
  const files = (magic: string | undefined): FilesFacts => ({
    files: [
      {
        path: '/var/spool/cron/crontabs/root',
        kind: 'cron',
        user: 'root',
        head: magic ? `${magic}\\xfa\\x09redis-ver` : '# m h dom mon dow',
        ...(magic ? { rdbMagic: magic } : {}),
      },
    ],
    truncated: [],
  });

  it('is critical and names the planted file, even without any Redis config', () => {
    const [finding] = run({ files: files('REDIS0009') }).findings;
    assert.equal(finding?.id, 'redis-planted-rdb');
    assert.equal(finding?.severity, 'critical');
    assert.equal(finding?.evidence[0]?.file, '/var/spool/cron/crontabs/root');
    assert.match(finding?.evidence[0]?.detail ?? '', /REDIS0009.*crontab of root/);
  });

  it('is silent for an ordinary crontab', () => {
    assert.deepEqual(run({ files: files(undefined) }).findings, []);
  });
});

describe('redis-dir-suspicious', () => {
  it('flags dir pointed at a cron directory and dbfilename named like a crontab', () => {
    const conf = 'dir /var/spool/cron/crontabs\ndbfilename root\n';
    const [finding] = only(run({ conf }).findings, 'redis-dir-suspicious');
    assert.deepEqual(
      finding?.evidence.map((e) => e.line),
      [1, 2],
    );
  });

  it('flags a web root and an .ssh directory', () => {
    assert.equal(only(run({ conf: 'dir /var/www/html\n' }).findings, 'redis-dir-suspicious').length, 1);
    assert.equal(only(run({ conf: 'dir /home/deploy/.ssh\n' }).findings, 'redis-dir-suspicious').length, 1);
  });

  it('flags a running server whose working directory was moved there', () => {
    const processes: RedisProcess[] = [
      {
        pid: 812,
        uid: 112,
        cmdline: 'redis-server *:6379',
        cwd: '/var/spool/cron',
        source: { file: '/proc/812/status', line: 9, text: 'Uid: 112 112 112 112' },
      },
    ];
    const [finding] = only(run({ processes }).findings, 'redis-dir-suspicious');
    assert.equal(finding?.evidence[0]?.file, '/proc/812/cwd');
  });

  it('is silent for the usual data directory', () => {
    assert.deepEqual(
      only(run({ conf: 'dir /var/lib/redis\ndbfilename dump.rdb\n' }).findings, 'redis-dir-suspicious'),
      [],
    );
  });
});

describe('redis-acl-user-nopass', () => {
  it('flags an enabled user with nopass, at its line', () => {
    const [finding] = only(
      run({ conf: 'requirepass x\nuser worker on nopass ~jobs:* +@all\n' }).findings,
      'redis-acl-user-nopass',
    );
    assert.equal(finding?.evidence[0]?.line, 2);
  });

  it('is silent for users with passwords and for disabled ones', () => {
    const conf = 'requirepass x\nuser a on >pw +@all\nuser b off nopass +@all\n';
    assert.deepEqual(only(run({ conf }).findings, 'redis-acl-user-nopass'), []);
  });
});
