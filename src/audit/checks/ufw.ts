/**
 * ufw: inactive, incoming traffic allowed by default, rules that trust whole private ranges. Pure.
 */
import { type Finding, findingOf, type Rule } from '../../core/finding.ts';
import { cidrCovers, cidrScope, parseCidr } from '../../core/ip.ts';
import type { FirewallRule, FirewallRuleset } from '../firewall.ts';
import type { Check } from '../types.ts';

export const ufwInactive: Rule = {
  id: 'ufw-inactive',
  severity: 'high',
  title: 'ufw is installed but inactive, and no other firewall filters incoming traffic',
  why: 'Every service that listens on a public address is open to the internet: a Redis or Elasticsearch bound to 0.0.0.0 is one scan away from being wiped or hijacked (DESIGN.md incidents 1 and 5). Rules added with `ufw allow`/`ufw deny` do nothing while ufw is disabled.',
  reads: '/etc/ufw/ufw.conf (ENABLED), `ufw status` on the live host, nftables/iptables rulesets',
  fix: 'Allow what must stay reachable, then enable: `ufw allow OpenSSH && ufw allow 80,443/tcp && ufw enable` (check `ufw status verbose` afterwards; keep a second SSH session open while you do it).',
};

export const ufwDefaultAllow: Rule = {
  id: 'ufw-default-allow-incoming',
  severity: 'high',
  title: 'ufw allows incoming traffic by default',
  why: 'With DEFAULT_INPUT_POLICY="ACCEPT" every port not explicitly denied is open: any service that starts listening on 0.0.0.0 (a new Redis, a debug server) is reachable from the internet at once.',
  reads: '/etc/default/ufw (DEFAULT_INPUT_POLICY)',
  fix: 'Allow the ports you serve, then deny by default: `ufw allow OpenSSH && ufw allow 80,443/tcp && ufw default deny incoming` (this sets DEFAULT_INPUT_POLICY="DROP" in /etc/default/ufw).',
};

export const ufwTrustsPrivateRange: Rule = {
  id: 'ufw-trusts-private-range',
  severity: 'medium',
  title: 'A ufw rule trusts a whole private address range',
  why: '"Private" cloud networks are often shared with other tenants of the provider or with every VM of the project: trusting all of 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 lets any of them reach your Redis or database (DESIGN.md incident 2, where the private network was shared). In DOCKER-USER, `-j RETURN -s 10.0.0.0/8` opens every published container port to the whole range.',
  reads: '/etc/ufw/user.rules, user6.rules, before.rules, before6.rules, after.rules, after6.rules',
  fix: 'Replace the range with the addresses of the machines that need access, e.g. `ufw delete allow from 10.0.0.0/8` then `ufw allow from 10.0.3.17 to any port 6379 proto tcp`; in after.rules, narrow `-s 10.0.0.0/8` to the app servers’ addresses.',
};

const PRIVATE_BLOCKS = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'].map(
  (text) => parseCidr(text)!,
);

/** The private block a rule's source covers entirely, if any. */
export function wholePrivateRange(source: string): string | undefined {
  const cidr = parseCidr(source);
  if (!cidr || cidr.prefix === 0 || cidrScope(cidr) !== 'private') return undefined;
  const block = PRIVATE_BLOCKS.find(
    (b) => cidrCovers(cidr, b) || (cidr.address.kind() === 'ipv6' && cidr.prefix <= 8 && cidrCovers(b, cidr)),
  );
  return block ? cidr.text : undefined;
}

function internalOnly(rule: FirewallRule): boolean {
  const iface = rule.inInterfaces;
  if (!iface || iface.negated) return false;
  return iface.values.every((name) => name === 'lo' || name.startsWith('docker') || name.startsWith('br-'));
}

function opensNewConnections(rule: FirewallRule, chain: string): boolean {
  if (rule.verdict === 'accept') return true;
  return rule.verdict === 'return' && chain === 'DOCKER-USER';
}

function trustFindings(rulesets: readonly FirewallRuleset[]): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const ruleset of rulesets) {
    for (const [chainName, chain] of Object.entries(ruleset.chains)) {
      for (const rule of chain.rules) {
        if (
          !opensNewConnections(rule, chainName) ||
          !rule.sources ||
          rule.sources.negated ||
          internalOnly(rule)
        )
          continue;
        if (rule.states && !rule.states.values.includes('new') && !rule.states.negated) continue;
        const ranges = rule.sources.values.flatMap((source) => wholePrivateRange(source) ?? []);
        if (ranges.length === 0 || rule.file === undefined) continue;
        const key = `${rule.file}:${rule.line}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const what =
          chainName === 'DOCKER-USER'
            ? 'every published container port'
            : rule.dports
              ? `port ${rule.dports.values.map((p) => (p.from === p.to ? p.from : `${p.from}:${p.to}`)).join(',')}`
              : 'every port';
        findings.push(
          findingOf(
            ufwTrustsPrivateRange,
            [
              {
                file: rule.file,
                ...(rule.line !== undefined ? { line: rule.line } : {}),
                detail: `\`${rule.label ?? rule.text}\` opens ${what} to all of ${ranges.join(', ')}`,
              },
            ],
            { title: `ufw trusts all of ${ranges.join(', ')}` },
          ),
        );
      }
    }
  }
  return findings;
}

export const ufwCheck: Check = {
  name: 'ufw',
  rules: [ufwInactive, ufwDefaultAllow, ufwTrustsPrivateRange],
  run({ facts }) {
    const ufw = facts.ufw;
    if (!ufw) return [];
    const findings: Finding[] = [];
    if (!ufw.active) {
      const otherFilter = (facts.netfilter?.rulesets ?? []).some((ruleset) =>
        ruleset.input.some((name) => {
          const chain = ruleset.chains[name];
          return (
            chain !== undefined &&
            (chain.policy === 'drop' ||
              chain.rules.some((r) => r.verdict === 'drop' || r.verdict === 'reject'))
          );
        }),
      );
      if (!otherFilter) {
        const detail =
          ufw.status === 'inactive'
            ? '`ufw status`: Status: inactive'
            : `\`${ufw.enabled?.text ?? 'ENABLED=no'}\`: ufw is not started at boot`;
        findings.push(
          findingOf(ufwInactive, [
            {
              ...(ufw.enabled
                ? { file: ufw.enabled.file, line: ufw.enabled.line }
                : { file: '/etc/ufw/ufw.conf' }),
              detail,
            },
            { detail: 'no nftables or iptables rule filters incoming traffic either' },
          ]),
        );
      }
      return findings;
    }
    const input = ufw.defaults.input;
    if (input && input.value.toUpperCase() === 'ACCEPT') {
      findings.push(
        findingOf(ufwDefaultAllow, [{ file: input.file, line: input.line, detail: `\`${input.text}\`` }]),
      );
    }
    findings.push(...trustFindings(ufw.rulesets));
    return findings;
  },
};
