/**
 * ufw: /etc/ufw/ufw.conf (ENABLED), /etc/default/ufw (default policies, IPV6), the rule files
 * before.rules, user.rules, after.rules (and their IPv6 twins), and on the live host
 * `ufw status verbose` (whether the firewall is really loaded).
 *
 * The files are iptables-restore text; they are composed into the chains ufw builds in the kernel:
 * INPUT → ufw-before-input (before.rules, then a jump to ufw-user-input: user.rules) →
 * ufw-after-input (after.rules) → the default policy. DOCKER-USER rules written in after.rules
 * (the usual way to make Docker respect ufw) are kept too.
 */

import type { Finding } from '../../core/finding.ts';
import type { FirewallChain, FirewallRule, FirewallRuleset } from '../firewall.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { type IptablesChain, parseIptables, toChains } from './iptables-rules.ts';

export interface UfwSetting {
  readonly value: string;
  readonly file: string;
  readonly line: number;
  /** The line as written. */
  readonly text: string;
}

/** A rule as `ufw allow|deny …` made it, from the `### tuple ###` comments of user.rules. */
export interface UfwUserRule {
  readonly action: 'allow' | 'deny' | 'reject' | 'limit';
  /** `ufw route …` (forwarded traffic). */
  readonly route: boolean;
  /** `tcp`, `udp` or `any`. */
  readonly protocol: string;
  readonly dport: string;
  readonly dst: string;
  readonly sport: string;
  readonly src: string;
  readonly direction: string;
  readonly family: 4 | 6;
  /** The equivalent command, e.g. `ufw deny 6379/tcp`. */
  readonly command: string;
  readonly file: string;
  readonly line: number;
}

export interface UfwFacts {
  /** ENABLED=yes in ufw.conf (or, on the live host, `ufw status` says active). */
  readonly active: boolean;
  readonly enabled?: UfwSetting;
  /** `ufw status` on the live host. */
  readonly status?: 'active' | 'inactive';
  readonly defaults: {
    readonly input?: UfwSetting;
    readonly output?: UfwSetting;
    readonly forward?: UfwSetting;
    readonly ipv6?: UfwSetting;
  };
  readonly userRules: readonly UfwUserRule[];
  /** ufw's chains for IPv4 and (when IPV6=yes) IPv6. */
  readonly rulesets: readonly FirewallRuleset[];
  /** Rule files read, as host paths. */
  readonly files: readonly string[];
}

export const UFW_CONF = '/etc/ufw/ufw.conf';
export const UFW_DEFAULTS = '/etc/default/ufw';

const RULE_FILES = {
  4: ['/etc/ufw/before.rules', '/etc/ufw/user.rules', '/etc/ufw/after.rules'],
  6: ['/etc/ufw/before6.rules', '/etc/ufw/user6.rules', '/etc/ufw/after6.rules'],
} as const;

/** Reads `KEY=value` / `KEY="value"` lines. */
export function parseShellVars(text: string, file: string): Map<string, UfwSetting> {
  const vars = new Map<string, UfwSetting>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const match = /^\s*([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!match) return;
    let value = match[2]!.replace(/\s+#.*$/, '');
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    vars.set(match[1]!, { value, file, line: index + 1, text: raw.trim() });
  });
  return vars;
}

const ANY = new Set(['0.0.0.0/0', '::/0', 'any']);

