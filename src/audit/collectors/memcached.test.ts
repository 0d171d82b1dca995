import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { contextFor, removeTrees, treeHost } from './datastores-testing.ts';
import { debianConfTokens, memcachedCollector, parseOptions, parseVersion } from './memcached.ts';

after(removeTrees);

/** Debian's /etc/memcached.conf (memcached 1.6.18-1), trimmed. */
const DEBIAN = `# memcached default config file
# 2003 - Jay Bonci <jaybonci@debian.org>
-d

# Log memcached's output to /var/log/memcached
logfile /var/log/memcached.log

# Start with a cap of 64 megs of memory. It's reasonable, and the daemon default
-m 64

# Default connection port is 11211
-p 11211

# Run the daemon as root. The start-memcached will default to running as root if no
# -u command is present in this config file
-u memcache

# Specify which IP address to listen on. The default is to listen on all IP addresses
-l 127.0.0.1

# Use a pidfile
-P /var/run/memcached/memcached.pid
`;

/** Debian's unit. */
const DEBIAN_UNIT = `[Unit]
Description=memcached daemon
After=network.target
Documentation=man:memcached(1)

[Service]
ExecStart=/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf
PrivateTmp=true
Restart=always

[Install]
WantedBy=multi-user.target
`;

/** Fedora/RHEL's /etc/sysconfig/memcached and unit. */
const SYSCONFIG = `PORT="11211"
USER="memcached"
MAXCONN="1024"
CACHESIZE="64"
OPTIONS="-l 127.0.0.1,::1"
`;
const RHEL_UNIT = `[Unit]
Description=memcached daemon
Before=httpd.service
After=network.target

[Service]
EnvironmentFile=/etc/sysconfig/memcached
ExecStart=/usr/bin/memcached -p \${PORT} -u \${USER} -m \${CACHESIZE} -c \${MAXCONN} $OPTIONS

[Install]
WantedBy=multi-user.target
`;

async function collect(files: Record<string, string>) {
  return memcachedCollector.collect(contextFor(await treeHost(files)));
}

function flags(result: Awaited<ReturnType<typeof collect>>, index = 0) {
  return result.facts?.instances[index]?.options.map((option) => [
    option.flag,
    option.value ?? '',
    option.line ?? 0,
  ]);
}

