/**
 * Reads the iptables-save / iptables-restore format (`iptables-save` output, /etc/iptables/rules.v4,
 * ufw's before.rules, user.rules, after.rules) into the firewall model. Pure.
 *
 * Only the `filter` table becomes chains; the `nat` table is scanned for Docker's DNAT rules
 * (published ports). Options this model does not evaluate are kept, quoted, in `unmodelled`.
 */
import type {
  FirewallChain,
  FirewallRule,
  Negatable,
  PortRange,
  RuleMatch,
  RuleVerdict,
} from '../firewall.ts';
import { portRange } from '../firewall.ts';

export interface IptablesChain {
  readonly name: string;
  policy?: 'accept' | 'drop';
  policyLine?: number;
  policyText?: string;
  policyFile?: string;
  readonly rules: FirewallRule[];
}

/** A DNAT rule in the nat table's DOCKER chain: a port Docker publishes. */
export interface DnatRule {
  readonly protocol: 'tcp' | 'udp';
  readonly port: number;
  /** `-d` of the rule: the host address the port is published on; absent = every address. */
  readonly hostAddress?: string;
  readonly toAddress: string;
  readonly toPort: number;
  readonly text: string;
  readonly file?: string;
  readonly line?: number;
}

export interface IptablesParse {
  /** Chains of the `filter` table, in order of first mention. */
  readonly chains: Map<string, IptablesChain>;
  readonly dnat: DnatRule[];
  /** `*filter` or `*nat` sections were seen: the text is in this format at all. */
  readonly sawTable: boolean;
  readonly errors: { readonly line: number; readonly message: string }[];
}

const VERDICTS: Record<string, RuleVerdict> = {
  ACCEPT: 'accept',
  DROP: 'drop',
  REJECT: 'reject',
  RETURN: 'return',
};

/** Targets that do something but do not end the chain. */
const NON_TERMINAL = new Set([
  'LOG',
  'NFLOG',
  'ULOG',
  'MARK',
  'CONNMARK',
  'CT',
  'NOTRACK',
  'TCPMSS',
  'TRACE',
  'CLASSIFY',
  'DSCP',
  'TOS',
  'AUDIT',
  'SET',
  'CHECKSUM',
  'TEE',
  'NFQUEUE',
  'QUEUE',
  'DNAT',
  'SNAT',
  'MASQUERADE',
  'REDIRECT',
]);

/** Splits a rule line into words, honouring "double quotes" (comments, log prefixes). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === '\\' && i + 1 < line.length) {
        current += line[++i];
      } else if (ch === quote) {
        quote = undefined;
      } else {
        current += ch;
      }
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

interface Builder extends RuleMatch<PortRange> {
  unmodelled: string[];
  toDestination?: string;
}

function ports(text: string, negated: boolean): Negatable<PortRange> | undefined {
  const values: PortRange[] = [];
  for (const part of text.split(',')) {
    const range = portRange(part);
    if (!range) return undefined;
    values.push(range);
  }
  return { values, negated };
}

function list(text: string, negated: boolean, lower = false): Negatable<string> {
  return { values: text.split(',').map((v) => (lower ? v.toLowerCase() : v)), negated };
}

/** Options that take one value and that we ignore (they do not change which new connections match). */
const IGNORED_WITH_VALUE = new Set([
  '--comment',
  '--log-prefix',
  '--log-level',
  '--log-uid',
  '--limit',
  '--limit-burst',
  '--reject-with',
  '--icmp-type',
  '--icmpv6-type',
  '--to-ports',
  '--to-source',
  '--set-mark',
  '--set-xmark',
  '--mark',
  '--name',
  '--mask',
  '--seconds',
  '--hitcount',
  '--nflog-group',
  '--nflog-prefix',
  '--queue-num',
  '--ctstatus',
  '--ctdir',
  '--log-tcp-sequence',
  '--clamp-mss-to-pmtu',
]);

const IGNORED_FLAGS = new Set([
  '--syn',
  '--set',
  '--rsource',
  '--rdest',
  '--log-tcp-options',
  '--log-ip-options',
  '--log-uid',
  '--rttl',
  '--queue-bypass',
  '-f',
  '--fragment',
]);