/** `### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in` → the rule and its ufw command. */
export function parseTuple(
  line: string,
  family: 4 | 6,
  file: string,
  lineNo: number,
): UfwUserRule | undefined {
  const body = line.replace(/^\s*### tuple ###\s*/, '').replace(/\s+comment=\S*$/, '');
  const parts = body.split(/\s+/);
  if (parts.length < 7) return undefined;
  const [rawAction, protocol, dport, dst, sport, src] = parts as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const route = rawAction.startsWith('route:');
  const action = rawAction.replace(/^route:/, '').replace(/_log(-all)?$/, '');
  if (action !== 'allow' && action !== 'deny' && action !== 'reject' && action !== 'limit') return undefined;
  const direction = parts[parts.length - 1]!;
  const apps = parts
    .slice(6, -1)
    .filter((p) => p !== '-')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const command = renderCommand({ route, action, protocol, dport, dst, sport, src, direction, apps });
  return { action, route, protocol, dport, dst, sport, src, direction, family, command, file, line: lineNo };
}

function renderCommand(rule: {
  route: boolean;
  action: string;
  protocol: string;
  dport: string;
  dst: string;
  sport: string;
  src: string;
  direction: string;
  apps: string[];
}): string {
  const head = `ufw ${rule.route ? 'route ' : ''}${rule.action}${rule.direction.startsWith('out') ? ' out' : ''}`;
  if (rule.apps.length > 0 && ANY.has(rule.src) && ANY.has(rule.dst)) return `${head} ${rule.apps.join(' ')}`;
  if (ANY.has(rule.src) && ANY.has(rule.dst) && rule.sport === 'any' && rule.dport !== 'any') {
    return `${head} ${rule.dport}${rule.protocol === 'any' ? '' : `/${rule.protocol}`}`;
  }
  const parts = [head];
  if (rule.protocol !== 'any') parts.push(`proto ${rule.protocol}`);
  parts.push(`from ${ANY.has(rule.src) ? 'any' : rule.src}`);
  if (rule.sport !== 'any') parts.push(`port ${rule.sport}`);
  parts.push(`to ${ANY.has(rule.dst) ? 'any' : rule.dst}`);
  if (rule.dport !== 'any') parts.push(`port ${rule.dport}`);
  return parts.join(' ');
}

/** Maps each `-A` line of user.rules to the tuple comment above it. */
function tuplesByLine(
  text: string,
  family: 4 | 6,
  file: string,
): { rules: UfwUserRule[]; byLine: Map<number, UfwUserRule> } {
  const rules: UfwUserRule[] = [];
  const byLine = new Map<number, UfwUserRule>();
  let current: UfwUserRule | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('### tuple ###')) {
      current = parseTuple(line, family, file, index + 1);
      if (current) rules.push(current);
    } else if (line === '' || line.startsWith('###')) {
      current = undefined;
    } else if (current && line.startsWith('-A')) {
      byLine.set(index + 1, current);
    }
  });
  return { rules, byLine };
}

function policyOf(setting: UfwSetting | undefined): 'accept' | 'drop' {
  // ufw's default when the file does not say: DROP for input and forward.
  return setting?.value.toUpperCase() === 'ACCEPT' ? 'accept' : 'drop';
}

function jump(chain: string, target: string): FirewallRule {
  return { verdict: 'jump', target, text: `-A ${chain} -j ${target}` };
}

/** Builds ufw's INPUT and FORWARD chains around the chains of the rule files. */
function composeRuleset(
  family: 4 | 6,
  chains: Map<string, IptablesChain>,
  defaults: UfwFacts['defaults'],
): FirewallRuleset {
  const frozen = toChains(chains);
  const append = (name: string, rule: FirewallRule) => {
    const existing = frozen[name];
    frozen[name] = { name, rules: [...(existing?.rules ?? []), rule] };
  };
  // ufw's IPv6 chains are named ufw6-…; ufw itself adds these jumps after the rules of before.rules.
  const p = family === 6 ? 'ufw6' : 'ufw';
  append(`${p}-before-input`, jump(`${p}-before-input`, `${p}-user-input`));
  append(`${p}-before-forward`, jump(`${p}-before-forward`, `${p}-user-forward`));
  const base = (
    name: 'INPUT' | 'FORWARD',
    hook: 'input' | 'forward',
    setting: UfwSetting | undefined,
  ): FirewallChain => {
    const part = hook === 'input' ? 'input' : 'forward';
    return {
      name,
      hook,
      policy: policyOf(setting),
      rules: [
        jump(name, `${p}-before-logging-${part}`),
        jump(name, `${p}-before-${part}`),
        jump(name, `${p}-after-${part}`),
        jump(name, `${p}-after-logging-${part}`),
        jump(name, `${p}-reject-${part}`),
        jump(name, `${p}-track-${part}`),
      ],
      ...(setting
        ? { policyFile: setting.file, policyLine: setting.line, policyText: setting.text }
        : { policyText: `ufw's default ${hook} policy (DROP)` }),
    };
  };
  frozen['INPUT'] = base('INPUT', 'input', defaults.input);
  frozen['FORWARD'] = base('FORWARD', 'forward', defaults.forward);
  return { source: '/etc/ufw', name: 'ufw', family, chains: frozen, input: ['INPUT'], forward: ['FORWARD'] };
}

