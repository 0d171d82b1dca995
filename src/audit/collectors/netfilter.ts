/**
 * nftables and iptables rulesets. On the live host: `nft list ruleset`, `iptables-save` and
 * `ip6tables-save` (what the kernel really holds). With --root, or when those commands cannot run:
 * /etc/nftables.conf (with its includes), /etc/iptables/rules.v4|v6 and /etc/sysconfig/iptables|ip6tables,
 * counted only when the service that loads them is enabled (when the tree shows systemd at all).
 *
 * The result is the approximate firewall model of ../firewall.ts: default policies and ordered
 * accept/drop rules matching port, protocol, source and interface — enough to say whether a port is
 * open to the internet, and whether DOCKER-USER restricts Docker's published ports.
 */

import type { Finding, Skipped } from '../../core/finding.ts';
import type { FirewallRuleset } from '../firewall.ts';
import type { Host } from '../host.ts';
import { unparsableFile } from '../rules.ts';
import type { Collector } from '../types.ts';
import { type DnatRule, parseIptables, toChains } from './iptables-rules.ts';
import { globMatches, includePaths, parseNft } from './nft-rules.ts';

export interface NetfilterFacts {
  /** Every table read, nftables and iptables alike. */
  readonly rulesets: readonly FirewallRuleset[];
  /** Ports Docker publishes, from the DNAT rules of the nat table's DOCKER chain. */
  readonly dockerDnat: readonly DnatRule[];
  /** Sources read or deliberately not counted, for the evidence. */
  readonly notes: readonly string[];
}

export const NFTABLES_CONF = '/etc/nftables.conf';
const IPTABLES_FILES: readonly { path: string; family: 4 | 6; service: string }[] = [
  { path: '/etc/iptables/rules.v4', family: 4, service: 'netfilter-persistent.service' },
  { path: '/etc/iptables/rules.v6', family: 6, service: 'netfilter-persistent.service' },
  { path: '/etc/sysconfig/iptables', family: 4, service: 'iptables.service' },
  { path: '/etc/sysconfig/ip6tables', family: 6, service: 'ip6tables.service' },
];
const WANTS_DIRS = [
  '/etc/systemd/system/sysinit.target.wants',
  '/etc/systemd/system/multi-user.target.wants',
  '/etc/systemd/system/basic.target.wants',
  '/etc/systemd/system/network-pre.target.wants',
];
/** iptables-nft's own tables, which `iptables-save` already shows. */
const IPTABLES_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security']);

export const netfilterCollector: Collector<'netfilter'> = {
  name: 'netfilter',
  async collect({ host }) {
    const findings: Finding[] = [];
    const notes: string[] = [];
    const rulesets: FirewallRuleset[] = [];
    const dockerDnat: DnatRule[] = [];
    const skipped: Skipped[] = [];

    let fromCommands = false;
    if (host.live) {
      const [nft, ipt4, ipt6] = await Promise.all([
        host.run('nft', ['list', 'ruleset']),
        host.run('iptables-save', []),
        host.run('ip6tables-save', []),
      ]);
      let iptablesTables = false;
      for (const [result, family, command] of [
        [ipt4, 4, 'iptables-save'],
        [ipt6, 6, 'ip6tables-save'],
      ] as const) {
        if (result === undefined) continue;
        if (result.code !== 0) {
          notes.push(`${command} failed (exit ${result.code}): ${result.stderr.trim().split('\n')[0] ?? ''}`);
          continue;
        }
        fromCommands = true;
        const parsed = parseIptables(result.stdout, { family });
        if (parsed.chains.size > 0) {
          iptablesTables = true;
          rulesets.push(iptablesRuleset(command, family, parsed.chains));
        }
        dockerDnat.push(...parsed.dnat);
        notes.push(`read \`${command}\``);
      }
      if (nft !== undefined) {
        if (nft.code !== 0) {
          notes.push(`nft list ruleset failed (exit ${nft.code}): ${nft.stderr.trim().split('\n')[0] ?? ''}`);
        } else {
          fromCommands = true;
          const parsed = parseNft(nft.stdout);
          for (const ruleset of parsed.rulesets) {
            // With iptables-nft, iptables' tables appear here too; iptables-save already gave them.
            const [, family, table] = ruleset.name.split(' ').slice(1);
            if (iptablesTables && (family === 'ip' || family === 'ip6') && IPTABLES_TABLES.has(table ?? ''))
              continue;
            rulesets.push(ruleset);
          }
          notes.push('read `nft list ruleset`');
        }
      }
    }

    if (!fromCommands) {
      const enabled = await enabledServices(host);
      const [nftResult, iptResults] = await Promise.all([
        readNftablesConf(host, enabled, notes),
        Promise.all(IPTABLES_FILES.map((entry) => readIptablesFile(host, entry, enabled, notes))),
      ]);
      if (nftResult) {
        rulesets.push(...nftResult.rulesets);
        findings.push(...nftResult.findings);
      }
      for (const result of iptResults) {
        if (!result) continue;
        if (result.ruleset) rulesets.push(result.ruleset);
        dockerDnat.push(...result.dnat);
        findings.push(...result.findings);
      }
    }

    if (rulesets.length === 0 && dockerDnat.length === 0 && !fromCommands) {
      const reason = host.live
        ? 'no nftables or iptables ruleset could be read (nft/iptables-save absent or not permitted, and no /etc/nftables.conf or /etc/iptables/rules.v4)'
        : 'no /etc/nftables.conf, /etc/iptables/rules.v4|v6 or /etc/sysconfig/iptables in the tree';
      skipped.push({
        check: 'netfilter',
        reason: notes.length > 0 ? `${reason}; ${notes.join('; ')}` : reason,
      });
      return { skipped, findings };
    }
    return { facts: { rulesets, dockerDnat, notes }, findings, skipped };
  },
};

