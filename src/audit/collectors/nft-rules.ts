/**
 * Reads nftables rulesets (`nft list ruleset` output, /etc/nftables.conf) into the firewall model.
 * Pure: includes are resolved from a map of already-read files.
 *
 * Understood: `table`/`chain`/`set` blocks and the `add table|chain|rule` command forms, `define`,
 * `include`, `flush ruleset`, base chain `type … hook … priority …; policy …;`, and in rules:
 * iif/oif(name), ip/ip6 saddr/daddr, tcp/udp/th dport/sport, meta l4proto/nfproto, ct state
 * (also as a vmap), ct original proto-dst, fib daddr type, icmp, limit, counter, log, comment,
 * verdicts, named and anonymous sets, and `vmap` on a port or state. Anything else in a rule is
 * kept as an unmodelled condition.
 */
import type {
  FirewallChain,
  FirewallRule,
  FirewallRuleset,
  Hook,
  Negatable,
  PortRange,
  RuleMatch,
} from '../firewall.ts';
import { portRange } from '../firewall.ts';

interface Word {
  readonly kind: 'word';
  readonly text: string;
  readonly line: number;
  readonly quoted: boolean;
}
interface Block {
  readonly kind: 'block';
  readonly statements: Statement[];
  readonly line: number;
}
type Item = Word | Block;
interface Statement {
  readonly items: Item[];
  readonly line: number;
}

export interface NftError {
  readonly file?: string;
  readonly line: number;
  readonly message: string;
}

// ---------------------------------------------------------------------------------------------
// Tokens and blocks.

function tokenize(text: string): { items: (Word | '{' | '}' | ';' | 'nl')[]; error?: NftError } {
  const out: (Word | '{' | '}' | ';' | 'nl')[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '\n') {
      out.push('nl');
      line++;
      i++;
    } else if (ch === '\\' && text[i + 1] === '\n') {
      line++;
      i += 2;
    } else if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
    } else if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === '{' || ch === '}' || ch === ';') {
      out.push(ch);
      i++;
    } else if (ch === ',') {
      out.push({ kind: 'word', text: ',', line, quoted: false });
      i++;
    } else if (ch === '"') {
      let j = i + 1;
      let value = '';
      while (j < text.length && text[j] !== '"' && text[j] !== '\n') value += text[j++];
      if (text[j] !== '"') return { items: out, error: { line, message: 'unterminated string' } };
      out.push({ kind: 'word', text: value, line, quoted: true });
      i = j + 1;
    } else {
      let j = i;
      while (j < text.length && !' \t\r\n{};,#"'.includes(text[j]!)) j++;
      // `#` inside a word (rare) ends it like a comment would.
      out.push({ kind: 'word', text: text.slice(i, j), line, quoted: false });
      i = j;
    }
  }
  return { items: out };
}

function group(tokens: (Word | '{' | '}' | ';' | 'nl')[]): {
  statements: Statement[];
  error?: string;
  line?: number;
} {
  let pos = 0;
  let lastLine = 1;
  const parseStatements = (closing: boolean): Statement[] | string => {
    const statements: Statement[] = [];
    let current: Item[] = [];
    const flush = () => {
      if (current.length > 0) {
        const first = current[0]!;
        statements.push({ items: current, line: first.line });
      }
      current = [];
    };
    while (pos < tokens.length) {
      const token = tokens[pos++]!;
      if (token === 'nl' || token === ';') {
        flush();
      } else if (token === '{') {
        const line = current.length > 0 ? current[current.length - 1]!.line : lastLine;
        const inner = parseStatements(true);
        if (typeof inner === 'string') return inner;
        current.push({ kind: 'block', statements: inner, line });
      } else if (token === '}') {
        if (!closing) return 'unexpected "}"';
        flush();
        return statements;
      } else {
        lastLine = token.line;
        current.push(token);
      }
    }
    if (closing) return 'missing "}"';
    flush();
    return statements;
  };
  const result = parseStatements(false);
  if (typeof result === 'string') return { statements: [], error: result, line: lastLine };
  return { statements: result };
}

