import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRedisDetector, type RedisDetectorOptions, type RedisIncident } from './redis-detect.ts';
import type { RedisClient, RedisObservation } from './redis-info.ts';

const OPTIONS: RedisDetectorOptions = {
  instance: 'cache',
  address: '10.0.0.1:6379',
  expectedMasters: [],
  allowedClients: ['127.0.0.0/8', '10.0.0.0/24'],
  allowedReplicas: ['10.0.0.0/24'],
  dangerousCommands: ['replicaof', 'slaveof', 'config|set', 'module|load', 'debug', 'flushall'],
  unreachableAfter: 3,
  masterLinkDownAfterMs: 10_000,
  memoryAlertAbove: 90,
  intervalMs: 2000,
};

const master = (at: number, extra: Partial<RedisObservation> = {}): RedisObservation => ({
  at,
  role: 'master',
  replicas: [],
  dir: '/var/lib/redis',
  dbfilename: 'dump.rdb',
  bgsaveOk: true,
  saveMark: 0,
  runId: 'r1',
  clients: [client('1', '127.0.0.1', 'client|list')],
  ...extra,
});

function client(id: string, ip: string, cmd: string, idle = 0): RedisClient {
  return {
    id,
    addr: `${ip}:5000${id}`,
    ip,
    port: 50_000,
    cmd,
    idle,
    age: 1,
    flags: 'N',
    name: '',
    user: 'default',
  };
}

const kinds = (incidents: readonly RedisIncident[]) =>
  incidents.flatMap((i) => i.findings.map((f) => f.kind));

