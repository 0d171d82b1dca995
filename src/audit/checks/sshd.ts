/**
 * SSH checks (incident 3: scanners and brute-forcers on a VM whose SSH was open to the world with
 * passwords). Pure: reads Facts.sshd and asks exposure where the SSH port reaches.
 */
import { type Evidence, type Finding, findingOf, type Rule, type Severity } from '../../core/finding.ts';
import { cidrScope, parseCidr } from '../../core/ip.ts';
import type { SshdFacts, SshdMatchBlock, SshdSetting } from '../collectors/sshd.ts';
import type { Check, CheckContext, ExposureVerdict, Reach } from '../types.ts';

const READS = '/etc/ssh/sshd_config and the files it Includes (or `sshd -T` on the live host)';

export const sshdPasswordAuthRule: Rule = {
  id: 'sshd-password-auth',
  severity: 'high',
  title: 'SSH accepts password logins',
  why: 'With PasswordAuthentication on, every scanner on the internet can guess passwords for every account, around the clock. Weak or reused passwords fall to these brute-force runs, and the flood of attempts alone can load a small VM until SSH stops answering (incident 3). Keys cannot be guessed. Severity is high when the SSH port is reachable from the internet, lower when only private networks or the host itself reach it.',
  reads: READS,
  fix: 'Install your public key first (`ssh-copy-id user@host`, then check that a key login works), then set `PasswordAuthentication no` in /etc/ssh/sshd_config — and in every file of /etc/ssh/sshd_config.d/ that sets it, since the first value sshd reads wins (cloud images ship 50-cloud-init.conf with `PasswordAuthentication yes`). Run `sshd -t && systemctl reload ssh`, and confirm with `sshd -T | grep -i passwordauthentication`.',
};

export const sshdKbdInteractiveRule: Rule = {
  id: 'sshd-kbd-interactive-auth',
  severity: 'high',
  title: 'SSH accepts keyboard-interactive (PAM password) logins',
  why: 'With UsePAM yes, keyboard-interactive authentication asks PAM, and PAM asks for the account password: it is password login under another name, open to the same brute force even when PasswordAuthentication is no. Severity follows the SSH port’s reach like sshd-password-auth.',
  reads: READS,
  fix: 'Set `KbdInteractiveAuthentication no` (older OpenSSH: `ChallengeResponseAuthentication no`) in /etc/ssh/sshd_config, unless you deliberately use a PAM second factor (then pair it with a key: `AuthenticationMethods publickey,keyboard-interactive`). Run `sshd -t && systemctl reload ssh`.',
};

export const sshdRootLoginRule: Rule = {
  id: 'sshd-root-login',
  severity: 'high',
  title: 'SSH allows root to log in',
  why: 'root is the one account name every attacker knows and the one that owns everything: guessing its password gives the whole host at once, and leaves no trail of which person logged in. `PermitRootLogin yes` with password logins on is high; `yes` with keys only is low (it becomes high the day someone turns passwords back on); `prohibit-password` (the OpenSSH default: root with a key only) is info.',
  reads: READS,
  fix: 'Log in as a named user and use sudo: set `PermitRootLogin no` in /etc/ssh/sshd_config (or keep `prohibit-password` if automation needs root with a key), then `sshd -t && systemctl reload ssh`.',
};

export const sshdOpenToInternetRule: Rule = {
  id: 'sshd-open-to-internet',
  severity: 'medium',
  title: 'SSH port is reachable from the whole internet',
  why: 'An SSH port open to every address draws a constant stream of scanners and brute-force attempts (incident 3: they pushed the CPU to 100% until SSH itself stopped answering) and exposes sshd to any pre-authentication flaw (such as regreSSHion, CVE-2024-6387) before you can patch. Only the people who administer the host need to reach it.',
  reads: `${READS}; the firewall and listening sockets through moat's exposure reasoning`,
  fix: 'Allow SSH only from where you administer the host, e.g. `ufw allow from 203.0.113.10 to any port 22 proto tcp && ufw delete allow 22/tcp`, or bind sshd to a VPN address (`ListenAddress 10.8.0.1` for WireGuard). If it must stay open: keys only, `ufw limit 22/tcp` (or nftables `limit rate`), and fail2ban or `moat watch` to ban brute-forcers.',
};

function where(
  value: { readonly file?: string; readonly line?: number },
  fallbackFile: string,
): { file: string; line?: number } {
  if (value.file === undefined) return { file: fallbackFile };
  return value.line === undefined ? { file: value.file } : { file: value.file, line: value.line };
}

/** Evidence for a setting: its line (or that the default applies), then the lines sshd ignores. */
function settingEvidence(facts: SshdFacts, name: string, setting: SshdSetting): Evidence[] {
  let first: Evidence;
  if (setting.origin === 'default') {
    first = {
      file: facts.configFile,
      detail: `${name} is not set, so OpenSSH's default applies: ${setting.value}`,
    };
  } else if (setting.origin === 'sshd -T') {
    first = { detail: `sshd -T reports ${name.toLowerCase()} ${setting.value}` };
  } else {
    first = { ...where(setting, facts.configFile), detail: `${name} ${setting.value}` };
  }
  const ignored = setting.ignored.map((value): Evidence => ({
    ...where(value, facts.configFile),
    detail: `${name} ${value.value} is ignored: sshd uses the first value it reads (${first.file ?? 'sshd -T'}${first.line === undefined ? '' : `:${first.line}`})`,
  }));
  return [first, ...ignored];
}