function iptablesRuleset(
  source: string,
  family: 4 | 6,
  chains: Parameters<typeof toChains>[0],
): FirewallRuleset {
  return {
    source,
    name: family === 4 ? 'iptables' : 'ip6tables',
    family,
    chains: toChains(chains),
    input: chains.has('INPUT') ? ['INPUT'] : [],
    forward: chains.has('FORWARD') ? ['FORWARD'] : [],
  };
}

/**
 * Unit names enabled in the tree's systemd wants directories, or undefined when the tree has no
 * /etc/systemd/system at all (then we cannot tell and count the files).
 */
async function enabledServices(host: Host): Promise<Set<string> | undefined> {
  if (!(await host.isDirectory('/etc/systemd/system'))) return undefined;
  const lists = await Promise.all(WANTS_DIRS.map((dir) => host.list(dir)));
  return new Set(lists.flatMap((names) => names ?? []));
}

async function readNftablesConf(
  host: Host,
  enabled: Set<string> | undefined,
  notes: string[],
): Promise<{ rulesets: FirewallRuleset[]; findings: Finding[] } | undefined> {
  const text = await host.readText(NFTABLES_CONF);
  if (text === undefined) return undefined;
  if (enabled !== undefined && !enabled.has('nftables.service')) {
    notes.push(`${NFTABLES_CONF} is present but nftables.service is not enabled, so it is not counted`);
    return undefined;
  }
  const includes = await readIncludes(host, text);
  const parsed = parseNft(text, { file: NFTABLES_CONF, includes });
  const findings = parsed.errors
    .slice(0, 1)
    .map((e) => unparsableFile(e.file ?? NFTABLES_CONF, e.line, e.message));
  notes.push(`read ${NFTABLES_CONF}`);
  return { rulesets: parsed.rulesets, findings };
}

/** Reads the files `include` names (globs in the last path part), two levels deep, at most 64. */
async function readIncludes(host: Host, text: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  let pending = includePaths(text);
  for (let depth = 0; depth < 2 && pending.length > 0; depth++) {
    const next: string[] = [];
    for (const pattern of pending) {
      const absolute = pattern.startsWith('/') ? pattern : `/etc/${pattern}`;
      let paths = [absolute];
      if (/[*?]/.test(absolute)) {
        const dir = absolute.slice(0, absolute.lastIndexOf('/')) || '/';
        const names = (await host.list(dir)) ?? [];
        paths = names.map((name) => `${dir}/${name}`).filter((path) => globMatches(absolute, path));
      }
      for (const path of paths.slice(0, 64 - files.size)) {
        if (files.has(path)) continue;
        const content = await host.readText(path);
        if (content === undefined) continue;
        files.set(path, content);
        next.push(...includePaths(content));
      }
    }
    pending = next;
  }
  return files;
}

async function readIptablesFile(
  host: Host,
  entry: (typeof IPTABLES_FILES)[number],
  enabled: Set<string> | undefined,
  notes: string[],
): Promise<{ ruleset?: FirewallRuleset; dnat: DnatRule[]; findings: Finding[] } | undefined> {
  const text = await host.readText(entry.path);
  if (text === undefined) return undefined;
  if (enabled !== undefined && !enabled.has(entry.service)) {
    notes.push(`${entry.path} is present but ${entry.service} is not enabled, so it is not counted`);
    return undefined;
  }
  const parsed = parseIptables(text, { file: entry.path, family: entry.family });
  const findings: Finding[] = [];
  const first = parsed.errors[0];
  if (first) findings.push(unparsableFile(entry.path, first.line, first.message));
  notes.push(`read ${entry.path}`);
  return {
    ...(parsed.chains.size > 0
      ? { ruleset: { ...iptablesRuleset(entry.path, entry.family, parsed.chains), source: entry.path } }
      : {}),
    dnat: parsed.dnat,
    findings,
  };
}
