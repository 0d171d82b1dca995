/** Each HTTP notifier against a local receiver: the body it sends, signatures, limits, and no secret leaks. */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createNotifier, type ConfiguredNotifier } from '../../src/alerts/notifiers.ts';
import type { Alert, AlertMessage } from '../../src/alerts/types.ts';
import { notifierSchema, type NotifierInput } from '../../src/config/alerts.ts';
import { createJsonLogger } from '../../src/daemon/log.ts';
import { freePort, startHttpReceiver, type HttpReceiver } from './receivers.ts';

const SECRET = 'whsec-0123456789abcdef-not-a-real-key';
const TOKEN = '7310042:AAH-super-secret-bot-token_x9';
const SLACK_PATH = '/services/T0001/B0002/sl4ckT0kenSecretValue42';

function capturedLogs() {
  let text = '';
  return { logger: createJsonLogger({ write: (s: string) => (text += s) }), text: () => text };
}

function build(input: NotifierInput, logs = capturedLogs()): ConfiguredNotifier {
  return createNotifier(notifierSchema.parse(input), {
    logger: logs.logger,
    host: 'web-1',
    where: 'alerts.notifiers[0]',
  });
}

const alert: Alert = {
  kind: 'redis-hijack',
  severity: 'critical',
  title: 'Redis cache hijacked: REPLICAOF 203.0.113.9:24798 from 198.51.100.7',
  text: 'role flipped to replica of 203.0.113.9:24798',
  incident: '198.51.100.7',
  ip: '198.51.100.7',
  actions: ['REPLICAOF NO ONE', 'banned 198.51.100.7 for 4h'],
  fields: { instance: 'cache' },
  at: Date.UTC(2025, 0, 2, 3, 4, 5),
};

const message: AlertMessage = {
  severity: 'critical',
  title: alert.title,
  text: `${alert.text}\n\nDone:\n- REPLICAOF NO ONE`,
  alerts: [alert],
  at: alert.at,
};

