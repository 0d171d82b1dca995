/**
 * `moat guard` on the command line: flags composed over the config file, errors that name the flag,
 * and the quick start run for real (a child process watching a password-protected redis-server,
 * a hijack from 127.0.0.7 undone, the alert at a local webhook, the password never printed).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { composeGuardConfig } from '../../src/cli/guard.ts';
import { parseConfig } from '../../src/config/load.ts';
import { isMoatError } from '../../src/core/errors.ts';
import { freePort, redisServerMissing, startRedisServer, type RedisServer } from '../helpers/redis-server.ts';
import { closeClients, connectFrom, infoField, startReceiver } from './helpers.ts';
import { until } from '../helpers/until.ts';

const BIN = fileURLToPath(new URL('../../bin/moat.js', import.meta.url));

function usageError(pattern: RegExp) {
  return (error: unknown) => isMoatError(error) && error.code === 'MOAT_USAGE' && pattern.test(error.message);
}

describe('composeGuardConfig', () => {
  const file = parseConfig({
    guard: {
      redis: [
        { url: 'redis://10.0.0.1:6379', name: 'cache' },
        { url: 'redis://10.0.0.2:6379', name: 'queue', respond: 'restore' },
      ],
    },
  });

  it('adds the URLs given, with --respond, --allow-client and --interval', () => {
    const config = composeGuardConfig(file, ['redis://127.0.0.1:6380'], {
      respond: 'restore',
      interval: '500ms',
      allowClient: ['10.0.0.5'],
    });
    assert.equal(config.guard.interval, 500);
    assert.deepEqual(config.guard.redis[2]?.allowedClients, ['10.0.0.5']);
    assert.deepEqual(
      config.guard.redis[0]?.allowedClients,
      ['127.0.0.0/8', '::1'],
      'only for the URLs given',
    );
    assert.deepEqual(
      config.guard.redis.map((i) => [i.url, i.respond]),
      [
        ['redis://10.0.0.1:6379', 'observe'],
        ['redis://10.0.0.2:6379', 'restore'],
        ['redis://127.0.0.1:6380', 'restore'],
      ],
    );
  });

  it('--respond without URLs applies to every configured instance; with a configured URL, to that one', () => {
    assert.deepEqual(
      composeGuardConfig(file, [], { respond: 'observe' }).guard.redis.map((i) => i.respond),
      ['observe', 'observe'],
    );
    const one = composeGuardConfig(file, ['redis://10.0.0.1:6379'], { respond: 'restore' });
    assert.deepEqual(
      one.guard.redis.map((i) => [i.name, i.respond]),
      [
        ['cache', 'restore'],
        ['queue', 'restore'],
      ],
    );
    assert.equal(one.guard.redis.length, 2, 'a configured URL is not added twice');
  });

  it('--http, --tcp, --system and --alert-webhook', () => {
    const config = composeGuardConfig(parseConfig({}), [], {
      http: ['https://example.com/health'],
      tcp: ['127.0.0.1:5432'],
      system: true,
      alertWebhook: 'https://hooks.example.com/moat',
    });
    assert.deepEqual(
      config.guard.checks.map((c) => [c.name, c.http ?? c.tcp]),
      [
        ['http-example.com-health', 'https://example.com/health'],
        ['tcp-127.0.0.1-5432', '127.0.0.1:5432'],
      ],
    );
    assert.equal(config.guard.system.cpu?.alertAbove, 95);
    assert.deepEqual(
      config.guard.system.disks.map((d) => d.path),
      ['/'],
    );
    assert.deepEqual(
      config.alerts.notifiers.map((n) => n.type),
      ['webhook'],
    );
  });

  it('errors name the flag and the fix', () => {
    assert.throws(
      () => composeGuardConfig(file, [], { respond: 'fix' }),
      usageError(/--respond "fix": use observe or restore/),
    );
    assert.throws(
      () => composeGuardConfig(file, ['http://10.0.0.9'], {}),
      usageError(/redis URL http:\/\/10\.0\.0\.9: a URL like redis:/),
    );
    assert.throws(
      () => composeGuardConfig(file, [], { interval: 'soon' }),
      usageError(/--interval: a duration/),
    );
    assert.throws(
      () => composeGuardConfig(file, [], { tcp: ['nohost'] }),
      usageError(/--tcp: an address like/),
    );
    assert.throws(() => composeGuardConfig(parseConfig({}), [], {}), usageError(/nothing to guard/));
    assert.throws(
      () => composeGuardConfig(file, ['redis://127.0.0.1'], { allowClient: ['everyone'] }),
      usageError(/--allow-client: an IP address or CIDR/),
    );
  });

  it('a password in a bad URL is not repeated in the error', () => {
    assert.throws(
      () => composeGuardConfig(file, ['redis://u:hunter2@'], {}),
      (error: unknown) =>
        isMoatError(error) && !error.message.includes('hunter2') && error.message.includes('***'),
    );
  });
});

describe('moat guard, the quick start as a process', { skip: redisServerMissing() }, () => {
  let redis: RedisServer | undefined;
  after(async () => {
    closeClients();
    await redis?.stop();
  });

  it('restores a hijacked instance, alerts the webhook, stops on SIGTERM, never prints the password', async () => {
    redis = await startRedisServer({
      args: ['--protected-mode', 'no', '--requirepass', 'hunter2-not-for-logs'],
    });
    const receiver = await startReceiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-guard-cli-'));
    const configFile = path.join(dir, 'moat.yaml');
    writeFileSync(configFile, 'guard:\n  redis: []\n');
    const child = spawn(
      process.execPath,
      [
        BIN,
        '--config',
        configFile,
        'guard',
        `redis://:hunter2-not-for-logs@127.0.0.1:${redis.port}`,
        '--respond',
        'restore',
        '--allow-client',
        '127.0.0.1/32',
        '--interval',
        '200ms',
        '--alert-webhook',
        receiver.url,
        '--state-dir',
        dir,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until(
        () => stdout.includes('"msg":"moat guard started"'),
        `the start line (stderr: ${stderr})`,
        10_000,
      );
      const attacker = await connectFrom('127.0.0.7', redis.port);
      assert.equal(await attacker.send('AUTH', 'hunter2-not-for-logs'), 'OK');
      await attacker.send('REPLICAOF', '127.0.0.1', await freePort());
      await until(() => receiver.bodies.length > 0, 'the webhook message', 10_000);
      const body = receiver.bodies[0] as { title: string; alerts: { ip?: string }[] };
      assert.match(body.title, /hijacked: REPLICAOF 127\.0\.0\.1:\d+ from 127\.0\.0\.7$/);
      assert.equal(body.alerts[0]?.ip, '127.0.0.7');
      await until(
        async () =>
          (await infoField(redis?.port ?? 0, 'replication', 'role', 'hunter2-not-for-logs')) === 'master',
        'role restored',
      );
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.match(stdout, /"msg":"moat watch stopped"/);
      assert.ok(!stdout.includes('hunter2') && !stderr.includes('hunter2'), 'the password is never printed');
      assert.ok(!JSON.stringify(receiver.bodies).includes('hunter2'), 'nor sent in an alert');
    } finally {
      child.kill('SIGKILL');
      await receiver.close();
    }
  });
});
