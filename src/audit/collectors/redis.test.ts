import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { configSchema } from '../../config/schema.ts';
import { createHost } from '../host.ts';
import { parseUnit, redisCollector } from './redis.ts';

const config = configSchema.parse({});
let root = '';

function put(hostPath: string, text: string) {
  const real = path.join(root, hostPath);
  mkdirSync(path.dirname(real), { recursive: true });
  writeFileSync(real, text);
}

function link(hostPath: string, target: string) {
  const real = path.join(root, hostPath);
  mkdirSync(path.dirname(real), { recursive: true });
  symlinkSync(target, real);
}

async function collect() {
  return redisCollector.collect({ host: createHost({ root }), config, composeFiles: [] });
}

const DEBIAN_UNIT = `[Unit]
Description=Advanced key-value store

[Service]
Type=notify
ExecStart=/usr/bin/redis-server /etc/redis/redis.conf --supervised systemd --daemonize no
User=redis
Group=redis

[Install]
WantedBy=multi-user.target
Alias=redis.service
`;

beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), 'moat-redis-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('redis collector', () => {
  it('says so in skipped when there is no Redis at all', async () => {
    put('/etc/hostname', 'web1\n');
    const result = await collect();
    assert.equal(result.facts, undefined);
    assert.match(result.skipped?.[0]?.reason ?? '', /no Redis found/);
  });

  it('reads /etc/redis/redis.conf with host paths and line numbers', async () => {
    put('/etc/redis/redis.conf', '# Redis\nbind 0.0.0.0\nprotected-mode no\nport 6379\n');
    const result = await collect();
    const instance = result.facts?.instances[0];
    assert.equal(instance?.configFile, '/etc/redis/redis.conf');
    assert.deepEqual(instance?.bind?.addresses, ['0.0.0.0']);
    assert.equal(instance?.protectedMode.line, 3);
    assert.deepEqual(result.findings, []);
  });

  it('finds configs in the other usual places, and one instance per file in /etc/redis', async () => {
    put('/usr/local/etc/redis/redis.conf', 'port 6379\n');
    put('/etc/redis/6380.conf', 'port 6380\n');
    put('/etc/redis/sentinel.conf', 'port 26379\nsentinel monitor m 10.0.0.1 6379 2\n');
    const result = await collect();
    assert.deepEqual(result.facts?.instances.map((i) => [i.configFile, i.port.value]).sort(), [
      ['/etc/redis/6380.conf', 6380],
      ['/usr/local/etc/redis/redis.conf', 6379],
    ]);
  });

  it('follows include (relative and glob) in order, and the later line wins', async () => {
    put(
      '/etc/redis/redis.conf',
      'include conf.d/*.conf\nport 6379\nprotected-mode yes\ninclude /etc/redis/local.conf\n',
    );
    put('/etc/redis/conf.d/10-net.conf', 'bind 10.0.0.5\nport 7000\n');
    put('/etc/redis/local.conf', 'protected-mode no\n');
    const result = await collect();
    assert.equal(result.facts?.instances.length, 1, 'an included file is not an instance of its own');
    const instance = result.facts?.instances[0];
    assert.equal(instance?.port.value, 6379);
    assert.deepEqual(instance?.bind?.addresses, ['10.0.0.5']);
    assert.equal(instance?.bind?.file, '/etc/redis/conf.d/10-net.conf');
    assert.equal(instance?.protectedMode.value, false);
    assert.equal(instance?.protectedMode.file, '/etc/redis/local.conf');
    assert.deepEqual(instance?.files, [
      '/etc/redis/redis.conf',
      '/etc/redis/conf.d/10-net.conf',
      '/etc/redis/local.conf',
    ]);
  });

  it('reports an include of a missing file and an include loop as unparsable, and goes on', async () => {
    put(
      '/etc/redis/redis.conf',
      'include /etc/redis/missing.conf\ninclude /etc/redis/redis.conf\nport 6380\n',
    );
    const result = await collect();
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.file, f.evidence[0]?.line]),
      [
        ['unparsable-file', '/etc/redis/redis.conf', 1],
        ['unparsable-file', '/etc/redis/redis.conf', 2],
      ],
    );
    assert.equal(result.facts?.instances[0]?.port.value, 6380);
  });

  it('turns bad syntax into a finding that names file and line', async () => {
    put('/etc/redis/redis.conf', 'port 6379\nrequirepass "unterminated\nprotected-mode perhaps\n');
    const result = await collect();
    assert.deepEqual(
      result.findings?.map((f) => [f.id, f.evidence[0]?.line]),
      [
        ['unparsable-file', 2],
        ['unparsable-file', 3],
      ],
    );
    assert.doesNotMatch(JSON.stringify(result), /unterminated/, 'never echoes a password');
  });

  it('reads the aclfile named in redis.conf', async () => {
    put('/etc/redis/redis.conf', 'aclfile /etc/redis/users.acl\n');
    put('/etc/redis/users.acl', 'user default off\nuser app on >pw ~* +@all\n');
    const instance = (await collect()).facts?.instances[0];
    assert.equal(instance?.defaultUser.enabled, false);
    assert.equal(instance?.defaultUser.file, '/etc/redis/users.acl');
    assert.ok(instance?.files.includes('/etc/redis/users.acl'));
  });

  it('reports an aclfile that does not exist (Redis would not start)', async () => {
    put('/etc/redis/redis.conf', 'port 6379\naclfile /etc/redis/users.acl\n');
    const result = await collect();
    assert.equal(result.findings?.[0]?.evidence[0]?.line, 2);
    assert.match(result.findings?.[0]?.evidence[0]?.detail ?? '', /users\.acl does not exist/);
  });

  it('reads who the systemd unit runs as, with drop-ins overriding the unit', async () => {
    put('/lib/systemd/system/redis-server.service', DEBIAN_UNIT);
    put('/etc/systemd/system/redis-server.service.d/override.conf', '[Service]\nUser=root\n');
    link('/etc/systemd/system/redis.service', '/lib/systemd/system/redis-server.service');
    const result = await collect();
    assert.deepEqual(
      result.facts?.units.map((u) => [u.name, u.user, u.userSource.file, u.userSource.line]),
      [['redis-server.service', 'root', '/etc/systemd/system/redis-server.service.d/override.conf', 2]],
    );
    assert.match(result.skipped?.[0]?.reason ?? '', /no config file was found/);
  });

  it('takes a unit in /etc over the same name in /lib, and drops a masked unit', async () => {
    put('/lib/systemd/system/redis-server.service', DEBIAN_UNIT);
    put('/etc/systemd/system/redis-server.service', DEBIAN_UNIT.replace('User=redis\n', ''));
    put('/lib/systemd/system/valkey-server.service', DEBIAN_UNIT.replace('redis-server', 'valkey-server'));
    link('/etc/systemd/system/valkey-server.service', '/dev/null');
    const units = (await collect()).facts?.units ?? [];
    assert.deepEqual(
      units.map((u) => [u.file, u.user]),
      [['/etc/systemd/system/redis-server.service', 'root']],
    );
  });

  it('finds the config named in a unit’s ExecStart and applies the arguments after it', async () => {
    put('/opt/redis/conf/main.conf', 'protected-mode yes\n');
    put(
      '/etc/systemd/system/redis.service',
      '[Service]\nExecStart=/opt/redis/bin/redis-server /opt/redis/conf/main.conf --protected-mode no\nUser=redis\n',
    );
    const instance = (await collect()).facts?.instances[0];
    assert.equal(instance?.configFile, '/opt/redis/conf/main.conf');
    assert.equal(instance?.protectedMode.value, false);
    assert.equal(instance?.protectedMode.file, '/etc/systemd/system/redis.service');
    assert.equal(instance?.protectedMode.line, 2);
  });

  it('never reads processes or runs commands under --root', async () => {
    put('/etc/redis/redis.conf', 'port 6379\n');
    put('/proc/1234/comm', 'redis-server\n');
    put('/proc/1234/status', 'Name:\tredis-server\nUid:\t0\t0\t0\t0\n');
    const facts = (await collect()).facts;
    assert.equal(facts?.processes, undefined);
    assert.equal(facts?.version, undefined);
  });
});

