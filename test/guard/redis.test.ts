/**
 * The incidents, replayed against real redis-server processes on free loopback ports: a REPLICAOF
 * hijack to a dead master sent from another loopback address, CONFIG SET dir/dbfilename into a
 * cron-like directory (with SAVE), a rogue replica, and the master of a master/replica pair
 * killed. The guard polls every 200 ms; each incident must be seen within two polls.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseConfig } from '../../src/config/load.ts';
import { guardComponent, type GuardComponent } from '../../src/guard/component.ts';
import { freePort, redisServerMissing, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { unlessInCi } from '../helpers/requirement.ts';
import { admin, closeClients, connectFrom, createTestServices, infoField } from './helpers.ts';
import { until } from '../helpers/until.ts';
import { selfSignedCertificate } from '../helpers/tls.ts';

const INTERVAL_MS = 200;
const skip = redisServerMissing();
const opensslMissing = unlessInCi(
  spawnSync('openssl', ['version']).status === 0
    ? undefined
    : 'openssl is not installed (.ci/run installs it)',
);

/** Guard config for one or more instances, with the test's short interval. */
function guardConfig(redis: Record<string, unknown>[], decisions: Record<string, unknown> = {}) {
  return parseConfig({ guard: { interval: INTERVAL_MS, redis }, decisions });
}

