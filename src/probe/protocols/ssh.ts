/**
 * SSH: the identification banner, then (when the server's algorithms allow) a key exchange and one
 * `none` authentication request, whose failure reply lists the methods the server offers. No
 * password or key is ever sent. The server logs one connection from an invalid user `moat-probe`.
 */
import { type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { converse, endpointText, line, ProbeIoError } from '../net.ts';
import { notRecognised, type ProbeContext, type ProbeResult, type ProtocolProbe } from '../types.ts';
import { type AuthMethods, CLIENT_VERSION, queryAuthMethods, readBanner } from './ssh-transport.ts';

/** The user named in the `none` request: obviously a probe in the server's log. */
export const PROBE_USER = 'moat-probe';

export const sshBannerRule: Rule = {
  id: 'probe-ssh-banner',
  severity: 'info',
  title: 'SSH answers',
  why: 'The banner names the SSH server and often the distribution and patch level, which tells scanners which vulnerabilities to try; an SSH port open to the world draws constant brute-force traffic (incident 3).',
  reads: 'TCP HOST:PORT: the SSH identification line; the host key from the key exchange',
  fix: 'Limit SSH to the addresses that administer the host (`ufw allow from 203.0.113.0/24 to any port 22 proto tcp`, then `ufw delete allow 22/tcp`), or put it behind a VPN.',
};

export const sshPasswordRule: Rule = {
  id: 'probe-ssh-password-auth',
  severity: 'medium',
  title: 'SSH offers password authentication',
  why: 'Password logins can be brute-forced: scanners try thousands of passwords per hour (incident 3: SSH stopped answering under the load). keyboard-interactive is usually PAM asking for the same password.',
  reads:
    'TCP HOST:PORT: SSH key exchange, then a `none` userauth request for user moat-probe; the methods listed in the failure reply',
  fix: 'Install your public key (`ssh-copy-id`), then set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` in /etc/ssh/sshd_config (and in every file under /etc/ssh/sshd_config.d/), check with `sshd -t`, and `systemctl reload ssh`.',
};

export const sshNoAuthRule: Rule = {
  id: 'probe-ssh-no-auth',
  severity: 'critical',
  title: 'SSH accepts a login without any credentials',
  why: 'The server accepted the `none` authentication method: anyone gets a session without a password or key (PermitEmptyPasswords with an account that has no password, or a broken PAM stack).',
  reads: 'TCP HOST:PORT: SSH key exchange, then a `none` userauth request for user moat-probe',
  fix: 'Set `PermitEmptyPasswords no` in /etc/ssh/sshd_config, lock accounts without passwords (`passwd -l USER`), review /etc/pam.d/sshd, then `systemctl reload ssh`.',
};

export const sshRules: readonly Rule[] = [sshBannerRule, sshPasswordRule, sshNoAuthRule];

export const sshProbe: ProtocolProbe = {
  name: 'ssh',
  rules: sshRules,
  ports: [22, 2222],
  async run(context: ProbeContext): Promise<ProbeResult> {
    const where = endpointText(context.host, context.port);
    const conversation = await converse(context);
    try {
      conversation.write(`${CLIENT_VERSION}\r\n`);
      let banner: string;
      try {
        banner = await readBanner(conversation, line);
      } catch {
        return notRecognised;
      }
      const software = banner.replace(/^SSH-[\d.]+-/, '');
      let methods: AuthMethods | undefined;
      let failure: string | undefined;
      if (!banner.startsWith('SSH-2.0-') && !banner.startsWith('SSH-1.99-')) {
        failure = 'the server does not speak SSH 2';
      } else {
        try {
          methods = await queryAuthMethods(conversation, banner, PROBE_USER);
        } catch (error) {
          failure =
            error instanceof ProbeIoError ? `${error.reason}: ${error.message}` : (error as Error).message;
        }
      }
      const bannerDetail = methods
        ? `${where} identifies as "${banner}"; host key ${methods.hostKeyFingerprint} (${methods.negotiated.hostKey}); authentication methods offered: ${methods.methods.join(', ') || 'none listed'}`
        : `${where} identifies as "${banner}"; the authentication methods could not be read (${failure})`;
      const findings: Finding[] = [
        findingOf(sshBannerRule, [{ detail: bannerDetail }], { title: `SSH answers (${software})` }),
      ];
      if (methods?.noneAccepted) {
        findings.push(
          findingOf(sshNoAuthRule, [
            { detail: `${where} accepted the "none" method for user ${PROBE_USER}` },
          ]),
        );
      } else if (methods) {
        const passwordLike = methods.methods.filter(
          (name) => name === 'password' || name === 'keyboard-interactive',
        );
        if (passwordLike.length > 0) {
          findings.push(
            findingOf(sshPasswordRule, [
              {
                detail: `${where} (${software}) offers ${passwordLike.join(' and ')} in its reply to a "none" request for user ${PROBE_USER}: ${methods.methods.join(',')}`,
              },
            ]),
          );
        }
      }
      return {
        recognised: true,
        service: `SSH ${software}${methods ? ` (auth: ${methods.methods.join(',')})` : ''}`,
        findings,
      };
    } finally {
      conversation.close();
    }
  },
};
