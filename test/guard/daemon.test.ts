/**
 * The guard hosted by the real daemon (`startWatch` with components, no log sources), alerts going
 * through the real alert queue to a local webhook receiver: one message per incident, carrying the
 * attacker's address. Bans go through the daemon's real decider, which never bans loopback: the
 * attacker here (127.0.0.6) is refused honestly, and the refusal is what the alert reports.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAlerts } from '../../src/alerts/index.ts';
import { parseConfig } from '../../src/config/load.ts';
import { systemClock } from '../../src/core/clock.ts';
import { startWatch } from '../../src/daemon/watch.ts';
import { createDryRunFirewall } from '../../src/enforcement/dry-run.ts';
import { guardComponent } from '../../src/guard/component.ts';
import { freePort, redisServerMissing, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { closeClients, connectFrom, infoField, startReceiver } from './helpers.ts';
import { captureLogger } from '../helpers/log.ts';
import { until } from '../helpers/until.ts';

const INTERVAL_MS = 200;
const skip = redisServerMissing();

interface Delivered {
  title: string;
  text: string;
  severity: string;
  alerts: { incident: string; ip?: string; kind: string }[];
}

describe('moat guard inside the daemon, alerts to a webhook', { skip }, () => {
  const servers: RedisServer[] = [];
  after(async () => {
    closeClients();
    for (const server of servers) await server.stop();
  });

  it('one webhook message per incident: the hijack (with the attacker) and the dead master (two instances, one incident)', async () => {
    const start = async (args: string[] = []) => {
      const server = await startRedisServer({
        args: ['--protected-mode', 'no', '--repl-diskless-sync-delay', '0', ...args],
      });
      servers.push(server);
      return server;
    };
    const cache = await start();
    const primary = await start();
    const replica = await start(['--replicaof', '127.0.0.1', String(primary.port)]);
    await until(
      async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up',
      'replication up',
    );
    const receiver = await startReceiver();
    const config = parseConfig({
      guard: {
        interval: INTERVAL_MS,
        redis: [
          {
            url: `redis://127.0.0.1:${cache.port}`,
            name: 'cache',
            respond: 'restore',
            allowedClients: ['127.0.0.1/32'],
          },
          { url: `redis://127.0.0.1:${primary.port}`, name: 'primary', unreachableAfter: 1 },
          { url: `redis://127.0.0.1:${replica.port}`, name: 'replica', masterLinkDownAfter: 0 },
        ],
      },
      alerts: { notifiers: [{ type: 'webhook', url: receiver.url }], groupWindow: '1s' },
    });
    const logger = captureLogger();
    const alerts = createAlerts(config.alerts, { logger, clock: systemClock, maxTickMs: 50 });
    const daemon = await startWatch({
      config,
      stateDir: mkdtempSync(path.join(tmpdir(), 'moat-guard-daemon-')),
      logger,
      clock: systemClock,
      firewall: createDryRunFirewall(),
      sources: false,
      components: [guardComponent(config.guard)],
      alerts,
    });
    const messages = () => receiver.bodies as unknown as Delivered[];
    const about = (incident: string) =>
      messages().filter((m) => m.alerts.some((a) => a.incident === incident));
    try {
      // Incident 1: REPLICAOF to a dead master from 127.0.0.6.
      const attacker = await connectFrom('127.0.0.6', cache.port);
      await attacker.send('REPLICAOF', '127.0.0.1', await freePort());
      await until(() => about('127.0.0.6').length > 0, 'the hijack message');
      await until(
        async () => (await infoField(cache.port, 'replication', 'role')) === 'master',
        'role restored',
      );
      await Promise.race([attacker.closed, sleep(1000)]);
      assert.equal(attacker.isClosed, true);
      const [hijack] = about('127.0.0.6');
      assert.equal(hijack?.severity, 'critical');
      assert.match(
        hijack?.title ?? '',
        /^Redis cache hijacked: REPLICAOF 127\.0\.0\.1:\d+ from 127\.0\.0\.6$/,
      );
      assert.match(hijack?.text ?? '', /127\.0\.0\.6/);
      assert.match(hijack?.text ?? '', /- REPLICAOF NO ONE \(master again\)/);
      // The daemon's decider never bans loopback: the refusal is reported, nothing is stored.
      assert.match(hijack?.text ?? '', /- not banning: 127\.0\.0\.6 is loopback; moat never bans it/);
      assert.deepEqual(await daemon.store.activeBans(Date.now()), []);

      // Incident 2: the primary of a pair dies; both watchdogs see it, under one incident key.
      await primary.stop();
      const down = `redis:127.0.0.1:${primary.port}:down`;
      await until(() => about(down).length > 0, 'the dead-master message');
      await sleep(1500); // past the grouping window: nothing more may arrive for it
      assert.equal(about(down).length, 1, JSON.stringify(about(down)));
      assert.deepEqual(
        about(down)[0]
          ?.alerts.map((a) => a.kind)
          .sort(),
        ['redis-master-link-down', 'redis-unreachable'],
      );
      assert.equal(about('127.0.0.6').length, 1, 'still one message for the hijack');
    } finally {
      await daemon.stop();
      await receiver.close();
    }
  });
});