function words(items: readonly Item[]): string[] {
  return items.map((item) => (item.kind === 'word' ? item.text : '{…}'));
}

function render(items: readonly Item[]): string {
  return items
    .map((item) => {
      if (item.kind === 'word') return item.quoted ? `"${item.text}"` : item.text;
      return `{ ${item.statements.map((s) => render(s.items)).join(', ')} }`;
    })
    .join(' ')
    .replace(/ ,/g, ',')
    .replace(/,,/g, ',');
}

/** The words inside a block or after it, commas dropped: `{ 22, 80 }` → ['22', '80']. */
function setElements(block: Block): string[] {
  return block.statements.flatMap((s) =>
    s.items.flatMap((item) => (item.kind === 'word' && item.text !== ',' ? [item.text] : [])),
  );
}

// ---------------------------------------------------------------------------------------------
// Tables and chains being built.

interface ChainBuild {
  name: string;
  hook?: Hook;
  priority?: number;
  policy?: 'accept' | 'drop';
  policyLine?: number;
  policyFile?: string;
  policyText?: string;
  rules: RuleBuild[];
}

interface TableBuild {
  readonly family: string;
  readonly name: string;
  readonly chains: Map<string, ChainBuild>;
  readonly sets: Map<string, string[]>;
}

interface RuleBuild extends RuleMatch<string> {
  unmodelled: string[];
  text: string;
  file?: string;
  line: number;
}

const FAMILIES = new Set(['ip', 'ip6', 'inet', 'arp', 'bridge', 'netdev']);
const PRIORITIES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};

/** Well-known service names nft prints instead of port numbers. */
const SERVICES: Record<string, number> = {
  ssh: 22,
  smtp: 25,
  domain: 53,
  http: 80,
  https: 443,
  'http-alt': 8080,
  submission: 587,
  submissions: 465,
  imaps: 993,
  pop3s: 995,
  mysql: 3306,
  postgresql: 5432,
  redis: 6379,
  bootps: 67,
  bootpc: 68,
  ntp: 123,
  mdns: 5353,
  'ms-sql-s': 1433,
};

/** Keywords that start a new part of a rule (used to stop reading free-form values). */
const KEYWORDS = new Set([
  'iif',
  'iifname',
  'oif',
  'oifname',
  'meta',
  'ip',
  'ip6',
  'tcp',
  'udp',
  'th',
  'sctp',
  'dccp',
  'udplite',
  'ct',
  'fib',
  'icmp',
  'icmpv6',
  'igmp',
  'limit',
  'counter',
  'log',
  'comment',
  'accept',
  'drop',
  'reject',
  'return',
  'continue',
  'jump',
  'goto',
  'queue',
  'notrack',
  'masquerade',
  'snat',
  'dnat',
  'redirect',
  'mark',
  'vmap',
  'quota',
]);

export interface NftParseOptions {
  /** Host path of the text, for evidence; absent for `nft list ruleset`. */
  readonly file?: string;
  /** Other files by host path, for `include`. */
  readonly includes?: ReadonlyMap<string, string>;
}

export interface NftParse {
  readonly rulesets: FirewallRuleset[];
  readonly errors: NftError[];
  /** Include paths that were not in `includes` (the collector reads them and parses again). */
  readonly missingIncludes: string[];
}

interface State {
  readonly tables: Map<string, TableBuild>;
  readonly defines: Map<string, Item[]>;
  readonly errors: NftError[];
  readonly missing: string[];
  readonly includes: ReadonlyMap<string, string>;
  depth: number;
}

/** Lists the include patterns of a file, so the collector can read them first. */
export function includePaths(text: string): string[] {
  const out: string[] = [];
  for (const match of text.matchAll(/^\s*include\s+"([^"]+)"/gm)) out.push(match[1]!);
  return out;
}