export const ufwCollector: Collector<'ufw'> = {
  name: 'ufw',
  async collect({ host }) {
    const [confText, defaultsText, status, ...ruleTexts] = await Promise.all([
      host.readText(UFW_CONF),
      host.readText(UFW_DEFAULTS),
      host.live ? host.run('ufw', ['status', 'verbose']) : Promise.resolve(undefined),
      ...RULE_FILES[4].map((file) => host.readText(file)),
      ...RULE_FILES[6].map((file) => host.readText(file)),
    ]);
    if (confText === undefined) {
      return { skipped: [{ check: 'ufw', reason: `ufw is not installed (no ${UFW_CONF})` }] };
    }
    const conf = parseShellVars(confText, UFW_CONF);
    const vars =
      defaultsText === undefined ? new Map<string, UfwSetting>() : parseShellVars(defaultsText, UFW_DEFAULTS);
    const enabled = conf.get('ENABLED');
    let statusValue: 'active' | 'inactive' | undefined;
    if (status && status.code === 0) {
      const match = /^Status:\s*(active|inactive)/m.exec(status.stdout);
      if (match) statusValue = match[1] as 'active' | 'inactive';
    }
    const active =
      statusValue !== undefined ? statusValue === 'active' : enabled?.value.toLowerCase() === 'yes';
    const defaults: UfwFacts['defaults'] = {
      ...(vars.get('DEFAULT_INPUT_POLICY') ? { input: vars.get('DEFAULT_INPUT_POLICY')! } : {}),
      ...(vars.get('DEFAULT_OUTPUT_POLICY') ? { output: vars.get('DEFAULT_OUTPUT_POLICY')! } : {}),
      ...(vars.get('DEFAULT_FORWARD_POLICY') ? { forward: vars.get('DEFAULT_FORWARD_POLICY')! } : {}),
      ...(vars.get('IPV6') ? { ipv6: vars.get('IPV6')! } : {}),
    };

    const findings: Finding[] = [];
    const files: string[] = [];
    const userRules: UfwUserRule[] = [];
    const rulesets: FirewallRuleset[] = [];
    const ipv6 = defaults.ipv6?.value.toLowerCase() !== 'no';
    for (const family of [4, 6] as const) {
      if (family === 6 && !ipv6) continue;
      const chains = new Map<string, IptablesChain>();
      const paths = RULE_FILES[family];
      paths.forEach((file, index) => {
        const text = ruleTexts[(family === 4 ? 0 : 3) + index];
        if (text === undefined) return;
        files.push(file);
        const parsed = parseIptables(text, { file, family, chains });
        const error = parsed.errors[0];
        if (error) findings.push(unparsableFile(file, error.line, error.message));
        if (file.endsWith('user.rules') || file.endsWith('user6.rules')) {
          const tuples = tuplesByLine(text, family, file);
          userRules.push(...tuples.rules);
          for (const chain of chains.values()) {
            chain.rules.forEach((rule, at) => {
              const tuple =
                rule.file === file && rule.line !== undefined ? tuples.byLine.get(rule.line) : undefined;
              if (tuple) chain.rules[at] = { ...rule, label: tuple.command };
            });
          }
        }
      });
      rulesets.push(composeRuleset(family, chains, defaults));
    }
    return {
      facts: {
        active,
        ...(enabled ? { enabled } : {}),
        ...(statusValue ? { status: statusValue } : {}),
        defaults,
        userRules,
        rulesets,
        files,
      },
      findings,
    };
  },
};