/** True when an unauthenticated client may start with `method` (AuthenticationMethods allows it first). */
export function offeredFirst(authenticationMethods: string, method: string): boolean {
  if (authenticationMethods.trim().toLowerCase() === 'any') return true;
  return authenticationMethods
    .split(/\s+/)
    .some((list) => (list.split(',')[0] ?? '').split(':')[0]?.toLowerCase() === method);
}

interface SshExposure {
  readonly reach: Reach;
  readonly verdicts: readonly { readonly port: number; readonly verdict: ExposureVerdict }[];
}

function assessSsh(facts: SshdFacts, context: CheckContext): SshExposure {
  const ports = new Set(facts.ports.map((p) => p.port));
  for (const listen of facts.listenAddresses) if (listen.port !== undefined) ports.add(listen.port);
  const verdicts = [...ports]
    .sort((a, b) => a - b)
    .map((port) => {
      const binds = facts.listenAddresses
        .filter((l) => l.port === undefined || l.port === port)
        .map((l) => l.address);
      return { port, verdict: context.exposure.assess({ service: 'ssh', port, protocol: 'tcp', binds }) };
    });
  const reaches = verdicts.map((v) => v.verdict.reach);
  const reach: Reach = reaches.includes('internet')
    ? 'internet'
    : reaches.includes('private')
      ? 'private'
      : 'local';
  return { reach, verdicts };
}

function bySshReach(reach: Reach): Severity {
  return reach === 'internet' ? 'high' : reach === 'private' ? 'medium' : 'low';
}

function reachEvidence(exposure: SshExposure): Evidence[] {
  return exposure.verdicts.map(({ port, verdict }) => ({
    detail: `port ${port} reach: ${verdict.reach} (${verdict.reasons.join('; ')})`,
  }));
}

/** A Match block that only applies to connections from private or loopback addresses. */
function onlyFromPrivate(block: SshdMatchBlock): boolean {
  const criteria = block.criteria.map((c) => c.toLowerCase());
  const index = criteria.indexOf('address');
  if (index < 0) return false;
  const patterns = (block.criteria[index + 1] ?? '').split(',');
  return patterns.every((pattern) => {
    if (pattern.startsWith('!')) return true;
    const cidr = parseCidr(pattern);
    return cidr !== undefined && (cidrScope(cidr) === 'private' || cidrScope(cidr) === 'loopback');
  });
}

function matchEvidence(block: SshdMatchBlock, keyword: string, name: string): Evidence[] {
  const value = block.settings[keyword];
  return [
    { file: block.file, line: block.line, detail: `Match ${block.criteria.join(' ')}` },
    ...(value
      ? [{ ...where(value, block.file), detail: `${name} ${value.value} (inside the Match block)` }]
      : []),
  ];
}

function matchSeverity(block: SshdMatchBlock, reach: Reach): Severity {
  if (block.criteria.length === 1 && block.criteria[0]?.toLowerCase() === 'all') return bySshReach(reach);
  if (onlyFromPrivate(block) || reach !== 'internet') return 'low';
  return 'medium';
}

/** PasswordAuthentication yes, and AuthenticationMethods lets a client start with a password. */
function passwordLoginOn(facts: SshdFacts): boolean {
  return (
    facts.passwordAuthentication.value === 'yes' &&
    offeredFirst(facts.authenticationMethods.value, 'password')
  );
}

/** Keyboard-interactive through PAM (which asks for the password), offered as a first method. */
function kbdLoginOn(facts: SshdFacts): boolean {
  return (
    facts.usePam.value === 'yes' &&
    facts.kbdInteractiveAuthentication.value === 'yes' &&
    offeredFirst(facts.authenticationMethods.value, 'keyboard-interactive')
  );
}

