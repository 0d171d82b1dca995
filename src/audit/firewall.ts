/**
 * A small, approximate model of packet filtering, shared by the ufw, iptables and nftables readers
 * and the exposure reasoning. Pure.
 *
 * It answers one question: "a new connection to port P/proto arrives from the internet (or from a
 * private network): which source addresses get through this chain?" It walks rules in order,
 * following jumps, and tracks the set of sources still undecided. It models: default policy,
 * accept/drop/reject/return/jump/goto, protocol, destination port (and the conntrack original port
 * that DOCKER-USER rules use), source and destination CIDRs (negated too), in/out interface,
 * conntrack state, address type. It does not model: rate limits (a limited accept counts as an
 * accept), `recent` lists (ordinary traffic is assumed not to trip them), marks, time, strings, GeoIP.
 * A condition it cannot evaluate makes an accept count for "the sources it names" (so exposure is
 * never hidden) and makes a drop not count (so protection is never invented).
 */
import { type Cidr, cidrContains, cidrCovers, parseAddress, parseCidr } from '../core/ip.ts';

export type RuleVerdict = 'accept' | 'drop' | 'reject' | 'return' | 'jump' | 'goto' | 'none';

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** A set of values a rule tests, possibly negated (`! -s 10.0.0.0/8`, `ip saddr != @trusted`). */
export interface Negatable<T> {
  readonly values: readonly T[];
  readonly negated: boolean;
}

/**
 * What a rule tests and what it does, with ports of type P: a FirewallRule's (port ranges), and the
 * mutable form the iptables and nft readers build (nft keeps port text until its sets are known).
 */
export interface RuleMatch<P> {
  verdict: RuleVerdict;
  /** Chain jumped to (`jump`/`goto`). */
  target?: string;
  /** The rule applies to this IP version only (`-4`, `ip saddr …` in an inet table). */
  family?: 4 | 6;
  /** Lower-case protocol names: tcp, udp, icmp… */
  protocols?: Negatable<string>;
  dports?: Negatable<P>;
  /** conntrack's original destination port (`--ctorigdstport`, `ct original proto-dst`). */
  origDports?: Negatable<P>;
  /** A source-port condition: never true for a client's random port, except by chance. */
  sports?: Negatable<P>;
  /** CIDR texts, or `set NAME` / `range A-B` labels whose members are unknown. */
  sources?: Negatable<string>;
  destinations?: Negatable<string>;
  /** Interface names; a trailing `+` or `*` is a wildcard. */
  inInterfaces?: Negatable<string>;
  outInterfaces?: Negatable<string>;
  /** conntrack states, lower case: new, established, related, invalid, untracked. */
  states?: Negatable<string>;
  /** addrtype / fib destination type, lower case: local, unicast, multicast, broadcast… */
  dstTypes?: Negatable<string>;
  /** A condition ordinary new connections do not meet (`recent --update`, `limit over`, rp-filter). */
  rare?: string;
}

export interface FirewallRule extends Readonly<RuleMatch<PortRange>> {
  /** Conditions this model does not evaluate, quoted. */
  readonly unmodelled?: readonly string[];
  /** The rule as written, for evidence. */
  readonly text: string;
  /** A friendlier name when one exists, e.g. the ufw command that made it. */
  readonly label?: string;
  readonly file?: string;
  readonly line?: number;
}

export type Hook = 'input' | 'forward' | 'ingress' | 'other';

export interface FirewallChain {
  readonly name: string;
  /** Base chains only; user chains return at their end. */
  readonly policy?: 'accept' | 'drop';
  readonly hook?: Hook;
  readonly priority?: number;
  readonly rules: readonly FirewallRule[];
  /** Where the policy was set, for evidence. */
  readonly policyFile?: string;
  readonly policyLine?: number;
  readonly policyText?: string;
}

/** One table's worth of chains: an iptables `*filter` table, an nftables table, ufw's rules for one IP version. */
export interface FirewallRuleset {
  /** What it was read from, for evidence: `/etc/ufw`, `iptables-save`, `/etc/nftables.conf`… */
  readonly source: string;
  /** A short name for the evidence: `ufw`, `iptables`, `nftables table inet filter`. */
  readonly name: string;
  readonly family: 4 | 6 | 'both';
  readonly chains: Readonly<Record<string, FirewallChain>>;
  /** Base chains at the input hook, in priority order. Each one must let a packet through. */
  readonly input: readonly string[];
  /** Base chains at the forward hook, in priority order. */
  readonly forward: readonly string[];
}

