import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { observationOf, parseClientList, parseInfo, splitRedisAddr } from './redis-info.ts';

// Replies as Redis 7.0 sends them (CRLF line ends).
const REPLICATION_REPLICA = [
  '# Replication',
  'role:slave',
  'master_host:198.51.100.9',
  'master_port:24798',
  'master_link_status:down',
  'master_last_io_seconds_ago:-1',
  'master_link_down_since_seconds:-1',
  'connected_slaves:0',
  '',
].join('\r\n');
const REPLICATION_MASTER = [
  '# Replication',
  'role:master',
  'connected_slaves:2',
  'slave0:ip=10.0.0.7,port=6379,state=online,offset=1234,lag=0',
  'slave1:ip=2001:db8::7,port=6380,state=wait_bgsave,offset=0,lag=0',
  'master_failover_state:no-failover',
  '',
].join('\r\n');
const PERSISTENCE =
  'rdb_changes_since_last_save:0\r\nrdb_last_save_time:1795439274\r\nrdb_last_bgsave_status:err\r\nrdb_saves:4\r\n';
const MEMORY = 'used_memory:1087520\r\nmaxmemory:0\r\n';
const SERVER = 'redis_version:7.0.15\r\nrun_id:abc\r\n';
const CLIENTS = [
  'id=4 addr=127.0.0.1:34218 laddr=127.0.0.1:16399 fd=7 name=moat-guard age=0 idle=0 flags=N db=0 cmd=client|list user=default resp=2',
  'id=15 addr=203.0.113.7:51234 laddr=10.0.0.1:6379 fd=8 name= age=12 idle=3 flags=N db=0 cmd=config|set user=default resp=2',
  'id=16 addr=::1:40000 laddr=::1:6379 fd=9 name= age=1 idle=0 flags=S db=0 cmd=psync user=repl resp=2',
  'id=17 addr=/run/redis.sock:0 laddr=/run/redis.sock fd=10 name= age=1 idle=0 flags=U db=0 cmd=ping user=default resp=2',
  'garbage without an id',
  '',
].join('\n');

describe('Redis replies', () => {
  it('INFO: key:value lines, headers and blanks skipped', () => {
    const info = parseInfo(REPLICATION_REPLICA);
    assert.equal(info.get('role'), 'slave');
    assert.equal(info.get('master_port'), '24798');
    assert.equal(info.has('# Replication'), false);
  });

  it('CLIENT LIST: ids, addresses (v4, bare v6, unix socket), last command and idle time', () => {
    const clients = parseClientList(CLIENTS);
    assert.deepEqual(
      clients.map((c) => [c.id, c.ip, c.port, c.cmd, c.idle, c.flags]),
      [
        ['4', '127.0.0.1', 34_218, 'client|list', 0, 'N'],
        ['15', '203.0.113.7', 51_234, 'config|set', 3, 'N'],
        ['16', '::1', 40_000, 'psync', 0, 'S'],
        ['17', '/run/redis.sock', 0, 'ping', 0, 'U'],
      ],
    );
  });

  it('addresses as Redis prints them', () => {
    assert.deepEqual(splitRedisAddr('2001:db8::7:6379'), { ip: '2001:db8::7', port: 6379 });
    assert.deepEqual(splitRedisAddr('[2001:db8::7]:6379'), { ip: '2001:db8::7', port: 6379 });
    assert.deepEqual(splitRedisAddr('::ffff:203.0.113.7:80'), { ip: '203.0.113.7', port: 80 });
    assert.equal(splitRedisAddr('nonsense'), undefined);
  });

  it('an observation of a hijacked replica', () => {
    const observation = observationOf({
      at: 5,
      info: [REPLICATION_REPLICA, PERSISTENCE, MEMORY, SERVER],
      config: [
        ['dir', '/var/spool/cron'],
        ['dbfilename', 'root'],
      ],
      clientList: CLIENTS,
    });
    assert.equal(observation.role, 'replica');
    assert.equal(observation.masterHost, '198.51.100.9');
    assert.equal(observation.masterPort, 24_798);
    assert.equal(observation.masterLinkUp, false);
    assert.equal(observation.masterLinkDownSeconds, undefined, '-1 means never connected');
    assert.equal(observation.dir, '/var/spool/cron');
    assert.equal(observation.dbfilename, 'root');
    assert.equal(observation.bgsaveOk, false);
    assert.equal(observation.saveMark, 4);
    assert.equal(observation.maxmemory, 0);
    assert.equal(observation.version, '7.0.15');
    assert.equal(observation.clients?.length, 4);
  });

  it('a master with its replicas; no CONFIG or CLIENT LIST allowed', () => {
    const observation = observationOf({ at: 0, info: [REPLICATION_MASTER] });
    assert.equal(observation.role, 'master');
    assert.equal(observation.masterHost, undefined);
    assert.deepEqual(observation.replicas, [
      { ip: '10.0.0.7', port: 6379, state: 'online' },
      { ip: '2001:db8::7', port: 6380, state: 'wait_bgsave' },
    ]);
    assert.equal(observation.dir, undefined);
    assert.equal(observation.clients, undefined);
  });
});