function passwordFindings(facts: SshdFacts, exposure: SshExposure): Finding[] {
  const findings: Finding[] = [];
  const methods = facts.authenticationMethods;
  const methodsEvidence: Evidence[] =
    methods.origin === 'default'
      ? []
      : [{ ...where(methods, facts.configFile), detail: `AuthenticationMethods ${methods.value}` }];
  const passwordOn = passwordLoginOn(facts);
  if (passwordOn) {
    findings.push(
      findingOf(
        sshdPasswordAuthRule,
        [
          ...settingEvidence(facts, 'PasswordAuthentication', facts.passwordAuthentication),
          ...methodsEvidence,
          ...reachEvidence(exposure),
        ],
        { severity: bySshReach(exposure.reach) },
      ),
    );
  }
  const pamOn = facts.usePam.value === 'yes';
  const kbdOn = kbdLoginOn(facts);
  if (kbdOn) {
    findings.push(
      findingOf(
        sshdKbdInteractiveRule,
        [
          ...settingEvidence(facts, 'KbdInteractiveAuthentication', facts.kbdInteractiveAuthentication),
          ...settingEvidence(facts, 'UsePAM', facts.usePam).slice(0, 1),
          ...methodsEvidence,
          ...reachEvidence(exposure),
        ],
        { severity: bySshReach(exposure.reach) },
      ),
    );
  }
  for (const block of facts.matchBlocks) {
    const blockMethods = block.settings['authenticationmethods']?.value ?? methods.value;
    if (
      !passwordOn &&
      block.settings['passwordauthentication']?.value === 'yes' &&
      offeredFirst(blockMethods, 'password')
    ) {
      findings.push(
        findingOf(
          sshdPasswordAuthRule,
          [
            ...matchEvidence(block, 'passwordauthentication', 'PasswordAuthentication'),
            ...reachEvidence(exposure),
          ],
          {
            severity: matchSeverity(block, exposure.reach),
            title: `SSH accepts password logins for connections matching "Match ${block.criteria.join(' ')}"`,
          },
        ),
      );
    }
    if (
      !kbdOn &&
      pamOn &&
      block.settings['kbdinteractiveauthentication']?.value === 'yes' &&
      offeredFirst(blockMethods, 'keyboard-interactive')
    ) {
      findings.push(
        findingOf(
          sshdKbdInteractiveRule,
          [
            ...matchEvidence(block, 'kbdinteractiveauthentication', 'KbdInteractiveAuthentication'),
            ...reachEvidence(exposure),
          ],
          {
            severity: matchSeverity(block, exposure.reach),
            title: `SSH accepts keyboard-interactive (PAM password) logins for connections matching "Match ${block.criteria.join(' ')}"`,
          },
        ),
      );
    }
  }
  return findings;
}

function rootFindings(facts: SshdFacts, exposure: SshExposure, passwordsOffered: boolean): Finding[] {
  const findings: Finding[] = [];
  const setting = facts.permitRootLogin;
  const evidence = settingEvidence(facts, 'PermitRootLogin', setting);
  if (setting.value === 'yes') {
    findings.push(
      passwordsOffered
        ? findingOf(
            sshdRootLoginRule,
            [
              ...evidence,
              { detail: 'password or keyboard-interactive logins are on, so root’s password can be guessed' },
              ...reachEvidence(exposure),
            ],
            {
              severity: bySshReach(exposure.reach),
              title: 'SSH allows root to log in with a password',
            },
          )
        : findingOf(
            sshdRootLoginRule,
            [...evidence, { detail: 'password logins are off today, so root needs a key' }],
            {
              severity: 'low',
              title: 'SSH allows root to log in (keys only today)',
            },
          ),
    );
  } else if (setting.value === 'prohibit-password') {
    findings.push(
      findingOf(sshdRootLoginRule, evidence, {
        severity: 'info',
        title: 'SSH allows root to log in with a key (prohibit-password)',
      }),
    );
  }
  if (setting.value !== 'yes') {
    for (const block of facts.matchBlocks) {
      if (block.settings['permitrootlogin']?.value !== 'yes') continue;
      findings.push(
        findingOf(sshdRootLoginRule, matchEvidence(block, 'permitrootlogin', 'PermitRootLogin'), {
          severity: matchSeverity(block, exposure.reach),
          title: `SSH allows root to log in for connections matching "Match ${block.criteria.join(' ')}"`,
        }),
      );
    }
  }
  return findings;
}

function openFindings(facts: SshdFacts, exposure: SshExposure): Finding[] {
  return exposure.verdicts
    .filter(({ verdict }) => verdict.reach === 'internet')
    .map(({ port, verdict }) => {
      const portSetting = facts.ports.find((p) => p.port === port);
      const first: Evidence =
        portSetting?.origin === 'file' && portSetting.file !== undefined
          ? {
              file: portSetting.file,
              ...(portSetting.line === undefined ? {} : { line: portSetting.line }),
              detail: `Port ${port}`,
            }
          : portSetting?.origin === 'default'
            ? { file: facts.configFile, detail: `no Port line: sshd listens on port ${port} (the default)` }
            : { detail: `sshd -T reports port ${port}` };
      const listens = facts.listenAddresses
        .filter((l) => l.file !== undefined && (l.port === undefined || l.port === port))
        .map((l): Evidence => ({ ...where(l, facts.configFile), detail: `ListenAddress ${l.address}` }));
      return findingOf(
        sshdOpenToInternetRule,
        [first, ...listens, ...verdict.reasons.map((detail) => ({ detail }))],
        {
          title: `SSH port ${port} is reachable from the whole internet`,
        },
      );
    });
}

export const sshdCheck: Check = {
  name: 'sshd',
  rules: [sshdPasswordAuthRule, sshdKbdInteractiveRule, sshdRootLoginRule, sshdOpenToInternetRule],
  run(context) {
    const facts = context.facts.sshd;
    if (!facts) return [];
    const exposure = assessSsh(facts, context);
    return [
      ...passwordFindings(facts, exposure),
      ...rootFindings(facts, exposure, passwordLoginOn(facts) || kbdLoginOn(facts)),
      ...openFindings(facts, exposure),
    ];
  },
};