/** Parses one `-A CHAIN …` rule's words (after the chain name). Returns the rule or an error text. */
export function parseRuleWords(words: readonly string[], family: 4 | 6 | undefined): Builder | string {
  const b: Builder = { verdict: 'none', unmodelled: [] };
  if (family !== undefined) b.family = family;
  const modules = new Set<string>();
  let negate = false;
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '!') {
      negate = true;
      continue;
    }
    const next = (): string | undefined => {
      let value = words[i + 1];
      if (value === '!') {
        negate = true;
        i++;
        value = words[i + 1];
      }
      if (value !== undefined) i++;
      return value;
    };
    const neg = () => {
      const n = negate;
      negate = false;
      return n;
    };
    switch (word) {
      case '-p':
      case '--protocol': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.protocols = list(value, neg(), true);
        break;
      }
      case '-s':
      case '--source':
      case '--src': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.sources = list(value, neg());
        break;
      }
      case '-d':
      case '--destination':
      case '--dst': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.destinations = list(value, neg());
        break;
      }
      case '-i':
      case '--in-interface': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.inInterfaces = list(value, neg());
        break;
      }
      case '-o':
      case '--out-interface': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.outInterfaces = list(value, neg());
        break;
      }
      case '-m':
      case '--match': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        modules.add(value);
        neg();
        break;
      }
      case '--dport':
      case '--destination-port':
      case '--dports':
      case '--destination-ports': {
        const value = next();
        const parsed = value === undefined ? undefined : ports(value, neg());
        if (!parsed) return `${word} needs ports, got "${value ?? ''}"`;
        b.dports = parsed;
        break;
      }
      case '--sport':
      case '--source-port':
      case '--sports':
      case '--source-ports': {
        const value = next();
        const parsed = value === undefined ? undefined : ports(value, neg());
        if (!parsed) return `${word} needs ports, got "${value ?? ''}"`;
        b.sports = parsed;
        break;
      }
      case '--ports': {
        // multiport: source or destination port; a client's source port is random, so read it as dport.
        const value = next();
        const parsed = value === undefined ? undefined : ports(value, neg());
        if (!parsed) return `${word} needs ports, got "${value ?? ''}"`;
        b.dports = parsed;
        break;
      }
      case '--ctorigdstport': {
        const value = next();
        const parsed = value === undefined ? undefined : ports(value, neg());
        if (!parsed) return `${word} needs a port, got "${value ?? ''}"`;
        b.origDports = parsed;
        break;
      }
      case '--ctstate':
      case '--state': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.states = list(value, neg(), true);
        break;
      }
      case '--dst-type': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.dstTypes = list(value, neg(), true);
        break;
      }
      case '--src-type': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        const types = list(value, neg(), true);
        const hit = types.values.some((t) => t === 'unicast');
        if (types.negated ? hit : !hit) b.rare = `--src-type ${value}`;
        break;
      }
      case '--match-set': {
        const name = next();
        const direction = words[i + 1];
        if (name === undefined) return `${word} needs a set name`;
        if (direction !== undefined && !direction.startsWith('-')) i++;
        const negated = neg();
        if (direction?.split(',')[0] === 'src') b.sources = { values: [`set ${name}`], negated };
        else b.unmodelled.push(`${negated ? '! ' : ''}--match-set ${name} ${direction ?? ''}`.trim());
        break;
      }
      case '--src-range': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.sources = { values: [`range ${value}`], negated: neg() };
        break;
      }
      case '--dst-range': {
        const value = next();
        if (value === undefined) return `${word} needs a value`;
        b.destinations = { values: [`range ${value}`], negated: neg() };
        break;
      }
      case '--update':
      case '--rcheck':
        // `recent` lists (ufw limit): ordinary traffic is assumed under the limit.
        b.rare = `-m recent ${word}`;
        neg();
        break;
      case '-j':
      case '--jump':
      case '-g':
      case '--goto': {
        const value = next();
        if (value === undefined) return `${word} needs a target`;
        const verdict = VERDICTS[value];
        if (verdict) b.verdict = verdict;
        else if (NON_TERMINAL.has(value)) b.verdict = 'none';
        else {
          b.verdict = word === '-g' || word === '--goto' ? 'goto' : 'jump';
          b.target = value;
        }
        neg();
        break;
      }
      case '--to-destination': {
        const value = next();
        if (value !== undefined) b.toDestination = value;
        break;
      }
      case '-4':
      case '--ipv4':
        b.family = 4;
        break;
      case '-6':
      case '--ipv6':
        b.family = 6;
        break;
      case '--tcp-flags':
        i += 2;
        neg();
        break;
      case '-c':
      case '--set-counters':
        i += 2;
        break;
      default: {
        if (IGNORED_WITH_VALUE.has(word)) {
          next();
          neg();
        } else if (IGNORED_FLAGS.has(word)) {
          neg();
        } else if (word.startsWith('-')) {
          // An option of a match module we do not model: keep it and its value, quoted.
          const parts = [word];
          while (words[i + 1] !== undefined && !words[i + 1]!.startsWith('-') && words[i + 1] !== '!') {
            parts.push(words[++i]!);
          }
          b.unmodelled.push(`${neg() ? '! ' : ''}${parts.join(' ')}`);
        } else {
          return `unexpected "${word}"`;
        }
      }
    }
  }
  // Modules whose options carry no filtering meaning for us are fine; modules that filter on
  // something we do not see at all (time, string, geoip…) are already in unmodelled via their options.
  return b;
}

