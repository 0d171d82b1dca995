/** `moat alerts test` through main(): a test message per notifier, ok/failed with the reason, exit 1 on any failure. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { CliContext } from '../../src/cli/context.ts';
import { main } from '../../src/cli/main.ts';
import { startHttpReceiver, type HttpReceiver } from './receivers.ts';

const TOKEN = '7310042:AAH-super-secret-bot-token_x9';

function capture(): CliContext & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env: {},
    exitCode: 0,
    out: () => out,
    err: () => err,
  };
}

function configFile(yaml: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'moat-alerts-cli-')), 'moat.yaml');
  writeFileSync(file, yaml);
  return file;
}

const receivers: HttpReceiver[] = [];
after(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

describe('moat alerts test', () => {
  it('sends one test message to each notifier and exits 0 when all arrive', async () => {
    const hook = await startHttpReceiver();
    const telegram = await startHttpReceiver(() => ({ status: 200, body: '{"ok":true,"result":{}}' }));
    receivers.push(hook, telegram);
    const file = configFile(
      [
        'alerts:',
        '  notifiers:',
        '    - type: webhook',
        '      name: ops-hook',
        `      url: ${hook.url}/moat`,
        '      secret: 0123456789abcdef0123',
        '    - type: telegram',
        `      token: "${TOKEN}"`,
        '      chatId: -100200300',
        `      apiUrl: ${telegram.url}`,
        '',
      ].join('\n'),
    );
    const context = capture();
    assert.equal(await main(['--config', file, 'alerts', 'test'], context), 0);
    assert.equal(
      context.out(),
      `ok      ops-hook (webhook)   ${hook.url}\nok      telegram (telegram)  ${telegram.url}\n`,
    );
    assert.equal(hook.requests.length, 1);
    const body = JSON.parse(hook.requests[0]?.body ?? '{}') as { title: string; alerts: { kind: string }[] };
    assert.equal(body.title, 'Test message from moat');
    assert.equal(body.alerts[0]?.kind, 'test');
    assert.equal(telegram.requests[0]?.url, `/bot${TOKEN}/sendMessage`);
    assert.equal(JSON.parse(telegram.requests[0]?.body ?? '{}').chat_id, -100200300);
  });

  it('prints the reason of each failure, without secrets, and exits 1', async () => {
    const hook = await startHttpReceiver();
    const slack = await startHttpReceiver((q) => ({ status: 404, body: `no_service ${q.url}` }));
    receivers.push(hook, slack);
    const file = configFile(
      [
        'alerts:',
        '  notifiers:',
        '    - type: webhook',
        `      url: ${hook.url}`,
        '    - type: slack',
        `      url: ${slack.url}/services/T0001/B0002/sl4ckT0kenSecretValue42`,
        '',
      ].join('\n'),
    );
    const context = capture();
    assert.equal(await main(['--config', file, 'alerts', 'test'], context), 1);
    assert.equal(
      context.out(),
      `ok      webhook (webhook)  ${hook.url}\n` +
        `failed  slack (slack)      ${slack.url}: HTTP 404: no_service [redacted]\n`,
    );
    assert.ok(!`${context.out()}${context.err()}`.includes('sl4ckT0ken'));
  });

  it('tests only the notifiers named with --notifier, and prints JSON with --json', async () => {
    const a = await startHttpReceiver();
    const b = await startHttpReceiver();
    receivers.push(a, b);
    const file = configFile(
      `alerts:\n  notifiers:\n    - { type: webhook, name: a, url: "${a.url}" }\n    - { type: webhook, name: b, url: "${b.url}" }\n`,
    );
    const context = capture();
    assert.equal(await main(['--config', file, 'alerts', 'test', '--notifier', 'b', '--json'], context), 0);
    assert.deepEqual(JSON.parse(context.out()), [{ name: 'b', type: 'webhook', endpoint: b.url, ok: true }]);
    assert.equal(a.requests.length, 0);
    assert.equal(b.requests.length, 1);

    const unknown = capture();
    assert.equal(await main(['--config', file, 'alerts', 'test', '--notifier', 'c'], unknown), 2);
    assert.match(
      unknown.err(),
      /^error: no notifier named c in alerts\.notifiers\n.*\n {2}\(code MOAT_ALERTS_NONE\)/,
    );
  });

  it('says so, with exit 2, when no notifier is configured', async () => {
    const context = capture();
    assert.equal(await main(['--config', configFile('alerts: {}\n'), 'alerts', 'test'], context), 2);
    assert.match(
      context.err(),
      /^error: no notifiers configured \(alerts\.notifiers is empty\)\nhint: Add one under/,
    );
  });

  it('names the key of an unreadable secret file', async () => {
    const file = configFile(
      'alerts:\n  notifiers:\n    - type: telegram\n      tokenFile: /nonexistent/moat/token\n      chatId: 1\n',
    );
    const context = capture();
    assert.equal(await main(['--config', file, 'alerts', 'test'], context), 2);
    assert.match(
      context.err(),
      /^error: alerts\.notifiers\[0\]\.tokenFile: cannot read \/nonexistent\/moat\/token \(ENOENT\)\n.*\n {2}\(code MOAT_SECRET_FILE\)/,
    );
  });
});
