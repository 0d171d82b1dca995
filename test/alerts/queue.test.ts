/**
 * The alert queue end to end: createAlerts() from config, real notifiers, local HTTP receivers. Time is
 * a manual clock; the queue's own timer (polling every few ms in these tests) does the delivering.
 */
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAlerts, type Alerts } from '../../src/alerts/index.ts';
import type { Alert } from '../../src/alerts/types.ts';
import { parseConfig } from '../../src/config/load.ts';
import { manualClock } from '../../src/core/clock.ts';
import { createJsonLogger } from '../../src/daemon/log.ts';
import { freePort, startHttpReceiver, type HttpReceiver, type Received } from './receivers.ts';

const START = Date.UTC(2025, 5, 1, 12, 0, 0);

interface Setup {
  readonly alerts: Alerts;
  readonly clock: ReturnType<typeof manualClock>;
  readonly logs: () => string;
}

const running: Alerts[] = [];
const receivers: HttpReceiver[] = [];
after(async () => {
  await Promise.all(running.map((a) => a.stop()));
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startHttpReceiver>): Promise<HttpReceiver> {
  const r = await startHttpReceiver(...args);
  receivers.push(r);
  return r;
}

function setup(alertsConfig: Record<string, unknown>): Setup {
  const clock = manualClock(START);
  let text = '';
  const config = parseConfig({ alerts: alertsConfig }).alerts;
  const alerts = createAlerts(config, {
    logger: createJsonLogger({ write: (s: string) => (text += s) }),
    clock,
    host: 'web-1',
    maxTickMs: 5,
    random: () => 1, // no jitter: backoff is exactly initialDelay × 2^(n-1)
  });
  running.push(alerts);
  return { alerts, clock, logs: () => text };
}

function ban(ip: string, scenario: string, at = START): Alert {
  return {
    kind: 'ban',
    severity: 'warning',
    title: `Banned ${ip} (${scenario})`,
    text: `${scenario} from ${ip}`,
    incident: ip,
    ip,
    actions: [`banned ${ip} for 4h`],
    fields: { scenario, target: ip },
    at,
  };
}

function event(
  incident: string,
  severity: Alert['severity'] = 'warning',
  title = `check ${incident} down`,
): Alert {
  return { kind: 'check-down', severity, title, text: `${incident} does not answer`, incident, at: START };
}

const bodyOf = (request: Received | undefined) =>
  JSON.parse(request?.body ?? '{}') as { title: string; text: string; severity: string; alerts: Alert[] };

/** Nothing more arrives within `ms` (real time; the queue timer polls every 5 ms). */
async function quiet(receiver: HttpReceiver, count: number, ms = 120): Promise<void> {
  await sleep(ms);
  assert.equal(receiver.requests.length, count, `expected exactly ${count} messages`);
}

async function until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('alert queue', () => {
  it('makes one message of three alerts of one incident, merging actions and details', async () => {
    const r = await receiver();
    const { alerts, clock } = setup({ notifiers: [{ type: 'webhook', url: r.url }], groupWindow: '5s' });
    const attacker = '198.51.100.7';
    alerts.send(event('https://shop.example/health'));
    alerts.send({
      kind: 'redis-replicaof',
      severity: 'warning',
      title: `REPLICAOF enabled by ${attacker}`,
      text: 'Redis log: REPLICAOF 203.0.113.9:24798 enabled',
      incident: attacker,
      ip: attacker,
      fields: { source: 'redis-log' },
      at: START,
    });
    clock.advance(1000);
    alerts.send({
      kind: 'redis-hijack',
      severity: 'critical',
      title: `Redis cache hijacked: REPLICAOF 203.0.113.9:24798 from ${attacker}`,
      text: 'role flipped to replica of 203.0.113.9:24798',
      incident: attacker,
      ip: attacker,
      actions: ['REPLICAOF NO ONE', 'CLIENT KILL 198.51.100.7:51234'],
      fields: { instance: 'cache' },
      at: START + 1000,
    });
    clock.advance(1000);
    alerts.send(ban(attacker, 'redis-hijack', START + 2000));
    await sleep(30);
    assert.equal(r.requests.length, 0, 'nothing is sent before the grouping window is over');

    clock.advance(3000);
    const requests = await r.waitFor(2);
    await quiet(r, 2);
    const incident = requests.map(bodyOf).find((b) => b.alerts.length === 3);
    assert.ok(incident, 'the three alerts of the attacker travel in one message');
    assert.equal(incident.severity, 'critical');
    assert.equal(incident.title, `Redis cache hijacked: REPLICAOF 203.0.113.9:24798 from ${attacker}`);
    assert.match(incident.text, /Redis log: REPLICAOF 203\.0\.113\.9:24798 enabled\nrole flipped/);
    assert.match(
      incident.text,
      /Done:\n- REPLICAOF NO ONE\n- CLIENT KILL 198\.51\.100\.7:51234\n- banned 198\.51\.100\.7 for 4h/,
    );
    assert.match(
      incident.text,
      /ip: 198\.51\.100\.7\nsource: redis-log\ninstance: cache\nscenario: redis-hijack/,
    );
    assert.equal(alerts.stats().grouped, 2);
  });

  it('suppresses repeats of a sent incident within the dedupe window, counts them, and lets escalation through', async () => {
    const r = await receiver();
    const { alerts, clock } = setup({
      notifiers: [{ type: 'webhook', url: r.url }],
      groupWindow: '1s',
      dedupeWindow: '10m',
    });
    alerts.send(event('db', 'warning'));
    clock.advance(1000);
    await r.waitFor(1);

    clock.advance(60_000);
    alerts.send(event('db', 'warning'));
    clock.advance(60_000);
    alerts.send(event('db', 'info'));
    clock.advance(2000);
    await quiet(r, 1);
    assert.equal(alerts.stats().suppressed, 2);

    alerts.send(event('db', 'critical', 'db down for 5 minutes'));
    clock.advance(1000);
    await r.waitFor(2);
    assert.equal(bodyOf(r.requests[1]).title, 'db down for 5 minutes');
    assert.match(bodyOf(r.requests[1]).text, /2 repeats of this incident were suppressed/);

    clock.advance(10 * 60_000 + 1);
    alerts.send(event('db', 'critical', 'db down again'));
    clock.advance(1000);
    await r.waitFor(3);
    await quiet(r, 3);
    assert.equal(bodyOf(r.requests[2]).title, 'db down again');
  });

  it('folds a burst of bans into one summary with the addresses, the count and the top scenarios', async () => {
    const r = await receiver();
    const { alerts, clock } = setup({
      notifiers: [{ type: 'webhook', url: r.url }],
      groupWindow: '5s',
      banSummaryThreshold: 5,
    });
    const ips = Array.from({ length: 8 }, (_, i) => `203.0.113.${10 + i}`);
    for (const [i, ip] of ips.entries()) {
      alerts.send(ban(ip, i < 5 ? 'ssh-bruteforce' : 'http-probing'));
      clock.advance(400); // the burst spreads over 3.2 s
    }
    clock.advance(5000 - 3200 + 10); // the first bans' window is over, the last ones' is not
    await sleep(40);
    assert.equal(r.requests.length, 0, 'closed bans wait for the rest of their burst');
    clock.advance(3200);
    await r.waitFor(1);
    await quiet(r, 1);
    const summary = bodyOf(r.requests[0]);
    assert.equal(summary.title, '8 addresses banned');
    assert.equal(summary.alerts.length, 8);
    assert.match(summary.text, /Top scenarios: ssh-bruteforce ×5, http-probing ×3/);
    for (const ip of ips) assert.ok(summary.text.includes(ip), `${ip} is listed`);
    assert.equal(alerts.stats().banSummaries, 1);
  });

  it('sends a few bans one by one', async () => {
    const r = await receiver();
    const { alerts, clock } = setup({ notifiers: [{ type: 'webhook', url: r.url }], banSummaryThreshold: 5 });
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) alerts.send(ban(ip, 'ssh-bruteforce'));
    clock.advance(5000);
    await r.waitFor(3);
    await quiet(r, 3);
    assert.deepEqual(r.requests.map((q) => bodyOf(q).title).sort(), [
      'Banned 203.0.113.1 (ssh-bruteforce)',
      'Banned 203.0.113.2 (ssh-bruteforce)',
      'Banned 203.0.113.3 (ssh-bruteforce)',
    ]);
  });

  it('rate-limits per notifier and folds the excess into one summary when the minute is up', async () => {
    const limited = await receiver();
    const open = await receiver();
    const { alerts, clock } = setup({
      notifiers: [
        { type: 'webhook', name: 'limited', url: limited.url, maxPerMinute: 2 },
        { type: 'webhook', name: 'open', url: open.url },
      ],
      groupWindow: '1s',
    });
    for (let i = 1; i <= 5; i++) alerts.send(event(`svc-${i}`));
    clock.advance(1000);
    await open.waitFor(5);
    await limited.waitFor(2);
    await quiet(limited, 2);
    const stats = alerts.stats().notifiers.find((n) => n.name === 'limited');
    assert.equal(stats?.heldBack, 3);
    assert.equal(stats?.sent, 2);

    clock.advance(60_000);
    await limited.waitFor(3);
    await quiet(limited, 3);
    const summary = bodyOf(limited.requests[2]);
    assert.equal(summary.title, '3 alerts held back by the rate limit');
    assert.equal(summary.alerts.length, 3);
    const sentFirst = limited.requests.slice(0, 2).map((q) => bodyOf(q).title);
    for (const title of [
      'check svc-1 down',
      'check svc-2 down',
      'check svc-3 down',
      'check svc-4 down',
      'check svc-5 down',
    ]) {
      assert.ok(
        sentFirst.includes(title) || summary.text.includes(title),
        `${title} reached the limited notifier`,
      );
    }
    assert.equal(open.requests.length, 5);
  });

  it('retries when the receiver is down at first, and delivers exactly once when it comes up', async () => {
    const port = await freePort();
    const { alerts, clock, logs } = setup({
      notifiers: [{ type: 'webhook', url: `http://127.0.0.1:${port}/hook` }],
      groupWindow: '1s',
      retry: { attempts: 5, initialDelay: '2s' },
    });
    alerts.send(event('api'));
    clock.advance(1000);
    await until(() => alerts.stats().notifiers[0]?.failures === 1, 'the first attempt to fail');
    assert.match(
      logs(),
      /"msg":"alert delivery failed; will retry".*"retryInMs":2000.*"error":"connect ECONNREFUSED 127\.0\.0\.1:\d+"/,
    );

    const r = await receiver(undefined, port);
    clock.advance(1999);
    await sleep(40);
    assert.equal(r.requests.length, 0, 'waits out the backoff');
    clock.advance(1);
    await r.waitFor(1);
    await quiet(r, 1);
    assert.equal(r.requests[0]?.url, '/hook');
    assert.deepEqual(
      { sent: alerts.stats().notifiers[0]?.sent, failures: alerts.stats().notifiers[0]?.failures },
      { sent: 1, failures: 1 },
    );
    assert.match(logs(), /"msg":"alert delivered after retry".*"attempts":2/);
  });

  it('gives up after the configured attempts with backoff doubling, and at once on a permanent refusal', async () => {
    const failing = await receiver(() => ({ status: 503, body: 'busy' }));
    const gone = await receiver(() => ({ status: 404, body: 'no such hook' }));
    const { alerts, clock, logs } = setup({
      notifiers: [
        { type: 'webhook', name: 'failing', url: failing.url },
        { type: 'webhook', name: 'gone', url: gone.url },
      ],
      groupWindow: '1s',
      retry: { attempts: 3, initialDelay: '1s' },
    });
    const failures = () => alerts.stats().notifiers[0]?.failures ?? 0;
    alerts.send(event('api'));
    clock.advance(1000);
    await until(() => failures() === 1, 'the first failure');
    clock.advance(1000);
    await until(() => failures() === 2, 'the second failure');
    clock.advance(1999); // the second wait is 2 s
    await sleep(40);
    assert.equal(failing.requests.length, 2);
    clock.advance(1);
    await until(() => failures() === 3, 'the third failure');
    clock.advance(3_600_000);
    await quiet(failing, 3);
    assert.equal(gone.requests.length, 1);
    const [failingStats, goneStats] = alerts.stats().notifiers;
    assert.deepEqual([failingStats?.dropped, failingStats?.failures], [1, 3]);
    assert.deepEqual([goneStats?.dropped, goneStats?.failures], [1, 1]);
    assert.match(logs(), /"msg":"alert dropped","notifier":"failing".*"attempts":3,"error":"HTTP 503: busy"/);
    assert.match(
      logs(),
      /"msg":"alert dropped","notifier":"gone".*"attempts":1,"error":"HTTP 404: no such hook","permanent":true/,
    );
  });

  it('sends each notifier only what reaches its minimum severity', async () => {
    const pager = await receiver();
    const chat = await receiver();
    const { alerts, clock } = setup({
      notifiers: [
        { type: 'webhook', name: 'pager', url: pager.url, minSeverity: 'critical' },
        { type: 'webhook', name: 'chat', url: chat.url },
      ],
      groupWindow: '1s',
    });
    alerts.send(event('disk', 'warning'));
    alerts.send(event('redis', 'critical'));
    clock.advance(1000);
    await chat.waitFor(2);
    await pager.waitFor(1);
    await quiet(pager, 1);
    assert.equal(bodyOf(pager.requests[0]).severity, 'critical');
  });

  it('caps pending alerts, counts what it turns away and logs that once, not per alert', async () => {
    const r = await receiver();
    const { alerts, clock, logs } = setup({
      notifiers: [{ type: 'webhook', url: r.url }],
      maxPending: 10,
      maxPerMinute: 600,
    });
    for (let i = 0; i < 50; i++) alerts.send(event(`svc-${i}`));
    assert.equal(alerts.stats().pending, 10);
    assert.equal(alerts.stats().dropped, 40);
    assert.equal(logs().match(/alert not queued/g)?.length, 1);
    clock.advance(5000);
    await r.waitFor(10);
    await quiet(r, 10);
  });

  it('never throws from send(), even for garbage, and ignores alerts after stop()', async () => {
    const r = await receiver();
    const { alerts, logs } = setup({ notifiers: [{ type: 'webhook', url: r.url }] });
    assert.doesNotThrow(() => alerts.send(undefined as unknown as Alert));
    assert.doesNotThrow(() => alerts.send({ kind: 'x' } as unknown as Alert));
    assert.match(logs(), /alert rejected/);
    await alerts.stop();
    alerts.send(event('late'));
    await alerts.flush();
    await quiet(r, r.requests.length, 30);
    assert.ok(!r.requests.some((q) => bodyOf(q).title === 'check late down'));
  });

  it('flush() sends open incidents now; stop() also sends what the rate limit held back', async () => {
    const r = await receiver();
    const { alerts } = setup({
      notifiers: [{ type: 'webhook', url: r.url, maxPerMinute: 1 }],
      groupWindow: '1h',
    });
    alerts.send(event('a'));
    alerts.send(event('b'));
    alerts.send(event('c'));
    await alerts.flush();
    assert.equal(r.requests.length, 1, 'flush keeps to the rate limit');
    await alerts.stop();
    assert.equal(r.requests.length, 2);
    assert.equal(bodyOf(r.requests[1]).title, '2 alerts held back by the rate limit');
  });
});