function toRule(b: Builder, text: string, file: string | undefined, line: number): FirewallRule {
  return {
    verdict: b.verdict,
    ...(b.target !== undefined ? { target: b.target } : {}),
    ...(b.family !== undefined ? { family: b.family } : {}),
    ...(b.protocols ? { protocols: b.protocols } : {}),
    ...(b.dports ? { dports: b.dports } : {}),
    ...(b.origDports ? { origDports: b.origDports } : {}),
    ...(b.sports ? { sports: b.sports } : {}),
    ...(b.sources ? { sources: b.sources } : {}),
    ...(b.destinations ? { destinations: b.destinations } : {}),
    ...(b.inInterfaces ? { inInterfaces: b.inInterfaces } : {}),
    ...(b.outInterfaces ? { outInterfaces: b.outInterfaces } : {}),
    ...(b.states ? { states: b.states } : {}),
    ...(b.dstTypes ? { dstTypes: b.dstTypes } : {}),
    ...(b.rare !== undefined ? { rare: b.rare } : {}),
    ...(b.unmodelled.length > 0 ? { unmodelled: b.unmodelled } : {}),
    text,
    ...(file !== undefined ? { file } : {}),
    line,
  };
}

export interface ParseOptions {
  /** Host path for evidence; absent for command output. */
  readonly file?: string;
  readonly family?: 4 | 6;
  /** Start with these chains (ufw composes several files into one table). */
  readonly chains?: Map<string, IptablesChain>;
}