describe('moat guard against real redis-server', { skip }, () => {
  const servers: RedisServer[] = [];
  const start = async (args: string[] = [], bind?: string[]) => {
    // protected-mode off and no password: the exposed Redis of incident 1 (and 127.0.0.2… count as
    // outside addresses only then; protected mode admits 127.0.0.1 and ::1 alone).
    const server = await startRedisServer({
      args: ['--protected-mode', 'no', '--repl-diskless-sync-delay', '0', ...args],
      ...(bind === undefined ? {} : { bind }),
    });
    servers.push(server);
    return server;
  };
  after(async () => {
    closeClients();
    for (const server of servers) await server.stop();
  });

  it('undoes a REPLICAOF hijack from another address within two polls: role back, client killed, address banned, one alert', async () => {
    const redis = await start();
    const deadMaster = await freePort();
    const config = guardConfig([
      {
        url: `redis://127.0.0.1:${redis.port}`,
        name: 'cache',
        respond: 'restore',
        allowedClients: ['127.0.0.1/32'],
      },
    ]);
    const services = await createTestServices(config, { testOnlyBannableLoopback: ['127.0.0.2'] });
    const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
    try {
      assert.equal(guard.redis[0]?.detector.baseline?.role, 'master');
      const attacker = await connectFrom('127.0.0.2', redis.port);
      const attackAt = Date.now();
      assert.equal(await attacker.send('REPLICAOF', '127.0.0.1', deadMaster), 'OK');
      await until(() => services.sent.length > 0, 'the alert');
      const [alert] = services.sent;
      assert.ok(alert);
      assert.ok(alert.at - attackAt <= 2 * INTERVAL_MS, `seen ${alert.at - attackAt} ms after the attack`);

      // Undone: a master again, the attacker's connection closed, its address banned.
      await until(
        async () => (await infoField(redis.port, 'replication', 'role')) === 'master',
        'role master',
      );
      await Promise.race([attacker.closed, sleep(1000)]);
      assert.equal(attacker.isClosed, true, 'the offending connection was killed');
      const bans = await services.store.activeBans(Date.now());
      assert.deepEqual(
        bans.map((b) => [b.target, b.scenario]),
        [['127.0.0.2', 'redis-hijack']],
      );
      assert.equal(services.bans.isBanned('127.0.0.2'), true);

      // One alert, keyed by and naming the attacker, saying what was seen and done.
      assert.equal(alert.kind, 'redis-hijack');
      assert.equal(alert.severity, 'critical');
      assert.equal(alert.incident, '127.0.0.2');
      assert.equal(alert.ip, '127.0.0.2');
      assert.equal(alert.title, `Redis cache hijacked: REPLICAOF 127.0.0.1:${deadMaster} from 127.0.0.2`);
      assert.match(alert.text, /Who: 127\.0\.0\.2 \(client id \d+, last command replicaof/);
      assert.deepEqual(
        alert.actions?.map((a) => a.replace(/\d+ \(127\.0\.0\.2:\d+\)/, 'N')),
        ['REPLICAOF NO ONE (master again)', 'killed client id N', 'banned 127.0.0.2 for 7d'],
      );
      // The engine saw the same incident as events (the REPLICAOF one carries the address).
      assert.ok(services.events.some((e) => e.kind === 'redis-replicaof' && e.ip === '127.0.0.2'));
      assert.ok(
        services.events.some(
          (e) => e.kind === 'redis-role-changed' && e.fields?.['attacker'] === '127.0.0.2',
        ),
      );

      // The repaired state's recovery is logged, not alerted again.
      await sleep(4 * INTERVAL_MS);
      assert.equal(services.sent.length, 1, JSON.stringify(services.sent.map((a) => a.title)));
      // The daemon's own ban alert carries the same incident key, so the alert queue folds it in.
      assert.deepEqual(
        services.daemonSent.map((a) => [a.kind, a.incident]),
        [['ban', '127.0.0.2']],
      );
      assert.ok(
        services.logger.lines.some(
          (l) => l.msg === 'redis incident' && (l['kinds'] as string[]).includes('redis-recovered'),
        ),
      );
    } finally {
      await guard.stop();
      await services.close();
    }
  });

  it('puts dir and dbfilename back after CONFIG SET into a cron directory and SAVE, and reports the planted file', async () => {
    const redis = await start(['--enable-protected-configs', 'yes']);
    const baseDir = ((await admin(redis.port, 'CONFIG', 'GET', 'dir')) as string[])[1];
    const cron = path.join(mkdtempSync(path.join(tmpdir(), 'moat-cron-')), 'var', 'spool', 'cron');
    mkdirSync(cron, { recursive: true });
    const config = guardConfig([
      {
        url: `redis://127.0.0.1:${redis.port}`,
        name: 'store',
        respond: 'restore',
        allowedClients: ['127.0.0.1/32'],
      },
    ]);
    const services = await createTestServices(config, { testOnlyBannableLoopback: ['127.0.0.3'] });
    const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
    try {
      const attacker = await connectFrom('127.0.0.3', redis.port);
      const attackAt = Date.now();
      // What the attacker of incident 2 ran, in one burst.
      const replies = await Promise.all([
        attacker.send('CONFIG', 'SET', 'dir', cron),
        attacker.send('CONFIG', 'SET', 'dbfilename', 'root'),
        attacker.send('SAVE'),
      ]);
      assert.deepEqual(replies, ['OK', 'OK', 'OK']);
      assert.ok(
        readFileSync(path.join(cron, 'root')).subarray(0, 5).toString() === 'REDIS',
        'the dump was planted',
      );

      await until(() => services.sent.length > 0, 'the alert');
      const [alert] = services.sent;
      assert.ok(alert);
      assert.ok(alert.at - attackAt <= 2 * INTERVAL_MS, `seen ${alert.at - attackAt} ms after the attack`);
      assert.equal(alert.incident, '127.0.0.3');
      assert.equal(alert.ip, '127.0.0.3');
      assert.equal(alert.severity, 'critical');
      assert.equal(alert.title, `Redis store reconfigured: dir ${cron}, dbfilename root from 127.0.0.3`);
      assert.match(alert.text, /a cron directory/);
      assert.match(alert.text, new RegExp(`a dump was written to ${cron}/root`));
      assert.match(alert.text, /last command save/);

      await until(async () => {
        const dir = (await admin(redis.port, 'CONFIG', 'GET', 'dir')) as string[];
        const file = (await admin(redis.port, 'CONFIG', 'GET', 'dbfilename')) as string[];
        return dir[1] === baseDir && file[1] === 'dump.rdb';
      }, 'dir and dbfilename restored');
      await Promise.race([attacker.closed, sleep(1000)]);
      assert.equal(attacker.isClosed, true);
      assert.deepEqual(
        (await services.store.activeBans(Date.now())).map((b) => b.target),
        ['127.0.0.3'],
      );
      await sleep(3 * INTERVAL_MS);
      assert.equal(services.sent.length, 1, 'one alert for the incident');
      // moat never deletes data: the planted file is reported, left for the operator.
      assert.ok(existsSync(path.join(cron, 'root')));
    } finally {
      await guard.stop();
      await services.close();
    }
  });

  it('observe changes nothing: the hijack is reported, the instance stays a replica, nothing is banned by the guard', async () => {
    const redis = await start();
    const deadMaster = await freePort();
    const config = guardConfig([
      { url: `redis://127.0.0.1:${redis.port}`, name: 'queue', allowedClients: ['127.0.0.1/32'] },
    ]);
    const services = await createTestServices(config, { testOnlyBannableLoopback: ['127.0.0.4'] });
    const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
    try {
      const attacker = await connectFrom('127.0.0.4', redis.port);
      await attacker.send('REPLICAOF', '127.0.0.1', deadMaster);
      await until(() => services.sent.length > 0, 'the alert');
      assert.equal(services.sent[0]?.incident, '127.0.0.4');
      assert.match(services.sent[0]?.text ?? '', /Done: nothing changed in Redis \(respond: observe\)/);
      await sleep(3 * INTERVAL_MS);
      assert.equal(await infoField(redis.port, 'replication', 'role'), 'slave');
      assert.equal(attacker.isClosed, false);
      assert.deepEqual(await services.store.activeBans(Date.now()), []);
      assert.equal(services.sent.length, 1);
      attacker.close();
      await admin(redis.port, 'REPLICAOF', 'NO', 'ONE');
      // Fixed by someone else: that recovery is news, and belongs to the same incident.
      await until(() => services.sent.length === 2, 'the recovery alert');
      assert.equal(services.sent[1]?.kind, 'redis-recovered');
      assert.equal(services.sent[1]?.incident, '127.0.0.4');
    } finally {
      await guard.stop();
      await services.close();
    }
  });

  it('kills and bans a replica attached from an unknown address (it copies the whole dataset)', async () => {
    const redis = await start();
    const config = guardConfig([
      {
        url: `redis://127.0.0.1:${redis.port}`,
        name: 'cache',
        respond: 'restore',
        allowedClients: ['127.0.0.1/32'],
        allowedReplicas: [],
      },
    ]);
    const services = await createTestServices(config, { testOnlyBannableLoopback: ['127.0.0.5'] });
    const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
    try {
      // A real Redis replicating from 127.0.0.5: what `redis-cli --replica` or a rogue server does.
      await start(
        ['--replicaof', '127.0.0.1', String(redis.port), '--bind-source-addr', '127.0.0.5'],
        ['127.0.0.5'],
      );
      await until(() => services.sent.length > 0, 'the alert');
      const [alert] = services.sent;
      assert.equal(alert?.kind, 'redis-unknown-replica');
      assert.equal(alert?.incident, '127.0.0.5');
      assert.ok(
        alert?.actions?.some((a) => /^killed client id \d+ \(127\.0\.0\.5:\d+\)$/.test(a)),
        JSON.stringify(alert?.actions),
      );
      assert.ok(alert?.actions?.includes('banned 127.0.0.5 for 7d'));
      assert.equal(services.bans.isBanned('127.0.0.5'), true);
    } finally {
      await guard.stop();
      await services.close();
    }
  });

  it(
    'rediss:// with a private CA: watched over TLS; without the CA, unreachable with the certificate error',
    { skip: opensslMissing },
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'moat-redis-tls-'));
      const { cert, key } = selfSignedCertificate(dir, 2);
      const tlsPort = await freePort();
      await start([
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        cert,
        '--tls-key-file',
        key,
        '--tls-ca-cert-file',
        cert,
        '--tls-auth-clients',
        'no',
        '--requirepass',
        'tls-secret',
      ]);
      const url = `rediss://:tls-secret@127.0.0.1:${tlsPort}`;
      const config = guardConfig([
        { url, name: 'tls', tls: { ca: cert } },
        { url, name: 'untrusted', unreachableAfter: 1 },
      ]);
      const services = await createTestServices(config);
      const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
      try {
        const [trusted, untrusted] = guard.redis;
        assert.equal(trusted?.detector.baseline?.role, 'master');
        assert.equal(trusted?.posture?.defaultUserNeedsPassword, true);
        assert.equal(untrusted?.detector.baseline, undefined);
        await until(() => services.sent.some((a) => a.kind === 'redis-unreachable'), 'the unreachable alert');
        const alert = services.sent.find((a) => a.kind === 'redis-unreachable');
        assert.match(
          alert?.title ?? '',
          /untrusted \(127\.0\.0\.1:\d+\) did not answer 1 polls in a row: .*(self[- ]signed|SELF_SIGNED)/i,
        );
        assert.ok(!JSON.stringify(services.sent).includes('tls-secret'));
        assert.ok(!JSON.stringify(services.logger.lines).includes('tls-secret'));
      } finally {
        await guard.stop();
        await services.close();
      }
    },
  );

  it('a killed master: unreachable for the master, link down for its replica, one incident key for both', async () => {
    const primary = await start();
    const replica = await start(['--replicaof', '127.0.0.1', String(primary.port)]);
    await until(
      async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up',
      'replication up',
    );
    const config = guardConfig([
      { url: `redis://127.0.0.1:${primary.port}`, name: 'primary', unreachableAfter: 1 },
      { url: `redis://127.0.0.1:${replica.port}`, name: 'replica', masterLinkDownAfter: 0 },
    ]);
    const services = await createTestServices(config);
    const guard = (await guardComponent(config.guard)(services)) as GuardComponent;
    try {
      await sleep(2 * INTERVAL_MS);
      assert.equal(services.sent.length, 0, 'a healthy pair raises nothing');
      const killedAt = Date.now();
      await primary.stop();
      await until(() => services.sent.length >= 2, 'both alerts');
      const kinds = services.sent.map((a) => a.kind).sort();
      assert.deepEqual(kinds, ['redis-master-link-down', 'redis-unreachable']);
      for (const alert of services.sent) {
        assert.ok(alert.at - killedAt <= 2 * INTERVAL_MS, `${alert.kind} after ${alert.at - killedAt} ms`);
        assert.equal(alert.incident, `redis:127.0.0.1:${primary.port}:down`);
        assert.equal(alert.severity, 'critical');
      }
    } finally {
      await guard.stop();
      await services.close();
    }
  });
});