const receivers: HttpReceiver[] = [];
async function receiver(...args: Parameters<typeof startHttpReceiver>): Promise<HttpReceiver> {
  const r = await startHttpReceiver(...args);
  receivers.push(r);
  return r;
}
after(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

describe('webhook notifier', () => {
  it('POSTs the message as JSON with an HMAC-SHA256 signature over timestamp and body', async () => {
    const r = await receiver();
    const notifier = build({ type: 'webhook', url: `${r.url}/hooks/moat`, secret: SECRET });
    const before = Math.floor(Date.now() / 1000);
    await notifier.deliver(message);
    const [request] = await r.waitFor(1);
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.url, '/hooks/moat');
    assert.equal(request.headers['content-type'], 'application/json');
    const body = JSON.parse(request.body) as Record<string, unknown>;
    assert.equal(body['host'], 'web-1');
    assert.equal(body['severity'], 'critical');
    assert.equal(body['title'], alert.title);
    assert.deepEqual(body['alerts'], [alert]);

    // What a receiver does: recompute HMAC(secret, "<timestamp>.<raw body>") and compare in constant time.
    const timestamp = String(request.headers['x-moat-timestamp']);
    assert.ok(Math.abs(Number(timestamp) - before) <= 5, 'timestamp is the current time in seconds');
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${request.body}`).digest('hex')}`;
    const given = String(request.headers['x-moat-signature']);
    assert.equal(given.length, expected.length);
    assert.ok(timingSafeEqual(Buffer.from(given), Buffer.from(expected)));
    // A different key, or the same body under another timestamp, does not verify.
    const wrongKey = `sha256=${createHmac('sha256', 'another-key-entirely').update(`${timestamp}.${request.body}`).digest('hex')}`;
    assert.notEqual(given, wrongKey);
    const replayed = `sha256=${createHmac('sha256', SECRET)
      .update(`${Number(timestamp) + 600}.${request.body}`)
      .digest('hex')}`;
    assert.notEqual(given, replayed);
  });

  it('keeps one delivery id across retries of a message, and sends no signature without a secret', async () => {
    const r = await receiver();
    const notifier = build({ type: 'webhook', url: r.url });
    await notifier.deliver(message);
    await notifier.deliver(message);
    await notifier.deliver({ ...message, title: 'another' });
    const requests = await r.waitFor(3);
    const ids = requests.map((q) => q.headers['x-moat-delivery']);
    assert.match(String(ids[0]), /^[0-9a-f]{32}$/);
    assert.equal(ids[0], ids[1]);
    assert.notEqual(ids[0], ids[2]);
    assert.equal(requests[0]?.headers['x-moat-signature'], undefined);
  });

  it('reads the key from secretFile and sends extra headers', async () => {
    const r = await receiver();
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-alerts-'));
    const file = path.join(dir, 'hmac.key');
    writeFileSync(file, `${SECRET}\n`, { mode: 0o600 });
    const notifier = build({
      type: 'webhook',
      url: r.url,
      secretFile: file,
      headers: { Authorization: 'Bearer abcdef-bearer-token' },
    });
    await notifier.deliver(message);
    const [request] = await r.waitFor(1);
    assert.ok(request);
    const ts = String(request.headers['x-moat-timestamp']);
    assert.equal(
      request.headers['x-moat-signature'],
      `sha256=${createHmac('sha256', SECRET).update(`${ts}.${request.body}`).digest('hex')}`,
    );
    assert.equal(request.headers['authorization'], 'Bearer abcdef-bearer-token');
  });

  it('warns about a secret file every user can read, and fails clearly on a missing one', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-alerts-'));
    const file = path.join(dir, 'hmac.key');
    writeFileSync(file, SECRET);
    chmodSync(file, 0o644);
    const logs = capturedLogs();
    build({ type: 'webhook', url: 'http://127.0.0.1:9/x', secretFile: file }, logs);
    assert.match(logs.text(), /secret file is readable by every user/);
    assert.doesNotMatch(logs.text(), new RegExp(SECRET));
    assert.throws(
      () => build({ type: 'webhook', url: 'http://127.0.0.1:9/x', secretFile: path.join(dir, 'nope') }),
      {
        code: 'MOAT_SECRET_FILE',
        message: /alerts\.notifiers\[0\]\.secretFile: cannot read .*nope \(ENOENT\)/,
      },
    );
  });

  it('marks 4xx as permanent and 5xx as worth a retry, with Retry-After honoured', async () => {
    let status = 404;
    const r = await receiver(() => ({ status, body: 'no such hook', headers: { 'retry-after': '7' } }));
    const notifier = build({ type: 'webhook', url: r.url });
    await assert.rejects(notifier.deliver(message), {
      name: 'DeliveryError',
      message: 'HTTP 404: no such hook',
      permanent: true,
    });
    status = 503;
    await assert.rejects(notifier.deliver(message), { permanent: false, retryAfterMs: 7000 });
    status = 429;
    await assert.rejects(notifier.deliver(message), { permanent: false });
  });

  it('times out a receiver that accepts the connection and never answers', async () => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
    try {
      const port = (silent.address() as net.AddressInfo).port;
      const notifier = build({ type: 'webhook', url: `http://127.0.0.1:${port}/`, timeout: '200ms' });
      const started = Date.now();
      await assert.rejects(notifier.deliver(message), { message: 'timed out after 200 ms' });
      assert.ok(Date.now() - started < 2000);
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
    }
  });
});

