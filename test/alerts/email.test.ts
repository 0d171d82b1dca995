/** The email notifier against a real SMTP server (the smtp-server package) on loopback: plain, STARTTLS, TLS, auth. */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { SMTPServerOptions } from 'smtp-server';
import { createNotifier, type ConfiguredNotifier } from '../../src/alerts/notifiers.ts';
import type { AlertMessage } from '../../src/alerts/types.ts';
import { notifierSchema, type NotifierInput } from '../../src/config/alerts.ts';
import { createJsonLogger } from '../../src/daemon/log.ts';
import { opensslMissing, selfSignedCertificate, type TlsMaterial } from '../helpers/responders.ts';
import { parseMail, startSmtpSink, type SmtpSink } from './receivers.ts';

const PASSWORD = 'smtp-pa55word-that-must-not-leak';

const message: AlertMessage = {
  severity: 'warning',
  title: 'Banned 198.51.100.7 (ssh-bruteforce)',
  text: '12 failed logins in 60 s\n\nDone:\n- banned 198.51.100.7 for 4h',
  alerts: [
    {
      kind: 'ban',
      severity: 'warning',
      title: 'Banned 198.51.100.7 (ssh-bruteforce)',
      text: '12 failed logins in 60 s',
      incident: '198.51.100.7',
      at: 0,
    },
  ],
  at: Date.UTC(2025, 0, 2, 3, 4, 5),
};

function build(
  input: Partial<Extract<NotifierInput, { type: 'email' }>> & { port: number },
): ConfiguredNotifier {
  return createNotifier(
    notifierSchema.parse({
      type: 'email',
      host: '127.0.0.1',
      from: 'moat@web-1.example',
      to: ['ops@example.com', 'oncall@example.com'],
      timeout: '3s',
      ...input,
    }),
    { logger: createJsonLogger({ write: () => true }), host: 'web-1', where: 'alerts.notifiers[0]' },
  );
}

const sinks: SmtpSink[] = [];
async function sink(...args: Parameters<typeof startSmtpSink>): Promise<SmtpSink> {
  const s = await startSmtpSink(...args);
  sinks.push(s);
  return s;
}
after(async () => {
  await Promise.all(sinks.map((s) => s.close()));
});

const tlsSkip = opensslMissing();
let material: TlsMaterial | undefined;
let caFile = '';
function tlsMaterial(): TlsMaterial {
  if (material === undefined) {
    material = selfSignedCertificate(['127.0.0.1']);
    caFile = path.join(mkdtempSync(path.join(tmpdir(), 'moat-smtp-')), 'ca.pem');
    writeFileSync(caFile, material.cert);
  }
  return material;
}

function authAs(user: string, password: string): NonNullable<SMTPServerOptions['onAuth']> {
  return (auth, _session, callback) => {
    if (auth.username === user && auth.password === password) callback(null, { user });
    else callback(new Error('Invalid username or password'));
  };
}

describe('email notifier', () => {
  it('delivers From, To, Subject and body to a local relay (security none)', async () => {
    const s = await sink({ authOptional: true });
    const notifier = build({ port: s.port, security: 'none' });
    assert.equal(notifier.endpoint, `smtp://127.0.0.1:${s.port}`);
    await notifier.deliver(message);
    const [mail] = await s.waitFor(1);
    assert.ok(mail);
    assert.equal(mail.from, 'moat@web-1.example');
    assert.deepEqual(mail.to, ['ops@example.com', 'oncall@example.com']);
    assert.equal(mail.secure, false);
    const parsed = parseMail(mail.raw);
    assert.equal(parsed.header('from'), 'moat@web-1.example');
    assert.equal(parsed.header('to'), 'ops@example.com, oncall@example.com');
    assert.equal(parsed.header('subject'), '[moat] [WARNING] Banned 198.51.100.7 (ssh-bruteforce)');
    assert.equal(parsed.header('x-moat-severity'), 'warning');
    assert.match(parsed.body, /12 failed logins in 60 s/);
    assert.match(parsed.body, /- banned 198\.51\.100\.7 for 4h/);
    assert.match(parsed.body, /moat on web-1, 2025-01-02T03:04:05\.000Z/);
  });

  it(
    'upgrades with STARTTLS, verifies the certificate against caFile, and logs in',
    { skip: tlsSkip },
    async () => {
      const { key, cert } = tlsMaterial();
      const s = await sink({ key, cert, onAuth: authAs('moat', PASSWORD) });
      const dir = mkdtempSync(path.join(tmpdir(), 'moat-smtp-'));
      writeFileSync(path.join(dir, 'password'), `${PASSWORD}\n`, { mode: 0o600 });
      const notifier = build({
        port: s.port,
        security: 'starttls',
        caFile,
        user: 'moat',
        passwordFile: path.join(dir, 'password'),
      });
      await notifier.deliver(message);
      const [mail] = await s.waitFor(1);
      assert.ok(mail);
      assert.equal(mail.secure, true, 'the session was upgraded before the mail was sent');
      assert.equal(mail.user, 'moat');
      assert.match(parseMail(mail.raw).header('subject') ?? '', /Banned 198\.51\.100\.7/);
    },
  );

  it('connects with TLS from the first byte (security tls)', { skip: tlsSkip }, async () => {
    const { key, cert } = tlsMaterial();
    const s = await sink({ secure: true, key, cert, authOptional: true });
    const notifier = build({ port: s.port, security: 'tls', caFile });
    await notifier.deliver(message);
    const [mail] = await s.waitFor(1);
    assert.equal(mail?.secure, true);
  });

  it('refuses to send in clear when STARTTLS is required but not offered', async () => {
    const s = await sink({ authOptional: true, disabledCommands: ['AUTH', 'STARTTLS'] });
    const notifier = build({ port: s.port, security: 'starttls' });
    await assert.rejects(notifier.deliver(message), { name: 'DeliveryError', message: /^ETLS: .*STARTTLS/ });
    assert.equal(s.mails.length, 0);
  });

  it('refuses a server certificate it cannot verify', { skip: tlsSkip }, async () => {
    const { key, cert } = tlsMaterial();
    const s = await sink({ key, cert, authOptional: true });
    const notifier = build({ port: s.port, security: 'starttls' }); // no caFile: system CAs only
    await assert.rejects(notifier.deliver(message), (error: Error) => {
      assert.match(error.message, /self-signed certificate/);
      return true;
    });
    assert.equal(s.mails.length, 0);
  });

  it('reports a refused login as permanent, without the password', { skip: tlsSkip }, async () => {
    const { key, cert } = tlsMaterial();
    const s = await sink({ key, cert, onAuth: authAs('moat', 'the-right-password') });
    const notifier = build({ port: s.port, security: 'starttls', caFile, user: 'moat', password: PASSWORD });
    await assert.rejects(notifier.deliver(message), (error: Error & { permanent?: boolean }) => {
      assert.match(error.message, /EAUTH/);
      assert.equal(error.permanent, true);
      assert.ok(!error.message.includes(PASSWORD));
      assert.ok(!error.message.includes(Buffer.from(PASSWORD).toString('base64')));
      return true;
    });
    assert.equal(s.mails.length, 0);
  });
});