/** True when a path pattern with `*`/`?` in its last part matches `candidate`. */
export function globMatches(pattern: string, candidate: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('')}$`,
  );
  return re.test(candidate);
}

export function parseNft(text: string, options: NftParseOptions = {}): NftParse {
  const state: State = {
    tables: new Map(),
    defines: new Map(),
    errors: [],
    missing: [],
    includes: options.includes ?? new Map(),
    depth: 0,
  };
  parseInto(state, text, options.file);
  const rulesets: FirewallRuleset[] = [];
  for (const table of state.tables.values()) {
    const ruleset = finish(table, options.file);
    if (ruleset) rulesets.push(ruleset);
  }
  return { rulesets, errors: state.errors, missingIncludes: state.missing };
}

function parseInto(state: State, text: string, file: string | undefined): void {
  const tokens = tokenize(text);
  if (tokens.error) {
    state.errors.push({
      ...(file !== undefined ? { file } : {}),
      line: tokens.error.line,
      message: tokens.error.message,
    });
    return;
  }
  const grouped = group(tokens.items);
  if (grouped.error) {
    state.errors.push({
      ...(file !== undefined ? { file } : {}),
      line: grouped.line ?? 1,
      message: grouped.error,
    });
    return;
  }
  for (const statement of grouped.statements) topLevel(state, statement, file);
}

function error(state: State, file: string | undefined, line: number, message: string) {
  state.errors.push({ ...(file !== undefined ? { file } : {}), line, message });
}

function tableOf(state: State, family: string, name: string): TableBuild {
  const key = `${family} ${name}`;
  let table = state.tables.get(key);
  if (!table) {
    table = { family, name, chains: new Map(), sets: new Map() };
    state.tables.set(key, table);
  }
  return table;
}

function chainOf(table: TableBuild, name: string): ChainBuild {
  let chain = table.chains.get(name);
  if (!chain) {
    chain = { name, rules: [] };
    table.chains.set(name, chain);
  }
  return chain;
}

/** `[family] name` → family and name. */
function familyAndName(ws: string[], at: number): { family: string; name: string; next: number } | undefined {
  const first = ws[at];
  if (first === undefined) return undefined;
  if (FAMILIES.has(first) && ws[at + 1] !== undefined && ws[at + 1] !== '{…}') {
    return { family: first, name: ws[at + 1]!, next: at + 2 };
  }
  return { family: 'ip', name: first, next: at + 1 };
}

function topLevel(state: State, statement: Statement, file: string | undefined): void {
  const items = substitute(state, statement.items);
  const ws = words(items);
  const head = ws[0];
  const block = items.find((item): item is Block => item.kind === 'block');
  switch (head) {
    case 'flush':
      if (ws[1] === 'ruleset') state.tables.clear();
      return;
    case 'define':
    case 'redefine': {
      const name = ws[1];
      if (name === undefined || ws[2] !== '=') {
        error(state, file, statement.line, 'define needs `NAME = value`');
        return;
      }
      state.defines.set(name, items.slice(3));
      return;
    }
    case 'undefine':
      if (ws[1]) state.defines.delete(ws[1]);
      return;
    case 'include': {
      const pattern = ws[1];
      if (pattern === undefined) {
        error(state, file, statement.line, 'include needs a file');
        return;
      }
      const matches = [...state.includes.keys()]
        .filter((path) => path === pattern || globMatches(pattern, path))
        .sort();
      if (matches.length === 0) {
        if (!/[*?[]/.test(pattern)) state.missing.push(pattern);
        return;
      }
      if (state.depth >= 8) {
        error(state, file, statement.line, 'includes nested too deeply');
        return;
      }
      state.depth++;
      for (const path of matches) parseInto(state, state.includes.get(path)!, path);
      state.depth--;
      return;
    }
    case 'table': {
      const fn = familyAndName(ws, 1);
      if (!fn || !block) {
        error(state, file, statement.line, 'table needs a name and a { } block');
        return;
      }
      const table = tableOf(state, fn.family, fn.name);
      for (const inner of block.statements) tableStatement(state, table, inner, file);
      return;
    }
    case 'add':
    case 'create':
    case 'insert': {
      const what = ws[1];
      if (what === 'table') {
        const fn = familyAndName(ws, 2);
        if (fn) tableOf(state, fn.family, fn.name);
        return;
      }
      if (what === 'chain') {
        const fn = familyAndName(ws, 2);
        const chainName = fn ? ws[fn.next] : undefined;
        if (!fn || chainName === undefined) {
          error(state, file, statement.line, 'add chain needs a table and a name');
          return;
        }
        const chain = chainOf(tableOf(state, fn.family, fn.name), chainName);
        if (block) for (const inner of block.statements) chainProperty(chain, inner, file);
        return;
      }
      if (what === 'rule') {
        const fn = familyAndName(ws, 2);
        const chainName = fn ? ws[fn.next] : undefined;
        if (!fn || chainName === undefined) {
          error(state, file, statement.line, 'add rule needs a table and a chain');
          return;
        }
        const table = tableOf(state, fn.family, fn.name);
        let at = fn.next + 1;
        if (['position', 'handle', 'index'].includes(ws[at] ?? '')) at += 2;
        const rule = parseRule(table, items.slice(at), file, statement.line);
        const chain = chainOf(table, chainName);
        if (head === 'insert') chain.rules.unshift(...rule);
        else chain.rules.push(...rule);
        return;
      }
      if (what === 'set' || what === 'element') {
        const fn = familyAndName(ws, 2);
        const setName = fn ? ws[fn.next] : undefined;
        if (fn && setName && block) {
          const table = tableOf(state, fn.family, fn.name);
          const elements = what === 'element' ? setElements(block) : setBlockElements(block);
          table.sets.set(setName, [...(table.sets.get(setName) ?? []), ...elements]);
        }
        return;
      }
      return;
    }
    case 'delete':
    case 'destroy':
    case 'list':
    case 'reset':
    case 'rename':
      return;
    default: {
      error(state, file, statement.line, `unknown statement "${head ?? ''}"`);
      return;
    }
  }
}

function setBlockElements(block: Block): string[] {
  for (const statement of block.statements) {
    const ws = words(statement.items);
    if (ws[0] === 'elements') {
      const inner = statement.items.find((item): item is Block => item.kind === 'block');
      if (inner) return setElements(inner);
      return ws.slice(2).filter((w) => w !== ',');
    }
  }
  return [];
}

function tableStatement(
  state: State,
  table: TableBuild,
  statement: Statement,
  file: string | undefined,
): void {
  const items = substitute(state, statement.items);
  const ws = words(items);
  const block = items.find((item): item is Block => item.kind === 'block');
  if (ws[0] === 'chain' && ws[1] !== undefined && block) {
    const chain = chainOf(table, ws[1]);
    for (const inner of block.statements) {
      const innerItems = substitute(state, inner.items);
      const innerWords = words(innerItems);
      if (['type', 'policy', 'comment', 'devices', 'device', 'flags'].includes(innerWords[0] ?? '')) {
        chainProperty(chain, { items: innerItems, line: inner.line }, file);
      } else {
        chain.rules.push(...parseRule(table, innerItems, file, inner.line));
      }
    }
    return;
  }
  if ((ws[0] === 'set' || ws[0] === 'map') && ws[1] !== undefined && block) {
    if (ws[0] === 'set') table.sets.set(ws[1], setBlockElements(block));
    return;
  }
  if (
    [
      'flags',
      'comment',
      'counter',
      'quota',
      'limit',
      'ct',
      'flowtable',
      'secmark',
      'synproxy',
      'map',
    ].includes(ws[0] ?? '')
  )
    return;
  error(state, file, statement.line, `unknown statement in table ${table.name}: "${ws[0] ?? ''}"`);
}

function chainProperty(chain: ChainBuild, statement: Statement, file: string | undefined): void {
  const ws = words(statement.items);
  if (ws[0] === 'type') {
    const hookAt = ws.indexOf('hook');
    const hook = hookAt >= 0 ? ws[hookAt + 1] : undefined;
    chain.hook =
      hook === 'input' ? 'input' : hook === 'forward' ? 'forward' : hook === 'ingress' ? 'ingress' : 'other';
    if (ws[1] !== 'filter') chain.hook = 'other';
    const prioAt = ws.indexOf('priority');
    if (prioAt >= 0) chain.priority = priorityOf(ws.slice(prioAt + 1));
    // `type … hook … priority …; policy drop;` may share one line.
    const policyAt = ws.indexOf('policy');
    if (policyAt >= 0) setPolicy(chain, ws[policyAt + 1], statement, file);
  } else if (ws[0] === 'policy') {
    setPolicy(chain, ws[1], statement, file);
  }
}

function setPolicy(
  chain: ChainBuild,
  value: string | undefined,
  statement: Statement,
  file: string | undefined,
) {
  if (value !== 'drop' && value !== 'accept') return;
  chain.policy = value;
  chain.policyLine = statement.line;
  chain.policyText = `policy ${value}`;
  if (file !== undefined) chain.policyFile = file;
}

function priorityOf(ws: string[]): number {
  let value = 0;
  let sign = 1;
  for (const w of ws) {
    if (w === '+') sign = 1;
    else if (w === '-') sign = -1;
    else if (/^-?\d+$/.test(w)) value += sign * Number(w);
    else if (PRIORITIES[w] !== undefined) value += PRIORITIES[w];
    else break;
  }
  return value;
}

/** Replaces `$name` words with their definitions. */
function substitute(state: State, items: readonly Item[]): Item[] {
  const out: Item[] = [];
  for (const item of items) {
    if (item.kind === 'word' && item.text.startsWith('$') && state.defines.has(item.text.slice(1))) {
      out.push(...state.defines.get(item.text.slice(1))!);
    } else if (item.kind === 'block') {
      out.push({
        kind: 'block',
        line: item.line,
        statements: item.statements.map((s) => ({ line: s.line, items: substitute(state, s.items) })),
      });
    } else {
      out.push(item);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rules.

interface Value {
  readonly values: string[];
  readonly negated: boolean;
  /** `vmap { key : verdict, … }` pairs instead of a plain value. */
  readonly vmap?: { key: string; verdict: string[] }[];
}

function parseRule(table: TableBuild, items: Item[], file: string | undefined, line: number): RuleBuild[] {
  const text = render(items);
  const rule: RuleBuild = {
    verdict: 'none',
    unmodelled: [],
    text,
    line,
    ...(file !== undefined ? { file } : {}),
  };
  if (table.family === 'ip') rule.family = 4;
  if (table.family === 'ip6') rule.family = 6;
  let vmap:
    { apply: (r: RuleBuild, key: string) => void; pairs: { key: string; verdict: string[] }[] } | undefined;
  let i = 0;
  const word = (at: number) => {
    const item = items[at];
    return item?.kind === 'word' ? item.text : undefined;
  };
  /** Reads `[op] value[, value…]` or `{ … }` or `@set` or `vmap { … }`. */
  const readValue = (): Value | undefined => {
    let negated = false;
    const op = word(i);
    if (op === '!=' || op === 'ne') {
      negated = true;
      i++;
    } else if (op === '==' || op === 'eq') {
      i++;
    } else if (op === 'vmap') {
      i++;
      const block = items[i];
      if (block?.kind !== 'block') return undefined;
      i++;
      const pairs: { key: string; verdict: string[] }[] = [];
      for (const s of block.statements) {
        // Elements are separated by commas, possibly on one line: split on ','.
        let current: string[] = [];
        const flush = () => {
          const colon = current.indexOf(':');
          if (colon > 0)
            pairs.push({ key: current.slice(0, colon).join(' '), verdict: current.slice(colon + 1) });
          current = [];
        };
        for (const w of words(s.items)) {
          if (w === ',') flush();
          else current.push(w);
        }
        flush();
      }
      return { values: [], negated: false, vmap: pairs };
    }
    const values: string[] = [];
    for (;;) {
      const item = items[i];
      if (item === undefined) break;
      if (item.kind === 'block') {
        values.push(...setElements(item));
        i++;
      } else if (item.text.startsWith('@')) {
        const set = table.sets.get(item.text.slice(1));
        values.push(...(set && set.length > 0 ? set : [`set ${item.text.slice(1)}`]));
        i++;
      } else {
        values.push(item.text);
        i++;
      }
      if (word(i) === ',') {
        i++;
        continue;
      }
      break;
    }
    if (values.length === 0) return undefined;
    return { values, negated };
  };
  const fail = (what: string) => {
    rule.unmodelled.push(what);
  };
  const withValue = (label: string, apply: (r: RuleBuild, v: Negatable<string>) => void) => {
    const start = i;
    const value = readValue();
    if (!value) return fail(label);
    if (value.vmap) {
      vmap = { apply: (r, key) => apply(r, { values: [key], negated: false }), pairs: value.vmap };
      return;
    }
    apply(rule, { values: value.values, negated: value.negated });
    if (i === start) i++;
  };
  const portValue = (v: Negatable<string>): Negatable<string> => ({
    negated: v.negated,
    values: v.values.map((p) => (SERVICES[p] !== undefined ? String(SERVICES[p]) : p)),
  });

  while (i < items.length) {
    const w = word(i);
    if (w === undefined) {
      fail(render([items[i]!]));
      i++;
      continue;
    }
    i++;
    switch (w) {
      case 'iif':
      case 'iifname':
        withValue(w, (r, v) => {
          r.inInterfaces = v;
        });
        break;
      case 'oif':
      case 'oifname':
        withValue(w, (r, v) => {
          r.outInterfaces = v;
        });
        break;
      case 'meta': {
        const key = word(i);
        i++;
        if (key === 'iif' || key === 'iifname') withValue(key, to('inInterfaces'));
        else if (key === 'oif' || key === 'oifname') withValue(key, to('outInterfaces'));
        else if (key === 'l4proto') withValue(key, to('protocols', lower));
        else if (key === 'nfproto') {
          withValue(key, (r, v) => {
            if (!v.negated && v.values.length === 1) r.family = v.values[0] === 'ipv6' ? 6 : 4;
          });
        } else if (key === 'pkttype') withValue(key, to('dstTypes', lower));
        else if (word(i) === 'set') {
          i += 2;
        } else {
          const value = readValue();
          fail(`meta ${key ?? ''} ${value?.values.join(',') ?? ''}`.trim());
        }
        break;
      }
      case 'ip':
      case 'ip6': {
        const key = word(i);
        i++;
        rule.family = w === 'ip' ? 4 : 6;
        if (key === 'saddr') withValue(`${w} saddr`, to('sources'));
        else if (key === 'daddr') withValue(`${w} daddr`, to('destinations'));
        else if (key === 'protocol' || key === 'nexthdr') withValue(key, to('protocols', lower));
        else {
          const value = readValue();
          if (key !== 'version') fail(`${w} ${key ?? ''} ${value?.values.join(',') ?? ''}`.trim());
        }
        break;
      }
      case 'tcp':
      case 'udp':
      case 'th':
      case 'sctp':
      case 'dccp':
      case 'udplite': {
        const key = word(i);
        i++;
        if (w !== 'th' && !rule.protocols) rule.protocols = { values: [w], negated: false };
        if (key === 'dport') withValue(`${w} dport`, to('dports', portValue));
        else if (key === 'sport') withValue(`${w} sport`, to('sports', portValue));
        else {
          // tcp flags …, tcp option …: read up to the next keyword.
          while (i < items.length && !KEYWORDS.has(word(i) ?? '')) i++;
        }
        break;
      }
      case 'icmp':
      case 'icmpv6':
      case 'igmp':
        rule.protocols = { values: [w === 'icmpv6' ? 'ipv6-icmp' : w], negated: false };
        i++;
        readValue();
        break;
      case 'ct': {
        const key = word(i);
        i++;
        if (key === 'state') withValue('ct state', to('states', lower));
        else if (key === 'original' && word(i) === 'proto-dst') {
          i++;
          withValue('ct original proto-dst', to('origDports', portValue));
        } else if (key === 'count') {
          const over = word(i) === 'over';
          readValue();
          if (over) rule.rare = 'ct count over';
        } else if (word(i) === 'set' || (key === 'mark' && word(i) === 'set')) {
          i += 2;
        } else {
          while (i < items.length && !KEYWORDS.has(word(i) ?? '')) i++;
          fail(`ct ${key ?? ''}`);
        }
        break;
      }
      case 'fib': {
        const parts: string[] = [];
        while (i < items.length && word(i) !== 'type' && word(i) !== 'oif' && word(i) !== 'oifname')
          parts.push(word(i++) ?? '');
        const kind = word(i);
        i++;
        if (kind === 'type') {
          const start = i;
          const value = readValue();
          if (value && parts.includes('daddr'))
            rule.dstTypes = lower({ values: value.values, negated: value.negated });
          else fail(`fib ${parts.join(' ')} type`);
          if (i === start) i++;
        } else {
          const state = word(i);
          i++;
          if (state === 'missing') rule.rare = `fib ${parts.join(' ')} ${kind ?? ''} missing`;
        }
        break;
      }
      case 'limit': {
        if (word(i) === 'rate') i++;
        if (word(i) === 'over') rule.rare = 'limit rate over';
        while (i < items.length && !KEYWORDS.has(word(i) ?? '')) i++;
        break;
      }
      case 'counter':
      case 'log':
      case 'quota':
        while (i < items.length && !KEYWORDS.has(word(i) ?? '')) i++;
        break;
      case 'comment':
        i++;
        break;
      case 'accept':
      case 'drop':
      case 'return':
        rule.verdict = w;
        break;
      case 'continue':
        break;
      case 'reject':
        rule.verdict = 'reject';
        if (word(i) === 'with') while (i < items.length && !KEYWORDS.has(word(i) ?? '')) i++;
        break;
      case 'jump':
      case 'goto': {
        const target = word(i);
        i++;
        if (target !== undefined) {
          rule.verdict = w;
          rule.target = target;
        }
        break;
      }
      case 'queue':
      case 'notrack':
      case 'masquerade':
      case 'snat':
      case 'dnat':
      case 'redirect':
        i = items.length;
        break;
      case 'mark':
        if (word(i) === 'set') i += 2;
        else fail('mark');
        break;
      default:
        fail(w);
    }
  }
  if (!vmap) return [rule];
  const map = vmap;
  return map.pairs.map((pair) => {
    const copy: RuleBuild = { ...rule, unmodelled: [...rule.unmodelled] };
    map.apply(copy, pair.key);
    const [verdict, target] = pair.verdict;
    if (verdict === 'accept' || verdict === 'drop' || verdict === 'return' || verdict === 'reject')
      copy.verdict = verdict;
    else if ((verdict === 'jump' || verdict === 'goto') && target !== undefined) {
      copy.verdict = verdict;
      copy.target = target;
    }
    return copy;
  });
}

type Field =
  | 'inInterfaces'
  | 'outInterfaces'
  | 'protocols'
  | 'sources'
  | 'destinations'
  | 'dports'
  | 'sports'
  | 'origDports'
  | 'states'
  | 'dstTypes';

/** A setter for one condition of a rule, with an optional transform of the value. */
function to(field: Field, transform: (v: Negatable<string>) => Negatable<string> = (v) => v) {
  return (rule: RuleBuild, value: Negatable<string>): void => {
    rule[field] = transform(value);
  };
}

function lower(v: Negatable<string>): Negatable<string> {
  return { negated: v.negated, values: v.values.map((x) => x.toLowerCase()) };
}

function portList(v: Negatable<string> | undefined): Negatable<PortRange> | undefined | 'bad' {
  if (!v) return undefined;
  const values: PortRange[] = [];
  for (const text of v.values) {
    const range = portRange(text);
    if (!range) return 'bad';
    values.push(range);
  }
  return { values, negated: v.negated };
}

function finishRule(build: RuleBuild): FirewallRule {
  const unmodelled = [...build.unmodelled];
  const ports = (v: Negatable<string> | undefined, label: string) => {
    const parsed = portList(v);
    if (parsed === 'bad') {
      unmodelled.push(`${label} ${v?.values.join(',') ?? ''}`);
      return undefined;
    }
    return parsed;
  };
  const dports = ports(build.dports, 'dport');
  const origDports = ports(build.origDports, 'ct original proto-dst');
  const sports = ports(build.sports, 'sport');
  return {
    verdict: build.verdict,
    ...(build.target !== undefined ? { target: build.target } : {}),
    ...(build.family !== undefined ? { family: build.family } : {}),
    ...(build.protocols ? { protocols: build.protocols } : {}),
    ...(dports ? { dports } : {}),
    ...(origDports ? { origDports } : {}),
    ...(sports ? { sports } : {}),
    ...(build.sources ? { sources: build.sources } : {}),
    ...(build.destinations ? { destinations: build.destinations } : {}),
    ...(build.inInterfaces ? { inInterfaces: build.inInterfaces } : {}),
    ...(build.outInterfaces ? { outInterfaces: build.outInterfaces } : {}),
    ...(build.states ? { states: build.states } : {}),
    ...(build.dstTypes ? { dstTypes: build.dstTypes } : {}),
    ...(build.rare !== undefined ? { rare: build.rare } : {}),
    ...(unmodelled.length > 0 ? { unmodelled } : {}),
    text: build.text,
    ...(build.file !== undefined ? { file: build.file } : {}),
    line: build.line,
  };
}

function finish(table: TableBuild, file: string | undefined): FirewallRuleset | undefined {
  const family =
    table.family === 'ip'
      ? 4
      : table.family === 'ip6'
        ? 6
        : table.family === 'inet' || table.family === 'netdev'
          ? 'both'
          : undefined;
  if (family === undefined) return undefined;
  const chains: Record<string, FirewallChain> = {};
  const base: { name: string; hook: Hook; priority: number }[] = [];
  for (const chain of table.chains.values()) {
    const isBase = chain.hook !== undefined;
    chains[chain.name] = {
      name: chain.name,
      rules: chain.rules.map(finishRule),
      ...(isBase
        ? { hook: chain.hook!, priority: chain.priority ?? 0, policy: chain.policy ?? 'accept' }
        : {}),
      ...(chain.policyLine !== undefined ? { policyLine: chain.policyLine } : {}),
      ...(chain.policyFile !== undefined ? { policyFile: chain.policyFile } : {}),
      ...(chain.policyText !== undefined ? { policyText: chain.policyText } : {}),
    };
    if (isBase) base.push({ name: chain.name, hook: chain.hook!, priority: chain.priority ?? 0 });
  }
  base.sort((a, b) => a.priority - b.priority);
  return {
    source: file ?? 'nft list ruleset',
    name: `nftables table ${table.family} ${table.name}`,
    family,
    chains,
    input: base.filter((c) => c.hook === 'input' || c.hook === 'ingress').map((c) => c.name),
    forward: base.filter((c) => c.hook === 'forward' || c.hook === 'ingress').map((c) => c.name),
  };
}
