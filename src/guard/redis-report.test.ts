import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRedisDetector } from './redis-detect.ts';
import type { RedisObservation } from './redis-info.ts';
import { findingEvent, incidentAlert } from './redis-report.ts';

const base: RedisObservation = {
  at: 0,
  role: 'master',
  replicas: [],
  dir: '/var/lib/redis',
  dbfilename: 'dump.rdb',
  clients: [],
};
const detector = () =>
  createRedisDetector({
    instance: 'cache',
    address: '10.0.0.1:6379',
    expectedMasters: [],
    allowedClients: ['127.0.0.0/8'],
    allowedReplicas: [],
    dangerousCommands: ['replicaof', 'config|set'],
    unreachableAfter: 1,
    masterLinkDownAfterMs: 0,
    memoryAlertAbove: 90,
    intervalMs: 2000,
  });
const attacker = {
  id: '7',
  addr: '203.0.113.7:51234',
  ip: '203.0.113.7',
  port: 51_234,
  cmd: 'replicaof',
  idle: 0,
  age: 1,
  flags: 'N',
  name: '',
  user: 'default',
};

describe('Redis incident reports', () => {
  it('a hijack: one alert with what was seen, who, and what was done, keyed by the attacker', () => {
    const d = detector();
    d.observe(base);
    const [incident] = d.observe({
      ...base,
      at: 2000,
      role: 'replica',
      masterHost: '198.51.100.9',
      masterPort: 24_798,
      clients: [attacker],
    });
    assert.ok(incident);
    const alert = incidentAlert(
      incident,
      [
        'REPLICAOF NO ONE (master again)',
        'killed client id 7 (203.0.113.7:51234)',
        'banned 203.0.113.7 for 7d',
      ],
      {
        instance: 'cache',
        address: '10.0.0.1:6379',
        respond: 'restore',
        at: 2000,
      },
    );
    assert.equal(alert.kind, 'redis-hijack');
    assert.equal(alert.severity, 'critical');
    assert.equal(alert.incident, '203.0.113.7');
    assert.equal(alert.ip, '203.0.113.7');
    assert.equal(alert.title, 'Redis cache hijacked: REPLICAOF 198.51.100.9:24798 from 203.0.113.7');
    assert.match(alert.text, /Seen:\n {2}- /);
    assert.match(alert.text, /Who: 203\.0\.113\.7 \(client id 7, last command replicaof, user default\)/);
    assert.doesNotMatch(alert.text, /Done/, 'actions are listed once, from `actions`');
    assert.deepEqual(alert.actions?.length, 3);
  });

  it('observe mode says nothing was changed; an unknown culprit is said to be unknown', () => {
    const d = detector();
    d.observe(base);
    const [incident] = d.observe({ ...base, at: 2000, dir: '/var/spool/cron' });
    assert.ok(incident);
    const alert = incidentAlert(incident, [], {
      instance: 'cache',
      address: '10.0.0.1:6379',
      respond: 'observe',
      at: 2000,
    });
    assert.equal(alert.kind, 'redis-dir-changed');
    assert.equal(alert.incident, 'redis:cache:config');
    assert.equal(alert.ip, undefined);
    assert.match(alert.text, /Who: unknown/);
    assert.match(alert.text, /Done: nothing changed in Redis \(respond: observe\)/);
  });

  it('events carry the client address on client findings only, and the attacker as a field', () => {
    const d = detector();
    d.observe(base);
    const [incident] = d.observe({
      ...base,
      at: 2000,
      role: 'replica',
      masterHost: '198.51.100.9',
      masterPort: 1,
      clients: [attacker],
    });
    const events = (incident?.findings ?? []).map((f) => findingEvent(f, 'cache', 2000));
    const replicaof = events.find((e) => e.kind === 'redis-replicaof');
    const role = events.find((e) => e.kind === 'redis-role-changed');
    assert.equal(replicaof?.ip, '203.0.113.7');
    assert.equal(replicaof?.service, 'redis');
    assert.equal(replicaof?.fields?.['master'], '198.51.100.9:1');
    assert.equal(role?.ip, undefined);
    assert.equal(role?.fields?.['attacker'], '203.0.113.7');
    assert.equal(role?.source, 'guard:redis:cache');
  });
});