/** A set of source addresses: every address of the class but some, or only some. */
export type Sources =
  | { readonly kind: 'all-except'; readonly items: readonly string[] }
  | { readonly kind: 'only'; readonly items: readonly string[] };

export const ALL: Sources = { kind: 'all-except', items: [] };
export const NONE: Sources = { kind: 'only', items: [] };

/** Where the connection comes from: anywhere on the internet, or a private network. */
export type SourceClass = 'public' | 'private';

export interface Packet {
  readonly family: 4 | 6;
  readonly protocol: 'tcp' | 'udp';
  /** Destination port as the chain sees it (the container port after Docker's DNAT). */
  readonly port: number;
  /** Destination port the client used (before DNAT). */
  readonly origPort: number;
  /** `input`: to an address of this host; `forward`: routed to a container after DNAT. */
  readonly path: 'input' | 'forward';
  readonly from: SourceClass;
}

/** A rule (or policy) that decided the fate of some sources. */
export interface Step {
  readonly effect: 'accept' | 'drop' | 'policy-accept' | 'policy-drop';
  readonly chain: string;
  readonly sources: Sources;
  readonly rule?: FirewallRule;
  readonly ruleset: FirewallRuleset;
}

export interface ChainOutcome {
  /** Sources accepted. */
  readonly accepted: Sources;
  readonly steps: readonly Step[];
}

// ---------------------------------------------------------------------------------------------
// Source-set algebra over CIDR texts and opaque labels. Approximate: "all except X" minus "only Y"
// stays "all except X" (we never enumerate the internet).

function cidrOf(item: string): Cidr | undefined {
  return parseCidr(item);
}

/** The part of `a` and `b` both cover, or undefined. Labels meet anything as themselves. */
function meet(a: string, b: string): string | undefined {
  if (a === b) return a;
  const ca = cidrOf(a);
  const cb = cidrOf(b);
  if (!ca || !cb) return ca ? b : a;
  if (ca.address.kind() !== cb.address.kind()) return undefined;
  if (cidrCovers(ca, cb)) return b;
  if (cidrCovers(cb, ca)) return a;
  return undefined;
}

function covered(item: string, by: readonly string[]): boolean {
  const c = cidrOf(item);
  return by.some((other) => {
    if (other === item) return true;
    const o = cidrOf(other);
    return c !== undefined && o !== undefined && cidrCovers(o, c);
  });
}

function dedupe(items: readonly string[]): string[] {
  const out: string[] = [];
  for (const item of items) if (!out.includes(item)) out.push(item);
  return out;
}

export function intersect(a: Sources, b: Sources): Sources {
  if (a.kind === 'only' && b.kind === 'only') {
    const out: string[] = [];
    for (const x of a.items)
      for (const y of b.items) {
        const m = meet(x, y);
        if (m !== undefined) out.push(m);
      }
    return { kind: 'only', items: dedupe(out) };
  }
  if (a.kind === 'only' && b.kind === 'all-except')
    return { kind: 'only', items: a.items.filter((x) => !covered(x, b.items)) };
  if (a.kind === 'all-except' && b.kind === 'only') return intersect(b, a);
  return { kind: 'all-except', items: dedupe([...a.items, ...b.items]) };
}

export function union(a: Sources, b: Sources): Sources {
  if (a.kind === 'only' && b.kind === 'only') {
    return { kind: 'only', items: dedupe([...a.items, ...b.items]) };
  }
  if (a.kind === 'all-except' && b.kind === 'only') {
    return { kind: 'all-except', items: a.items.filter((x) => !covered(x, b.items)) };
  }
  if (a.kind === 'only' && b.kind === 'all-except') return union(b, a);
  const out: string[] = [];
  for (const x of a.items)
    for (const y of b.items) {
      const m = meet(x, y);
      if (m !== undefined) out.push(m);
    }
  return { kind: 'all-except', items: dedupe(out) };
}