/** Parses iptables-save text. Never throws: lines it cannot read are listed in `errors`. */
export function parseIptables(text: string, options: ParseOptions = {}): IptablesParse {
  const chains = options.chains ?? new Map<string, IptablesChain>();
  const dnat: DnatRule[] = [];
  const errors: { line: number; message: string }[] = [];
  let table: string | undefined;
  let sawTable = false;
  const chainOf = (name: string) => {
    let chain = chains.get(name);
    if (!chain) {
      chain = { name, rules: [] };
      chains.set(name, chain);
    }
    return chain;
  };
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('*')) {
      table = line.slice(1).trim();
      sawTable = true;
      return;
    }
    if (line === 'COMMIT') {
      table = undefined;
      return;
    }
    if (table === undefined) {
      errors.push({ line: lineNo, message: `"${line.slice(0, 60)}" outside a *table … COMMIT block` });
      return;
    }
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (!name) {
        errors.push({ line: lineNo, message: 'chain declaration without a name' });
        return;
      }
      if (table !== 'filter') return;
      const chain = chainOf(name);
      if (policy === 'DROP' || policy === 'ACCEPT') {
        chain.policy = policy === 'DROP' ? 'drop' : 'accept';
        chain.policyLine = lineNo;
        chain.policyText = line;
        if (options.file !== undefined) chain.policyFile = options.file;
      }
      return;
    }
    const words = shellWords(line);
    const command = words[0];
    if (command === '-P' || command === '--policy') {
      const [, name, policy] = words;
      if (table === 'filter' && name && (policy === 'DROP' || policy === 'ACCEPT')) {
        const chain = chainOf(name);
        chain.policy = policy === 'DROP' ? 'drop' : 'accept';
        chain.policyLine = lineNo;
        chain.policyText = line;
        if (options.file !== undefined) chain.policyFile = options.file;
      }
      return;
    }
    if (
      command === '-N' ||
      command === '--new-chain' ||
      command === '-X' ||
      command === '-F' ||
      command === '-Z'
    ) {
      if (table === 'filter' && command === '-N' && words[1]) chainOf(words[1]);
      return;
    }
    if (command !== '-A' && command !== '--append' && command !== '-I' && command !== '--insert') {
      errors.push({ line: lineNo, message: `unknown command "${command ?? ''}"` });
      return;
    }
    const chainName = words[1];
    if (!chainName) {
      errors.push({ line: lineNo, message: `${command} needs a chain name` });
      return;
    }
    let rest = words.slice(2);
    let position: number | undefined;
    if ((command === '-I' || command === '--insert') && rest[0] !== undefined && /^\d+$/.test(rest[0])) {
      position = Number(rest[0]) - 1;
      rest = rest.slice(1);
    } else if (command === '-I' || command === '--insert') {
      position = 0;
    }
    const parsed = parseRuleWords(rest, options.family);
    if (typeof parsed === 'string') {
      errors.push({ line: lineNo, message: parsed });
      return;
    }
    if (table === 'nat') {
      const dnatRule = dnatOf(chainName, parsed, line, options.file, lineNo);
      if (dnatRule) dnat.push(dnatRule);
      return;
    }
    if (table !== 'filter') return;
    const rule = toRule(parsed, line, options.file, lineNo);
    const chain = chainOf(chainName);
    if (position === undefined) chain.rules.push(rule);
    else chain.rules.splice(Math.min(position, chain.rules.length), 0, rule);
  });
  return { chains, dnat, sawTable, errors };
}

function dnatOf(
  chain: string,
  b: Builder,
  text: string,
  file: string | undefined,
  line: number,
): DnatRule | undefined {
  if (chain !== 'DOCKER' || b.toDestination === undefined || !b.dports) return undefined;
  const protocol = b.protocols?.values[0];
  if (protocol !== 'tcp' && protocol !== 'udp') return undefined;
  const port = b.dports.values[0]?.from;
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(b.toDestination);
  if (port === undefined || !match) return undefined;
  const host =
    b.destinations && !b.destinations.negated
      ? b.destinations.values[0]?.replace(/\/(32|128)$/, '')
      : undefined;
  return {
    protocol,
    port,
    ...(host !== undefined ? { hostAddress: host } : {}),
    toAddress: match[1]!,
    toPort: Number(match[2]),
    text,
    ...(file !== undefined ? { file } : {}),
    line,
  };
}

/** Freezes parsed chains into the model's chain records. */
export function toChains(chains: Map<string, IptablesChain>): Record<string, FirewallChain> {
  const out: Record<string, FirewallChain> = {};
  for (const chain of chains.values()) {
    const builtin = ['INPUT', 'FORWARD', 'OUTPUT'].includes(chain.name);
    const hook = chain.name === 'INPUT' ? 'input' : chain.name === 'FORWARD' ? 'forward' : 'other';
    out[chain.name] = {
      name: chain.name,
      rules: chain.rules,
      ...(builtin ? { policy: chain.policy ?? 'accept', hook } : {}),
      ...(chain.policyLine !== undefined ? { policyLine: chain.policyLine } : {}),
      ...(chain.policyFile !== undefined ? { policyFile: chain.policyFile } : {}),
      ...(chain.policyText !== undefined ? { policyText: chain.policyText } : {}),
    } as FirewallChain;
  }
  return out;
}
