/**
 * The SSH probe against real sshd processes on free loopback ports: the banner, and the methods
 * offered after a key exchange and a `none` request (no password is ever sent).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runProbe } from '../../src/probe/index.ts';
import { type RunningServer, sshdMissing, startSshd } from './servers.ts';

const config = { timeoutMs: 3000, concurrency: 16, maxTargets: 256 };

async function withSshd(
  lines: readonly string[],
  body: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await startSshd(lines);
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

describe('ssh probe (real sshd)', { skip: sshdMissing() }, () => {
  test('PasswordAuthentication yes is reported, with the banner and the methods list', async () => {
    await withSshd(['PasswordAuthentication yes', 'KbdInteractiveAuthentication no'], async (server) => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [server.port], config });
      const password = report.findings.find((f) => f.id === 'probe-ssh-password-auth');
      assert.equal(password?.severity, 'medium');
      assert.match(
        password?.evidence[0]?.detail ?? '',
        /offers password in its reply to a "none" request for user moat-probe: publickey,password$/,
      );
      const banner = report.findings.find((f) => f.id === 'probe-ssh-banner');
      assert.match(
        banner?.evidence[0]?.detail ?? '',
        /identifies as "SSH-2\.0-OpenSSH_[^"]+"; host key SHA256:\S+ \(ssh-ed25519\)/,
      );
      // sshd logs the session when it ends, which can be a moment after the probe has its answer.
      for (let i = 0; i < 100 && !/moat-probe/.test(server.log()); i++) await sleep(20);
      assert.match(server.log(), /moat-probe/);
    });
  });

  test('keyboard-interactive alone also counts as password authentication', async () => {
    await withSshd(['PasswordAuthentication no', 'KbdInteractiveAuthentication yes'], async (server) => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [server.port], config });
      const password = report.findings.find((f) => f.id === 'probe-ssh-password-auth');
      assert.match(password?.evidence[0]?.detail ?? '', /offers keyboard-interactive/);
    });
  });

  test('public-key only: the banner is reported, no password finding', async () => {
    await withSshd(['PasswordAuthentication no', 'KbdInteractiveAuthentication no'], async (server) => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [server.port], config });
      assert.deepEqual(report.findings.map((f) => f.id).sort(), ['probe-port-open', 'probe-ssh-banner']);
      assert.match(
        report.findings.find((f) => f.id === 'probe-ssh-banner')?.evidence[0]?.detail ?? '',
        /methods offered: publickey$/,
      );
    });
  });

  for (const [kex, cipher, mac] of [
    ['ecdh-sha2-nistp256', 'aes256-ctr', 'hmac-sha2-512-etm@openssh.com'],
    ['diffie-hellman-group14-sha256', 'aes128-ctr', 'hmac-sha2-256'],
    ['curve25519-sha256', 'aes256-gcm@openssh.com', 'hmac-sha2-256'],
  ] as const) {
    test(`reads the methods over ${kex} + ${cipher}${cipher.includes('gcm') ? '' : ` + ${mac}`}`, async () => {
      await withSshd(
        ['PasswordAuthentication yes', `KexAlgorithms ${kex}`, `Ciphers ${cipher}`, `MACs ${mac}`],
        async (server) => {
          const report = await runProbe({ targets: ['127.0.0.1'], ports: [server.port], config });
          assert.ok(
            report.findings.some((f) => f.id === 'probe-ssh-password-auth'),
            JSON.stringify(report),
          );
        },
      );
    });
  }

  test('a server with no algorithm in common still yields the banner, and says why the methods are unknown', async () => {
    await withSshd(['Ciphers chacha20-poly1305@openssh.com'], async (server) => {
      const report = await runProbe({ targets: ['127.0.0.1'], ports: [server.port], config });
      const banner = report.findings.find((f) => f.id === 'probe-ssh-banner');
      assert.match(
        banner?.evidence[0]?.detail ?? '',
        /could not be read \(no cipher in common \(server offers chacha20-poly1305@openssh\.com\)\)/,
      );
      assert.equal(
        report.findings.some((f) => f.id === 'probe-ssh-password-auth'),
        false,
      );
    });
  });
});