describe('memcached collector', () => {
  it("reads Debian's memcached.conf like systemd-memcached-wrapper: no -d, no logfile, lines kept", async () => {
    const result = await collect({ '/etc/memcached.conf': DEBIAN });
    assert.equal(result.facts?.instances[0]?.source, '/etc/memcached.conf');
    assert.deepEqual(flags(result), [
      ['m', '64', 9],
      ['p', '11211', 12],
      ['u', 'memcache', 16],
      ['l', '127.0.0.1', 19],
      ['P', '/var/run/memcached/memcached.pid', 22],
    ]);
  });

  it('follows the Debian unit to the conf file it names', async () => {
    const result = await collect({
      '/lib/systemd/system/memcached.service': DEBIAN_UNIT,
      '/etc/memcached.conf': '-l 0.0.0.0\n',
    });
    assert.match(result.facts?.instances[0]?.source ?? '', /read by systemd-memcached-wrapper/);
    assert.deepEqual(flags(result), [['l', '0.0.0.0', 1]]);
  });

  it('expands the RHEL unit with /etc/sysconfig/memcached, each option on its sysconfig line', async () => {
    const result = await collect({
      '/usr/lib/systemd/system/memcached.service': RHEL_UNIT,
      '/etc/sysconfig/memcached': SYSCONFIG,
    });
    assert.deepEqual(flags(result), [
      ['p', '11211', 1],
      ['u', 'memcached', 2],
      ['m', '64', 4],
      ['c', '1024', 3],
      ['l', '127.0.0.1,::1', 5],
    ]);
    assert.equal(result.facts?.instances[0]?.options.at(-1)?.file, '/etc/sysconfig/memcached');
  });

  it('uses the packaged RHEL command line when only /etc/sysconfig/memcached is in the tree', async () => {
    const result = await collect({ '/etc/sysconfig/memcached': 'PORT="11212"\nOPTIONS="-U 0 -S"\n' });
    // USER, CACHESIZE and MAXCONN are unset: systemd passes them as empty words.
    assert.deepEqual(flags(result), [
      ['p', '11212', 1],
      ['u', '', 0],
      ['m', '', 0],
      ['c', '', 0],
      ['U', '0', 2],
      ['S', '', 2],
    ]);
  });

  it('applies drop-ins in name order: an empty ExecStart= resets, Environment= overrides', async () => {
    const result = await collect({
      '/usr/lib/systemd/system/memcached.service': RHEL_UNIT,
      '/etc/sysconfig/memcached': SYSCONFIG,
      '/etc/systemd/system/memcached.service.d/override.conf':
        '[Service]\nExecStart=\nExecStart=/usr/bin/memcached --listen=0.0.0.0 --port 11311 $OPTIONS\nEnvironment="OPTIONS=-U 11311 -vv"\n',
    });
    assert.deepEqual(flags(result), [
      ['l', '0.0.0.0', 3],
      ['p', '11311', 3],
      ['U', '11311', 4],
      ['v', '', 4],
      ['v', '', 4],
    ]);
    assert.equal(
      result.facts?.instances[0]?.options[0]?.file,
      '/etc/systemd/system/memcached.service.d/override.conf',
    );
  });

  it('reads per-instance files for memcached@.service', async () => {
    const result = await collect({
      '/etc/memcached.conf': DEBIAN,
      '/etc/memcached_sessions.conf': '-l 10.0.0.4\n-p 11212\n',
    });
    assert.deepEqual(
      result.facts?.instances.map((instance) => instance.name),
      ['memcached', 'memcached@sessions'],
    );
    assert.deepEqual(flags(result, 1), [
      ['l', '10.0.0.4', 1],
      ['p', '11212', 2],
    ]);
  });

  it('reports a sysconfig line that is not NAME=value as unparsable and keeps the rest', async () => {
    const result = await collect({ '/etc/sysconfig/memcached': 'PORT="11211"\nOPTIONS="-l 0.0.0.0\n' });
    assert.equal(result.findings?.[0]?.id, 'unparsable-file');
    assert.equal(result.findings?.[0]?.evidence[0]?.line, 2);
    assert.deepEqual(flags(result)?.[0], ['p', '11211', 1]);
    assert.ok(!flags(result)?.some(([flag]) => flag === 'l'));
  });

  it('says so in skipped when memcached is not configured here', async () => {
    const result = await collect({});
    assert.equal(result.facts, undefined);
    assert.equal(result.skipped?.[0]?.check, 'memcached');
  });
});

describe('memcached option syntax', () => {
  const parse = (line: string) =>
    parseOptions(debianConfTokens(line, '/etc/memcached.conf')).map((option) => [
      option.flag,
      option.value ?? '',
    ]);

  it('splits -lVALUE, clustered flags and long options', () => {
    assert.deepEqual(parse('-l127.0.0.1'), [['l', '127.0.0.1']]);
    assert.deepEqual(parse('-vvS'), [
      ['v', ''],
      ['v', ''],
      ['S', ''],
    ]);
    assert.deepEqual(parse('--enable-sasl'), [['S', '']]);
    assert.deepEqual(parse('--udp-port=11211'), [['U', '11211']]);
    // The wrapper drops every line that starts with -d or -h, whatever follows.
    assert.deepEqual(parse('-dU 0'), []);
  });

  it('drops comments, including after an option', () => {
    assert.deepEqual(parse('-l 127.0.0.1 # loopback only'), [['l', '127.0.0.1']]);
  });

  it('reads the version out of memcached -V', () => {
    assert.deepEqual(parseVersion('memcached 1.4.15\n'), { text: '1.4.15', major: 1, minor: 4, patch: 15 });
    assert.equal(parseVersion('command not found'), undefined);
  });
});