describe('timers', () => {
  it('uses one timer for the whole queue, not one per alert', async () => {
    const r = await receiver();
    const config = parseConfig({
      alerts: { notifiers: [{ type: 'webhook', url: r.url }], groupWindow: '300ms', maxPerMinute: 600 },
    });
    const alerts = createAlerts(config.alerts, { logger: createJsonLogger({ write: () => true }) });
    running.push(alerts);
    let timers = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'Timeout') timers++;
      },
    });
    // 50 incidents arriving over ~100 ms of real time; only the queue's own calls are counted.
    for (let batch = 0; batch < 10; batch++) {
      hook.enable();
      for (let i = 0; i < 5; i++) alerts.send(event(`svc-${batch}-${i}`));
      hook.disable();
      await sleep(10);
    }
    assert.equal(timers, 1);
    await r.waitFor(50);
  });
});

describe('shutdown', () => {
  it('stop() waits for one failed attempt per notifier at most, and reports what it could not deliver', async () => {
    const port = await freePort();
    const r = await receiver();
    const { alerts, logs } = setup({
      notifiers: [
        { type: 'webhook', name: 'down', url: `http://127.0.0.1:${port}/` },
        { type: 'webhook', name: 'up', url: r.url },
      ],
      groupWindow: '1h',
    });
    for (const name of ['a', 'b', 'c']) alerts.send(event(name));
    await alerts.stop();
    assert.equal(r.requests.length, 3, 'the working notifier got everything');
    const down = alerts.stats().notifiers[0];
    assert.deepEqual([down?.failures, down?.dropped, down?.waiting], [1, 3, 0]);
    assert.match(logs(), /"msg":"alerts not delivered before stop","notifier":"down".*"messages":3/);
  });
});