function complement(a: Sources): Sources {
  return a.kind === 'only' ? { kind: 'all-except', items: a.items } : { kind: 'only', items: a.items };
}

export function minus(a: Sources, b: Sources): Sources {
  return intersect(a, complement(b));
}

export function isEmpty(a: Sources): boolean {
  return a.kind === 'only' && a.items.length === 0;
}

// ---------------------------------------------------------------------------------------------
// Matching one rule against a packet.

function portsMatch(ranges: Negatable<PortRange>, port: number): boolean {
  const inside = ranges.values.some((r) => port >= r.from && port <= r.to);
  return ranges.negated ? !inside : inside;
}

function nameMatches(pattern: string, name: string): boolean {
  if (pattern.endsWith('+') || pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return pattern === name;
}

/** Interfaces a packet can arrive on from outside: anything but loopback and Docker's bridges. */
function isInternalInterface(name: string): boolean {
  return (
    name === 'lo' ||
    name.startsWith('docker') ||
    name.startsWith('br-') ||
    name.startsWith('veth') ||
    name === 'br+'
  );
}

function inInterfaceMatches(match: Negatable<string>): boolean {
  // The packet arrives on an external interface we do not know by name: a named external
  // interface (eth0, ens3) is assumed to be it; loopback and Docker's bridges are not.
  const external = match.values.some((pattern) => !isInternalInterface(pattern));
  return match.negated ? !external : external;
}

function outInterfaceMatches(match: Negatable<string>, packet: Packet): boolean {
  if (packet.path === 'input') return match.negated;
  // Forwarded to a container: out through a Docker bridge (docker0, br-…).
  const bridge = match.values.some((p) => nameMatches(p, 'docker0') || nameMatches(p, 'br-0123456789ab'));
  return match.negated ? !bridge : bridge;
}

function statesMatch(match: Negatable<string>): boolean {
  const hasNew = match.values.includes('new');
  return match.negated ? !hasNew : hasNew;
}

function dstTypesMatch(match: Negatable<string>, packet: Packet): boolean {
  const type = packet.path === 'input' ? ['local', 'unicast'] : ['unicast'];
  const hit = match.values.some((v) => type.includes(v));
  return match.negated ? !hit : hit;
}

function protocolMatches(match: Negatable<string>, packet: Packet): boolean {
  const hit = match.values.some((p) => p === packet.protocol || p === 'all' || p === '0');
  return match.negated ? !hit : hit;
}

/** Whether the destination test can be true for this packet. */
function destinationMatches(match: Negatable<string>, packet: Packet): boolean | 'maybe' {
  let hit: boolean | 'maybe' = false;
  for (const item of match.values) {
    const cidr = cidrOf(item);
    if (!cidr) {
      hit = 'maybe';
      continue;
    }
    if (cidr.address.kind() !== (packet.family === 4 ? 'ipv4' : 'ipv6')) continue;
    if (cidr.prefix === 0) return !match.negated;
    const range = cidr.address.range();
    if (packet.path === 'forward') {
      // After DNAT the destination is a container address in a private Docker pool.
      if (['private', 'uniqueLocal', 'carrierGradeNat'].includes(range)) hit = true;
      continue;
    }
    // To this host: never a loopback, multicast or broadcast address for traffic from outside;
    // a private address only for traffic from a private network.
    if (['loopback', 'multicast', 'broadcast'].includes(range)) continue;
    if (
      packet.from === 'public' &&
      ['private', 'uniqueLocal', 'carrierGradeNat', 'linkLocal'].includes(range)
    )
      continue;
    hit = hit === false ? 'maybe' : hit;
  }
  if (match.negated) return hit === true ? false : hit === false ? true : 'maybe';
  return hit;
}

const PRIVATE_UNIVERSE_4 = [
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10',
  '169.254.0.0/16',
];
const PRIVATE_UNIVERSE_6 = ['fc00::/7', 'fe80::/10'];

/** Whether a source item can contain addresses of the packet's class. */
function sourceItemClass(item: string, packet: Packet): 'all' | 'some' | 'none' {
  const cidr = cidrOf(item);
  if (!cidr) return 'some';
  if (cidr.address.kind() !== (packet.family === 4 ? 'ipv4' : 'ipv6')) return 'none';
  if (cidr.prefix === 0) return 'all';
  const range = cidr.address.range();
  if (['loopback', 'multicast', 'broadcast', 'unspecified'].includes(range)) return 'none';
  const privateUniverse = packet.family === 4 ? PRIVATE_UNIVERSE_4 : PRIVATE_UNIVERSE_6;
  const touchesPrivate = privateUniverse.some((p) => {
    const pc = parseCidr(p)!;
    return cidrCovers(pc, cidr) || cidrCovers(cidr, pc);
  });
  const insidePrivate = privateUniverse.some((p) => cidrCovers(parseCidr(p)!, cidr));
  if (packet.from === 'private') return touchesPrivate ? 'some' : 'none';
  return insidePrivate ? 'none' : 'some';
}

/** Which sources of the packet's class the rule's source test selects. */
function sourceSelection(match: Negatable<string> | undefined, packet: Packet): Sources {
  if (!match) return ALL;
  const relevant: string[] = [];
  let all = false;
  for (const item of match.values) {
    const cls = sourceItemClass(item, packet);
    if (cls === 'all') all = true;
    else if (cls === 'some') relevant.push(item);
  }
  const selected: Sources = all ? ALL : { kind: 'only', items: relevant };
  return match.negated ? complement(selected) : selected;
}

/**
 * Which sources of the packet's class the rule matches. Conditions we cannot evaluate make an
 * accept match only "the sources the condition allows" (a label) and make a drop match nothing.
 */
function ruleSelection(rule: FirewallRule, packet: Packet): Sources {
  if (rule.family !== undefined && rule.family !== packet.family) return NONE;
  if (rule.rare !== undefined) return NONE;
  if (rule.protocols && !protocolMatches(rule.protocols, packet)) return NONE;
  if (rule.dports && !portsMatch(rule.dports, packet.port)) return NONE;
  if (rule.origDports && !portsMatch(rule.origDports, packet.origPort)) return NONE;
  if (rule.sports && !rule.sports.negated) return NONE;
  if (rule.states && !statesMatch(rule.states)) return NONE;
  if (rule.inInterfaces && !inInterfaceMatches(rule.inInterfaces)) return NONE;
  if (rule.outInterfaces && !outInterfaceMatches(rule.outInterfaces, packet)) return NONE;
  if (rule.dstTypes && !dstTypesMatch(rule.dstTypes, packet)) return NONE;
  let uncertain = rule.unmodelled !== undefined && rule.unmodelled.length > 0;
  if (rule.destinations) {
    const d = destinationMatches(rule.destinations, packet);
    if (d === false) return NONE;
    if (d === 'maybe') uncertain = uncertain || packet.path === 'forward';
  }
  const selection = sourceSelection(rule.sources, packet);
  if (!uncertain) return selection;
  // A condition we cannot evaluate: an accept lets in only "what the condition selects";
  // a drop is not counted on.
  if (rule.verdict === 'drop' || rule.verdict === 'reject') return NONE;
  const label = `sources allowed by \`${rule.unmodelled?.join(' ') ?? rule.text}\``;
  return intersect(selection, { kind: 'only', items: [label] });
}

// ---------------------------------------------------------------------------------------------
// Walking chains.

const MAX_DEPTH = 16;

interface Walk {
  accepted: Sources;
  /** Sources that reached the end of a user chain or a `return`. */
  returned: Sources;
  steps: Step[];
}

function walkChain(
  ruleset: FirewallRuleset,
  chainName: string,
  packet: Packet,
  entering: Sources,
  depth: number,
  base: boolean,
): Walk {
  const walk: Walk = { accepted: NONE, returned: NONE, steps: [] };
  const chain = ruleset.chains[chainName];
  let undecided = entering;
  // A `return` in a base chain sends packets straight to the policy.
  let toPolicy: Sources = NONE;
  if (chain && depth <= MAX_DEPTH) {
    for (const rule of chain.rules) {
      if (isEmpty(undecided)) break;
      const matched = intersect(undecided, ruleSelection(rule, packet));
      if (isEmpty(matched)) continue;
      switch (rule.verdict) {
        case 'accept':
          walk.accepted = union(walk.accepted, matched);
          undecided = minus(undecided, matched);
          walk.steps.push({ effect: 'accept', chain: chainName, sources: matched, rule, ruleset });
          break;
        case 'drop':
        case 'reject':
          undecided = minus(undecided, matched);
          walk.steps.push({ effect: 'drop', chain: chainName, sources: matched, rule, ruleset });
          break;
        case 'return':
          if (base) toPolicy = union(toPolicy, matched);
          else walk.returned = union(walk.returned, matched);
          undecided = minus(undecided, matched);
          break;
        case 'jump':
        case 'goto': {
          if (rule.target === undefined || ruleset.chains[rule.target] === undefined) break;
          const sub = walkChain(ruleset, rule.target, packet, matched, depth + 1, false);
          walk.accepted = union(walk.accepted, sub.accepted);
          walk.steps.push(...sub.steps);
          // Sources the sub-chain neither accepted nor dropped come back here (jump) or leave (goto).
          undecided = minus(undecided, matched);
          if (rule.verdict === 'jump') undecided = union(undecided, sub.returned);
          else if (base) toPolicy = union(toPolicy, sub.returned);
          else walk.returned = union(walk.returned, sub.returned);
          break;
        }
        case 'none':
          break;
      }
    }
  }
  if (base) {
    undecided = union(undecided, toPolicy);
    if (!isEmpty(undecided)) {
      const accept = chain?.policy !== 'drop';
      if (accept) walk.accepted = union(walk.accepted, undecided);
      walk.steps.push({
        effect: accept ? 'policy-accept' : 'policy-drop',
        chain: chainName,
        sources: undecided,
        ruleset,
      });
    }
  } else {
    walk.returned = union(walk.returned, undecided);
  }
  return walk;
}

/** A base chain: which of the class's sources it accepts (policy included). */
export function evaluateBaseChain(ruleset: FirewallRuleset, chainName: string, packet: Packet): ChainOutcome {
  const walk = walkChain(ruleset, chainName, packet, ALL, 0, true);
  return { accepted: walk.accepted, steps: walk.steps };
}

/**
 * A user chain entered from a base chain whose later rules accept (DOCKER-USER: whatever it does not
 * drop, Docker's own chains accept). Sources it returns or falls through count as accepted.
 */
export function evaluateUserChain(ruleset: FirewallRuleset, chainName: string, packet: Packet): ChainOutcome {
  const walk = walkChain(ruleset, chainName, packet, ALL, 0, false);
  return { accepted: union(walk.accepted, walk.returned), steps: walk.steps };
}

// ---------------------------------------------------------------------------------------------
// Helpers for readers and reporters.

export function portRange(text: string): PortRange | undefined {
  const match = /^(\d{1,5})(?:[:-](\d{1,5}))?$/.exec(text.trim());
  if (!match) return undefined;
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from > 65_535 || to > 65_535 || to < from) return undefined;
  return { from, to };
}

export function describeSources(sources: Sources, max = 4): string {
  if (sources.kind === 'all-except') {
    if (sources.items.length === 0) return 'any source';
    return `any source except ${listItems(sources.items, max)}`;
  }
  if (sources.items.length === 0) return 'no source';
  return listItems(sources.items, max);
}

function listItems(items: readonly string[], max: number): string {
  const shown = items.slice(0, max).join(', ');
  return items.length > max ? `${shown} and ${items.length - max} more` : shown;
}

/** True when a list of allowed public sources is so wide it is effectively the internet. */
export function isEffectivelyEverywhere(sources: Sources): boolean {
  if (sources.kind === 'all-except') return true;
  return sources.items.some((item) => {
    const cidr = cidrOf(item);
    return cidr !== undefined && cidr.prefix <= (cidr.address.kind() === 'ipv4' ? 4 : 16);
  });
}

/** True when `text` is an address or CIDR inside `cidr`. */
export function addressIn(cidr: Cidr, text: string): boolean {
  const address = parseAddress(text);
  return address !== undefined && cidrContains(cidr, address);
}