describe('the Redis detector', () => {
  it('takes the first observation as the baseline and reports nothing on a healthy instance', () => {
    const detector = createRedisDetector(OPTIONS);
    assert.deepEqual(detector.observe(master(0)), []);
    assert.deepEqual(detector.baseline?.dir, '/var/lib/redis');
    assert.deepEqual(detector.observe(master(2000)), []);
  });

  it('reports a REPLICAOF hijack from an outside client as one incident keyed by the attacker, with the repairs', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.setOwnClientId('1');
    detector.observe(master(0));
    const incidents = detector.observe(
      master(2000, {
        role: 'replica',
        masterHost: '198.51.100.9',
        masterPort: 24_798,
        masterLinkUp: false,
        clients: [client('1', '127.0.0.1', 'client|list'), client('7', '203.0.113.7', 'replicaof')],
      }),
    );
    assert.equal(incidents.length, 1);
    const [incident] = incidents as [RedisIncident];
    assert.equal(incident.key, '203.0.113.7');
    assert.equal(incident.ip, '203.0.113.7');
    assert.equal(incident.severity, 'critical');
    assert.deepEqual(kinds(incidents).sort(), ['redis-replicaof', 'redis-role-changed']);
    assert.deepEqual(incident.repairs, [
      { type: 'replicaof' },
      { type: 'client-kill', id: '7', addr: '203.0.113.7:50007' },
      {
        type: 'ban',
        ip: '203.0.113.7',
        scenario: 'redis-hijack',
        reason: 'redis cache: REPLICAOF 198.51.100.9:24798 issued from 203.0.113.7',
      },
    ]);
    const replicaof = incident.findings.find((f) => f.kind === 'redis-replicaof');
    assert.equal(replicaof?.fields['master'], '198.51.100.9:24798');
    // The link to the attacker's master being down is part of the hijack, not a second incident.
    assert.ok(!kinds(incidents).includes('redis-master-link-down'));
  });

  it('reports a condition once while it lasts, and once when it recovers, under the same incident', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    const hijacked = master(2000, { role: 'replica', masterHost: '198.51.100.9', masterPort: 1 });
    const first = detector.observe(hijacked);
    assert.deepEqual(kinds(first), ['redis-role-changed']);
    assert.equal(first[0]?.key, 'redis:cache:role');
    assert.deepEqual(detector.observe({ ...hijacked, at: 4000 }), []);
    assert.deepEqual(detector.active, ['role']);
    const back = detector.observe(master(6000));
    assert.deepEqual(kinds(back), ['redis-recovered']);
    assert.equal(back[0]?.key, 'redis:cache:role');
    assert.equal(back[0]?.quiet, false, 'a recovery the guard did not make is alerted');
    assert.deepEqual(detector.active, []);
  });

  it('keeps quiet about a recovery it repaired itself', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    detector.observe(master(2000, { dir: '/tmp' }));
    detector.repaired(['dir']);
    const back = detector.observe(master(4000));
    assert.deepEqual(kinds(back), ['redis-recovered']);
    assert.equal(back[0]?.quiet, true);
  });

  it('accepts replication from an expected master and flags any other', () => {
    const detector = createRedisDetector({ ...OPTIONS, expectedMasters: ['10.0.0.2:6379', '10.0.0.3'] });
    detector.observe(master(0));
    const expected = detector.observe(
      master(2000, { role: 'replica', masterHost: '10.0.0.3', masterPort: 7000 }),
    );
    assert.equal(expected.length, 1);
    assert.equal(expected[0]?.quiet, true, 'an expected master is logged, not alerted');
    const wrongPort = detector.observe(
      master(4000, { role: 'replica', masterHost: '10.0.0.2', masterPort: 6380 }),
    );
    assert.deepEqual(kinds(wrongPort), ['redis-role-changed']);
    assert.equal(wrongPort[0]?.severity, 'critical');
  });

  it('a replica at start expects its own master, and restores to it (not to NO ONE)', () => {
    const detector = createRedisDetector(OPTIONS);
    const replica = (at: number, host: string) =>
      master(at, { role: 'replica', masterHost: host, masterPort: 6379, masterLinkUp: true });
    assert.deepEqual(detector.observe(replica(0, '10.0.0.2')), []);
    const incidents = detector.observe(replica(2000, '198.51.100.9'));
    assert.deepEqual(incidents[0]?.repairs, [{ type: 'replicaof', host: '10.0.0.2', port: 6379 }]);
  });

  it('reports a promotion (failover) as a warning and never undoes it', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(
      master(0, { role: 'replica', masterHost: '10.0.0.2', masterPort: 6379, masterLinkUp: true }),
    );
    const incidents = detector.observe(master(2000));
    assert.deepEqual(kinds(incidents), ['redis-role-changed']);
    assert.equal(incidents[0]?.severity, 'warning');
    assert.deepEqual(incidents[0]?.repairs, []);
  });

  it('rates dir changes into cron, ssh or web roots as critical and plain ones as warnings', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    const plain = detector.observe(master(2000, { dir: '/data' }));
    assert.equal(plain[0]?.severity, 'warning');
    assert.deepEqual(plain[0]?.repairs, [{ type: 'config-set', key: 'dir', value: '/var/lib/redis' }]);
    const cron = detector.observe(master(4000, { dir: '/var/spool/cron/crontabs', dbfilename: 'root' }));
    assert.equal(cron[0]?.severity, 'critical');
    assert.equal(cron[0]?.key, 'redis:cache:config');
    assert.deepEqual(kinds(cron).sort(), ['redis-dbfilename-changed', 'redis-dir-changed']);
  });

  it('attributes a dir change to the one recent outside client and reports the dump it wrote', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0, { saveMark: 3 }));
    const incidents = detector.observe(
      master(2000, {
        dir: '/home/app/.ssh',
        dbfilename: 'authorized_keys',
        saveMark: 4,
        clients: [client('9', '198.51.100.20', 'save')],
      }),
    );
    assert.equal(incidents.length, 1);
    assert.equal(incidents[0]?.key, '198.51.100.20');
    assert.deepEqual(kinds(incidents).sort(), [
      'redis-dbfilename-changed',
      'redis-dir-changed',
      'redis-dump-written',
    ]);
    const repairs = incidents[0]?.repairs ?? [];
    assert.deepEqual(
      repairs.map((r) => r.type),
      ['config-set', 'config-set', 'client-kill', 'ban'],
    );
  });

  it('does not blame a client idle since before the change, nor an allowed or its own connection', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.setOwnClientId('2');
    detector.observe(master(0));
    const incidents = detector.observe(
      master(2000, {
        dir: '/tmp/x',
        clients: [
          client('1', '198.51.100.20', 'config|get', 30),
          client('2', '198.51.100.21', 'config|set'),
          client('3', '10.0.0.8', 'config|set'),
        ],
      }),
    );
    assert.equal(incidents.length, 1);
    assert.equal(incidents[0]?.ip, undefined);
    assert.equal(incidents[0]?.key, 'redis:cache:config');
  });

  it('reports a dangerous command once per client and command', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    const flush = [client('4', '203.0.113.4', 'flushall', 0)];
    const first = detector.observe(master(2000, { clients: flush }));
    assert.deepEqual(kinds(first), ['redis-dangerous-command']);
    assert.equal(first[0]?.findings[0]?.ip, '203.0.113.4');
    assert.deepEqual(detector.observe(master(4000, { clients: flush })), []);
    const again = detector.observe(master(6000, { clients: [client('4', '203.0.113.4', 'module|load', 0)] }));
    assert.deepEqual(kinds(again), ['redis-dangerous-command']);
    // An allowed address may run anything.
    assert.deepEqual(detector.observe(master(8000, { clients: [client('5', '10.0.0.9', 'flushall')] })), []);
  });

  it('alerts on a replica attached from an unknown address, once', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0, { replicas: [{ ip: '192.0.2.50', port: 6379, state: 'online' }] }));
    const replicas = [
      { ip: '192.0.2.50', port: 6379, state: 'online' },
      { ip: '10.0.0.7', port: 6379, state: 'online' },
      { ip: '203.0.113.66', port: 24_798, state: 'wait_bgsave' },
    ];
    const clients = [{ ...client('12', '203.0.113.66', 'psync'), flags: 'S' }];
    const incidents = detector.observe(master(2000, { replicas, clients }));
    assert.deepEqual(kinds(incidents), ['redis-unknown-replica']);
    assert.equal(incidents[0]?.key, '203.0.113.66');
    assert.deepEqual(
      incidents[0]?.repairs.map((r) => r.type),
      ['client-kill', 'ban'],
    );
    assert.deepEqual(detector.observe(master(4000, { replicas, clients })), []);
  });

  it('is unreachable only after N failed polls, and says when it answers again', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    assert.deepEqual(detector.failed(2000, 'ECONNREFUSED'), []);
    assert.deepEqual(detector.failed(4000, 'ECONNREFUSED'), []);
    const down = detector.failed(6000, 'ECONNREFUSED');
    assert.deepEqual(kinds(down), ['redis-unreachable']);
    assert.equal(down[0]?.key, 'redis:10.0.0.1:6379:down');
    assert.deepEqual(detector.failed(8000, 'ECONNREFUSED'), []);
    const up = detector.observe(master(10_000));
    assert.deepEqual(kinds(up), ['redis-recovered']);
    assert.equal(up[0]?.key, 'redis:10.0.0.1:6379:down');
  });

  it('reports a master link down for longer than the threshold under the master’s "down" key', () => {
    const detector = createRedisDetector(OPTIONS);
    const replica = (at: number, up: boolean, seconds?: number) =>
      master(at, {
        role: 'replica',
        masterHost: '10.0.0.1',
        masterPort: 6379,
        masterLinkUp: up,
        ...(seconds === undefined ? {} : { masterLinkDownSeconds: seconds }),
      });
    detector.observe(replica(0, true));
    assert.deepEqual(detector.observe(replica(2000, false, 1)), []);
    const down = detector.observe(replica(11_500, false, 10));
    assert.deepEqual(kinds(down), ['redis-master-link-down']);
    // The same key as the master's own "unreachable" incident: one incident, one alert.
    assert.equal(down[0]?.key, 'redis:10.0.0.1:6379:down');
    assert.deepEqual(kinds(detector.observe(replica(14_000, true))), ['redis-recovered']);
  });

  it('reports failing background saves and memory near maxmemory with hysteresis', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0, { usedMemory: 100, maxmemory: 1000 }));
    assert.deepEqual(kinds(detector.observe(master(2000, { bgsaveOk: false }))), ['redis-bgsave-failed']);
    assert.deepEqual(kinds(detector.observe(master(4000, { bgsaveOk: true }))), ['redis-recovered']);
    assert.deepEqual(kinds(detector.observe(master(6000, { usedMemory: 905, maxmemory: 1000 }))), [
      'redis-memory-high',
    ]);
    assert.deepEqual(
      detector.observe(master(8000, { usedMemory: 870, maxmemory: 1000 })),
      [],
      'within 5 points',
    );
    assert.deepEqual(kinds(detector.observe(master(10_000, { usedMemory: 800, maxmemory: 1000 }))), [
      'redis-recovered',
    ]);
  });

  it('reports a restart (new run id)', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    assert.deepEqual(kinds(detector.observe(master(2000, { runId: 'r2' }))), ['redis-restarted']);
  });

  it('asks for a second look when a state change and its client are seen in different halves of a poll', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    // The role flipped, but no suspect is visible: maybe CLIENT LIST ran first.
    assert.equal(detector.unsettled(master(2000, { role: 'replica', masterHost: 'x', masterPort: 1 })), true);
    // A suspect's REPLICAOF is visible, but the role did not change yet.
    assert.equal(
      detector.unsettled(master(2000, { clients: [client('3', '203.0.113.3', 'replicaof')] })),
      true,
    );
    // Both visible, or neither: settled.
    assert.equal(
      detector.unsettled(
        master(2000, {
          role: 'replica',
          masterHost: 'x',
          masterPort: 1,
          clients: [client('3', '203.0.113.3', 'replicaof')],
        }),
      ),
      false,
    );
    assert.equal(detector.unsettled(master(2000)), false);
  });

  it('keeps its per-client memory to the clients present', () => {
    const detector = createRedisDetector(OPTIONS);
    detector.observe(master(0));
    const many = Array.from({ length: 500 }, (_, i) => client(String(i + 10), '203.0.113.1', 'flushall'));
    assert.equal(kinds(detector.observe(master(2000, { clients: many }))).length, 500);
    detector.observe(master(4000, { clients: [] }));
    // Gone clients are forgotten: the same ids coming back are judged afresh.
    assert.equal(kinds(detector.observe(master(6000, { clients: many.slice(0, 3) }))).length, 3);
  });
});