describe('Slack notifier', () => {
  it('posts text and blocks to the incoming-webhook URL, escaping control characters', async () => {
    const r = await receiver();
    const notifier = build({ type: 'slack', url: `${r.url}${SLACK_PATH}` });
    const sneaky: AlertMessage = { ...message, title: 'user <!channel> & <http://evil.example|click>' };
    await notifier.deliver(sneaky);
    const [request] = await r.waitFor(1);
    assert.ok(request);
    assert.equal(request.url, SLACK_PATH);
    const body = JSON.parse(request.body) as {
      text: string;
      blocks: { type: string; text?: { text: string } }[];
    };
    assert.match(body.text, /^\[CRITICAL\] user <!channel>/); // the notification fallback is plain text
    assert.equal(body.blocks[0]?.type, 'section');
    assert.equal(
      body.blocks[0]?.text?.text,
      '*[CRITICAL] user &lt;!channel&gt; &amp; &lt;http://evil.example|click&gt;*',
    );
    assert.match(body.blocks[1]?.text?.text ?? '', /role flipped to replica/);
    assert.equal(body.blocks[2]?.type, 'context');
  });

  it('never shows the webhook URL in an error, even when the receiver echoes it', async () => {
    const r = await receiver((q) => ({ status: 403, body: `invalid_token for ${q.url}` }));
    const notifier = build({ type: 'slack', url: `${r.url}${SLACK_PATH}` });
    assert.equal(notifier.endpoint, r.url);
    const error = (await notifier.deliver(message).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error;
    assert.ok(error instanceof Error);
    assert.match(error.message, /^HTTP 403: invalid_token for \[redacted\]$/);
    assert.doesNotMatch(error.message, /sl4ckT0ken/);
  });
});

describe('Discord notifier', () => {
  it('keeps content within 2000 characters, puts the text in an embed and pings nobody', async () => {
    const r = await receiver(() => ({ status: 204 }));
    const notifier = build({ type: 'discord', url: `${r.url}/api/webhooks/123/disc0rdT0kenSecretValue` });
    const long: AlertMessage = { ...message, title: `@everyone ${'x'.repeat(5000)}`, text: 'y'.repeat(9000) };
    await notifier.deliver(long);
    const [request] = await r.waitFor(1);
    assert.ok(request);
    assert.equal(request.url, '/api/webhooks/123/disc0rdT0kenSecretValue');
    const body = JSON.parse(request.body) as {
      content: string;
      embeds: { description: string; color: number; footer: { text: string } }[];
      allowed_mentions: { parse: string[] };
    };
    assert.equal(body.content.length, 2000);
    assert.ok(body.content.startsWith('**[CRITICAL]** @everyone xxx'));
    assert.equal(body.embeds[0]?.description.length, 4096);
    assert.equal(body.embeds[0]?.footer.text, 'moat on web-1');
    assert.deepEqual(body.allowed_mentions, { parse: [] });
  });
});

describe('Telegram notifier', () => {
  it('calls sendMessage on the bot path with the chat id, HTML-escaped', async () => {
    const r = await receiver(() => ({ status: 200, body: '{"ok":true,"result":{"message_id":1}}' }));
    const notifier = build({ type: 'telegram', token: TOKEN, chatId: -1001234567890, apiUrl: r.url });
    await notifier.deliver({ ...message, title: 'a <b> & c' });
    const [request] = await r.waitFor(1);
    assert.ok(request);
    assert.equal(request.url, `/bot${TOKEN}/sendMessage`);
    const body = JSON.parse(request.body) as { chat_id: number; text: string; parse_mode: string };
    assert.equal(body.chat_id, -1001234567890);
    assert.equal(body.parse_mode, 'HTML');
    assert.match(body.text, /^<b>\[CRITICAL\] a &lt;b&gt; &amp; c<\/b>\n\nrole flipped/);
    assert.ok(body.text.endsWith('<i>moat on web-1</i>'));
  });

  it("reports the Bot API's description, and never the token, when it refuses", async () => {
    const r = await receiver(() => ({
      status: 400,
      body: `{"ok":false,"error_code":400,"description":"Bad Request: chat not found for bot${TOKEN}"}`,
    }));
    const dir = mkdtempSync(path.join(tmpdir(), 'moat-alerts-'));
    writeFileSync(path.join(dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
    const notifier = build({
      type: 'telegram',
      tokenFile: path.join(dir, 'token'),
      chatId: '@moat_ops',
      apiUrl: r.url,
    });
    await assert.rejects(notifier.deliver(message), (error: Error & { permanent?: boolean }) => {
      assert.equal(error.message, 'HTTP 400: Bad Request: chat not found for bot[redacted]');
      assert.equal(error.permanent, true);
      return true;
    });
    const [request] = await r.waitFor(1);
    assert.equal(JSON.parse(request?.body ?? '{}').chat_id, '@moat_ops');
  });

  it('names a refused connection without the token in the URL', async () => {
    const port = await freePort();
    const notifier = build({ type: 'telegram', token: TOKEN, chatId: 1, apiUrl: `http://127.0.0.1:${port}` });
    await assert.rejects(notifier.deliver(message), (error: Error) => {
      assert.match(error.message, /ECONNREFUSED/);
      assert.ok(!error.message.includes(TOKEN.split(':')[1] as string));
      return true;
    });
  });
});
