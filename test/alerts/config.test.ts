/** The `alerts` config section: defaults, one rule per validation, and the quick-start `--alert-webhook` mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { webhookFromUrl } from '../../src/alerts/index.ts';
import { parseConfig, parseConfigText } from '../../src/config/load.ts';

function problems(yaml: string): string {
  try {
    parseConfigText(yaml, 'moat.yaml');
  } catch (error) {
    assert.equal((error as { code?: string }).code, 'MOAT_CONFIG_INVALID');
    return (error as Error).message;
  }
  assert.fail('expected the config to be refused');
}

describe('alerts config', () => {
  it('has working defaults and no notifier', () => {
    const { alerts } = parseConfig({});
    assert.deepEqual(alerts, {
      notifiers: [],
      groupWindow: 5000,
      dedupeWindow: 600_000,
      banSummaryThreshold: 5,
      maxPerMinute: 20,
      retry: { attempts: 5, initialDelay: 2000, maxDelay: 300_000 },
      maxPending: 1000,
    });
  });

  it('reads every notifier type with its defaults', () => {
    const { alerts } = parseConfigText(
      [
        'alerts:',
        '  groupWindow: 10s',
        '  notifiers:',
        '    - { type: webhook, url: "https://hooks.example.com/moat", secretFile: /etc/moat/hook.key }',
        '    - { type: slack, urlFile: /etc/moat/slack.url, minSeverity: warning }',
        '    - { type: discord, url: "https://discord.com/api/webhooks/1/abc", maxPerMinute: 5 }',
        '    - { type: telegram, tokenFile: /etc/moat/tg.token, chatId: "@moat_ops" }',
        '    - type: email',
        '      host: smtp.example.com',
        '      user: moat',
        '      passwordFile: /etc/moat/smtp.pass',
        '      from: moat@example.com',
        '      to: [ops@example.com]',
        '',
      ].join('\n'),
      'moat.yaml',
    );
    assert.equal(alerts.groupWindow, 10_000);
    assert.deepEqual(
      alerts.notifiers.map((n) => [n.type, n.minSeverity, n.timeout]),
      [
        ['webhook', 'info', 10_000],
        ['slack', 'warning', 10_000],
        ['discord', 'info', 10_000],
        ['telegram', 'info', 10_000],
        ['email', 'info', 10_000],
      ],
    );
    const email = alerts.notifiers[4];
    assert.ok(email?.type === 'email');
    assert.equal(email.security, 'starttls');
    assert.equal(email.subjectPrefix, '[moat]');
    const telegram = alerts.notifiers[3];
    assert.ok(telegram?.type === 'telegram');
    assert.equal(telegram.apiUrl, 'https://api.telegram.org');
  });

  const refused: [string, string, RegExp][] = [
    [
      'an unknown notifier type',
      '    - { type: pagerduty, url: "https://x.example" }',
      /alerts\.notifiers\.0\.type \(moat\.yaml:3\): Invalid discriminator value\. Expected 'webhook' \| 'slack'/,
    ],
    [
      'a URL that is not http(s)',
      '    - { type: webhook, url: "ftp://x.example/hook" }',
      /alerts\.notifiers\.0\.url \(moat\.yaml:3\): an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'a short HMAC key',
      '    - { type: webhook, url: "https://x.example", secret: short }',
      /alerts\.notifiers\.0\.secret .*: a key of at least 16 characters/,
    ],
    [
      'both secret and secretFile',
      '    - { type: webhook, url: "https://x.example", secret: 0123456789abcdef01, secretFile: /k }',
      /alerts\.notifiers\.0\.secretFile .*: give secret or secretFile, not both/,
    ],
    [
      'a Slack notifier without its URL',
      '    - { type: slack }',
      /alerts\.notifiers\.0\.url .*: give exactly one of url or urlFile/,
    ],
    [
      'a Telegram notifier without a token',
      '    - { type: telegram, chatId: 1 }',
      /alerts\.notifiers\.0\.token .*: give exactly one of token or tokenFile/,
    ],
    [
      'a malformed bot token',
      '    - { type: telegram, token: "not a token", chatId: 1 }',
      /alerts\.notifiers\.0\.token .*: a bot token like 123456:ABC-DEF/,
    ],
    [
      'an SMTP user without a password',
      '    - { type: email, host: h, from: a@b.example, to: [c@d.example], user: moat }',
      /alerts\.notifiers\.0\.password .*: user needs password or passwordFile/,
    ],
    [
      'an email notifier without recipients',
      '    - { type: email, host: h, from: a@b.example, to: [] }',
      /alerts\.notifiers\.0\.to .*: Too small/,
    ],
    [
      'two notifiers with one name',
      '    - { type: webhook, url: "https://a.example" }\n    - { type: webhook, url: "https://b.example" }',
      /alerts\.notifiers\.1\.name .*: a second notifier named webhook; give each a distinct name/,
    ],
    [
      'an unknown severity',
      '    - { type: webhook, url: "https://a.example", minSeverity: high }',
      /alerts\.notifiers\.0\.minSeverity .*; use one of: "info", "warning", "critical"/,
    ],
  ];
  for (const [what, notifier, expected] of refused) {
    it(`refuses ${what}`, () => {
      assert.match(problems(`alerts:\n  notifiers:\n${notifier}\n`), expected);
    });
  }

  it('refuses a window that is not a duration', () => {
    assert.match(
      problems('alerts:\n  groupWindow: 5 seconds\n'),
      /alerts\.groupWindow \(moat\.yaml:2\): a duration/,
    );
  });
});

describe('webhookFromUrl (the --alert-webhook quick start)', () => {
  it('maps a URL to a generic webhook notifier with every default', () => {
    assert.deepEqual(webhookFromUrl('https://hooks.example.com/moat'), {
      type: 'webhook',
      name: 'alert-webhook',
      url: 'https://hooks.example.com/moat',
      minSeverity: 'info',
      timeout: 10_000,
      headers: {},
    });
    const signed = webhookFromUrl('http://127.0.0.1:9000/in', { secret: '0123456789abcdef0123' });
    assert.ok(signed.type === 'webhook');
    assert.equal(signed.secret, '0123456789abcdef0123');
  });

  it('recognises Slack and Discord webhook URLs, which want their own format', () => {
    assert.equal(webhookFromUrl('https://hooks.slack.com/services/T1/B2/xyz').type, 'slack');
    assert.equal(webhookFromUrl('https://discord.com/api/webhooks/1/abc').type, 'discord');
    assert.equal(webhookFromUrl('https://discord.com/other').type, 'webhook');
  });

  it('refuses a non-URL with MOAT_USAGE, without echoing it', () => {
    assert.throws(
      () => webhookFromUrl('hooks.example.com/secret-path-token'),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, 'MOAT_USAGE');
        assert.equal(error.message, '--alert-webhook: not an http:// or https:// URL');
        return true;
      },
    );
  });
});