describe('parseUnit', () => {
  it('treats a unit without User= as root, and an empty User= as a reset', () => {
    const unit = parseUnit('redis.service', [
      {
        file: '/etc/systemd/system/redis.service',
        text: '[Service]\nUser=redis\nExecStart=/usr/bin/redis-server\n',
      },
      { file: '/etc/systemd/system/redis.service.d/x.conf', text: '[Service]\nUser=\n' },
    ]);
    assert.equal(unit?.user, 'root');
    assert.equal(unit?.userSource.line, undefined);
  });

  it('ignores User= outside [Service] and reads continued ExecStart lines', () => {
    const unit = parseUnit('redis.service', [
      {
        file: '/x.service',
        text: '[Unit]\nUser=nobody\n[Service]\nExecStart=/usr/bin/redis-server \\\n  /etc/redis/a.conf --port 7000\nDynamicUser=yes\n',
      },
    ]);
    assert.equal(unit?.configFile, '/etc/redis/a.conf');
    assert.deepEqual(unit?.execStart.args, ['--port', '7000']);
    assert.equal(unit?.dynamicUser, true);
    assert.notEqual(unit?.user, 'root');
  });

  it('is not a Redis unit without ExecStart', () => {
    assert.equal(parseUnit('redis.service', [{ file: '/x', text: '[Service]\nUser=redis\n' }]), undefined);
  });
});