describe('secrets in logs and errors', () => {
  it('never writes a token, password, key or token-bearing URL to the log or a test result', async () => {
    const echo = await receiver((q) => ({
      status: 500,
      body: `upstream failed for ${q.url} auth=${String(q.headers['authorization'])}`,
    }));
    const down = await freePort();
    const secrets = {
      slackPath: '/services/T0001/B0002/sl4ckT0kenSecretValue42',
      discordToken: 'disc0rdT0kenSecretValue-abcdefghijkl',
      telegram: '7310042:AAH-super-secret-bot-token_x9',
      hmac: 'whsec-0123456789abcdef-not-a-real-key',
      bearer: 'bearer-token-should-stay-hidden',
      smtpPassword: 'smtp-pa55word-that-must-not-leak',
    };
    const { alerts, clock, logs } = setup({
      notifiers: [
        { type: 'slack', url: `${echo.url}${secrets.slackPath}` },
        { type: 'discord', url: `${echo.url}/api/webhooks/42/${secrets.discordToken}` },
        { type: 'telegram', token: secrets.telegram, chatId: 1, apiUrl: echo.url },
        {
          type: 'webhook',
          url: `${echo.url}/hook?key=${secrets.hmac}`,
          secret: secrets.hmac,
          headers: { Authorization: `Bearer ${secrets.bearer}` },
        },
        {
          type: 'email',
          host: '127.0.0.1',
          port: down,
          security: 'none',
          user: 'moat',
          password: secrets.smtpPassword,
          from: 'moat@example.com',
          to: ['ops@example.com'],
        },
      ],
      groupWindow: '1s',
      retry: { attempts: 2, initialDelay: '1s' },
    });
    const results = await alerts.test();
    assert.deepEqual(
      results.map((x) => [x.name, x.ok]),
      [
        ['slack', false],
        ['discord', false],
        ['telegram', false],
        ['webhook', false],
        ['email', false],
      ],
    );
    alerts.send(event('api'));
    clock.advance(1000);
    await until(() => alerts.stats().notifiers.every((n) => n.failures >= 1), 'first failures');
    clock.advance(2000);
    await until(() => alerts.stats().notifiers.every((n) => n.dropped === 1), 'all dropped');
    assert.ok(echo.requests.length >= 12, 'the receiver saw (and echoed) the secret-bearing requests');

    const text = `${logs()}\n${JSON.stringify(results)}`;
    assert.match(text, /alert dropped/);
    assert.match(text, /\[redacted\]/, 'the echoed secrets were scrubbed, not absent by luck');
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!text.includes(secret), `${name} leaked`);
    }
    assert.ok(!text.includes('sl4ckT0ken'));
    assert.ok(!text.includes('AAH-super-secret'));
  });
});
